// Open, high, low, close, volume and trade count of one market over [params.start, params.stop), with the
// time and trade id of the high and of the low (the first trade at that price, in _time order).
// Every branch is a plain range |> filter |> aggregate that InfluxDB pushes down into its storage engine.
// open_id/close_id (the trade ids at the first and last _time) against first_id/last_id (the lowest and highest
// trade ids) tell the caller when the open or close needs the trade_id rule of the README.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
series = (field) =>
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == field,
        )

// Selectors keep the _time of the row they select; the others get the range start.
named = (tables=<-, name) =>
    tables
        |> map(fn: (r) => ({name: name, time_ns: int(v: if exists r._time then r._time else r._start), value: float(v: r._value)}))

union(
    tables: [
        series(field: "price") |> first() |> named(name: "open"),
        series(field: "price") |> max() |> named(name: "high"),
        series(field: "price") |> min() |> named(name: "low"),
        series(field: "price") |> last() |> named(name: "close"),
        series(field: "qty") |> sum() |> named(name: "volume"),
        series(field: "trade_id") |> count() |> named(name: "trades"),
        series(field: "trade_id") |> min() |> named(name: "first_id"),
        series(field: "trade_id") |> max() |> named(name: "last_id"),
        series(field: "trade_id") |> first() |> named(name: "open_id"),
        series(field: "trade_id") |> last() |> named(name: "close_id"),
    ],
)
