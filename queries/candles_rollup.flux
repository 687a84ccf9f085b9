// Candles of one market per window of params.every over [params.start, params.stop), in time zone params.tz,
// from the candles of params.interval ("1m" or "1h") that `pricecap setup` keeps in params.candleBucket, with
// the proof of each window: raw_trades counts the raw trades of every window (pushed-down counts per
// params.interval, summed per window), and a window's candle rows come from the candles in
// [params.from, params.to) only (whole, settled candles). Windows are calendar windows in params.tz; they must
// start and end on whole candles (the caller picks "1h" only for windows that do). The caller takes a window from the candles when
// they cover it whole (same start and stop as its raw window), they count as many trades as the raw trades do
// (the candles then saw every trade of the window, so every aggregate equals the raw one), and its open and
// close are the trade-id ones (open_id == first_id, close_id == last_id); every other window is read from raw
// trades with candles.flux. Rows: {name, start_ns, value}.
//
// To run it in the InfluxDB UI, put params below the imports, e.g.:
//   params = {bucket: "trades", candleBucket: "trades_candles", exchange: "binance", symbol: "BTCUSDT",
//             every: 1h, tz: "UTC", start: 2026-10-26T00:00:00Z, stop: 2026-11-25T00:00:00Z,
//             raw: false, interval: "1h", grain: 1h, from: 2026-10-26T00:00:00Z, to: 2026-11-25T00:00:00Z}
import "timezone"

location = timezone.location(name: params.tz)

// aggregateWindow keeps one table (InfluxDB pushes it down where it can), where window() would make a table per
// window, which costs Flux far more than the candles themselves. Each row's start_ns is its window's start (the
// range's start for a first window that it clips); a window ends where the next raw_trades row starts.
rawTrades =
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == "trade_id",
        )
        |> aggregateWindow(every: params.grain, fn: count, timeSrc: "_start", createEmpty: false)
        |> aggregateWindow(every: params.every, fn: sum, location: location, timeSrc: "_start", createEmpty: true)

// With params.raw, the same aggregates come from raw trades instead, per params.grain (pushed down), then per
// window: exact for any range (no proof needed), and far cheaper than windowing every raw point in a time zone,
// which InfluxDB cannot push down. Its flagged windows (open_id != first_id) still need candles.flux.
series = (field, fn, rawField, rawFn) =>
    (if params.raw then
        from(bucket: params.bucket)
            |> range(start: params.from, stop: params.to)
            |> filter(
                fn: (r) =>
                    r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                        and
                        r._field == rawField,
            )
            |> aggregateWindow(every: params.grain, fn: rawFn, timeSrc: "_start", createEmpty: false)
    else
        from(bucket: params.candleBucket)
            |> range(start: params.from, stop: params.to)
            |> filter(
                fn: (r) =>
                    r._measurement == "candles" and r.interval == params.interval and r.exchange == params.exchange
                        and
                        r.symbol == params.symbol and r._field == field,
            ))
        |> aggregateWindow(every: params.every, fn: fn, location: location, timeSrc: "_start", createEmpty: false)

named = (tables=<-, name) =>
    tables
        |> map(
            fn: (r) =>
                ({name: name, start_ns: int(v: r._time), value: if exists r._value then float(v: r._value) else 0.0}),
        )

union(
    tables: [
        rawTrades |> named(name: "raw_trades"),
        series(field: "open", fn: first, rawField: "price", rawFn: first) |> named(name: "open"),
        series(field: "high", fn: max, rawField: "price", rawFn: max) |> named(name: "high"),
        series(field: "low", fn: min, rawField: "price", rawFn: min) |> named(name: "low"),
        series(field: "close", fn: last, rawField: "price", rawFn: last) |> named(name: "close"),
        series(field: "volume", fn: sum, rawField: "qty", rawFn: sum) |> named(name: "volume"),
        series(field: "trades", fn: sum, rawField: "trade_id", rawFn: count) |> named(name: "trades"),
        series(field: "first_id", fn: min, rawField: "trade_id", rawFn: min) |> named(name: "first_id"),
        series(field: "last_id", fn: max, rawField: "trade_id", rawFn: max) |> named(name: "last_id"),
        series(field: "open_id", fn: first, rawField: "trade_id", rawFn: first) |> named(name: "open_id"),
        series(field: "close_id", fn: last, rawField: "trade_id", rawFn: last) |> named(name: "close_id"),
    ],
)
