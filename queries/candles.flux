// Open, high, low, close, volume and trade count of one market per window of params.every over
// [params.start, params.stop), windows aligned to the calendar in time zone params.tz (so 1d windows start at
// local midnight and 1mo windows on the 1st). Every window appears in the trades row, with a count of 0 when
// empty; the other rows exist only for windows that hold trades.
// open_id/close_id (the trade ids at the first and last _time of a window) against first_id/last_id (its lowest
// and highest trade ids) tell the caller when an open or close needs the trade_id rule of the README.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT", every: 1h, tz: "UTC",
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
import "timezone"

series = (field, createEmpty=false) =>
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == field,
        )
        |> window(every: params.every, location: timezone.location(name: params.tz), createEmpty: createEmpty)

// Selectors keep the _time of the row they select; aggregates have none.
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
        series(field: "price") |> first() |> named(name: "open"),
        series(field: "price") |> max() |> named(name: "high"),
        series(field: "price") |> min() |> named(name: "low"),
        series(field: "price") |> last() |> named(name: "close"),
        series(field: "qty") |> sum() |> named(name: "volume"),
        series(field: "trade_id", createEmpty: true) |> count() |> named(name: "trades"),
        series(field: "trade_id") |> min() |> named(name: "first_id"),
        series(field: "trade_id") |> max() |> named(name: "last_id"),
        series(field: "trade_id") |> first() |> named(name: "open_id"),
        series(field: "trade_id") |> last() |> named(name: "close_id"),
    ],
)
