// Candles of one market per window of params.every over [params.start, params.stop), in time zone params.tz,
// from the candles of params.interval ("1m" or "1h") that `pricecap setup` keeps in params.candleBucket, with
// the proof of each window: raw_trades counts the raw trades of every window (pushed-down counts per
// params.interval, summed per window), and a window's candle rows come from the candles in
// [params.from, params.to) only (whole, settled candles). Windows are calendar windows in params.tz; they must
// start and end on whole candles (the caller picks "1h" only for windows that do). The caller takes a window from the candles when
// they cover it whole (same start and stop as its raw window), they count as many trades as the raw trades do
// (the candles then saw every trade of the window, so every aggregate equals the raw one), and its open and
// close are the trade-id ones (open_id == first_id, close_id == last_id); every other window is read from raw
// trades with candles.flux. Rows: {name, start_ns, stop_ns, time_ns, value}, as candles.flux.
//
// To run it in the InfluxDB UI, put params below the imports, e.g.:
//   params = {bucket: "trades", candleBucket: "trades_candles", exchange: "binance", symbol: "BTCUSDT",
//             every: 1h, tz: "UTC", start: 2026-10-26T00:00:00Z, stop: 2026-11-25T00:00:00Z,
//             interval: "1h", grain: 1h, from: 2026-10-26T00:00:00Z, to: 2026-11-25T00:00:00Z}
import "timezone"

location = timezone.location(name: params.tz)

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
        |> window(every: params.every, location: location, createEmpty: true)
        |> sum()
        |> map(fn: (r) => ({r with _value: if exists r._value then r._value else 0}))

series = (field) =>
    from(bucket: params.candleBucket)
        |> range(start: params.from, stop: params.to)
        |> filter(
            fn: (r) =>
                r._measurement == "candles" and r.interval == params.interval and r.exchange == params.exchange
                    and
                    r.symbol == params.symbol and r._field == field,
        )
        |> window(every: params.every, location: location)

named = (tables=<-, name) =>
    tables
        |> map(
            fn: (r) =>
                ({
                    name: name,
                    start_ns: int(v: r._start),
                    stop_ns: int(v: r._stop),
                    time_ns: if exists r._time then int(v: r._time) else 0,
                    value: float(v: r._value),
                }),
        )

union(
    tables: [
        rawTrades |> named(name: "raw_trades"),
        series(field: "open") |> first() |> named(name: "open"),
        series(field: "high") |> max() |> named(name: "high"),
        series(field: "low") |> min() |> named(name: "low"),
        series(field: "close") |> last() |> named(name: "close"),
        series(field: "volume") |> sum() |> named(name: "volume"),
        series(field: "trades") |> sum() |> named(name: "trades"),
        series(field: "first_id") |> min() |> named(name: "first_id"),
        series(field: "last_id") |> max() |> named(name: "last_id"),
        series(field: "open_id") |> first() |> named(name: "open_id"),
        series(field: "close_id") |> last() |> named(name: "close_id"),
    ],
)
