// The high and the low of one market over [params.start, params.stop) with the time each first traded (in _time
// order), as one table of two rows (name "high" or "low", price, time) for a table panel. high_low.flux answers
// the same with open, close, volume and trade ids for pricecap high-low.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
prices =
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == "price",
        )

named = (tables=<-, name) => tables |> map(fn: (r) => ({name: name, price: r._value, time: r._time}))

union(tables: [prices |> max() |> named(name: "high"), prices |> min() |> named(name: "low")])
    |> group()
    |> sort(columns: ["name"])
