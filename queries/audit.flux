// The completeness check of `pricecap audit`: per market and window of params.every in [params.start, params.stop),
// the count, lowest, highest and sum of the stored trade ids. Binance's trade ids are consecutive per market, so
// a window whose count is last - first + 1 and whose sum is (first + last) * count / 2 holds each id from its first
// to its last exactly once (a doubled id hides a missing one only if they sum the same). Each aggregate is one
// window aggregate that InfluxDB pushes down into its storage engine: no trade id leaves the server.
// params.symbol "" checks every market of the exchange at once.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", symbol: "", every: 1h,
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
// and add to the end: |> pivot(rowKey: ["symbol", "start_ns"], columnKey: ["name"], valueColumn: "value")
//   |> filter(fn: (r) => r.count != r.last - r.first + 1 or r.sum != (r.first + r.last) * r.count / 2)
// which leaves the windows that are not complete (ids missing or doubled inside them; the ids between two
// windows are missing when a window's first is not the last of the one before + 1).
// A function, not a variable: each aggregate needs a source of its own to be pushed down (four aggregates of one
// shared source would read every trade id through the Flux engine, 40 times slower).
ids = () =>
    if params.symbol == "" then
        from(bucket: params.bucket)
            |> range(start: params.start, stop: params.stop)
            |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r._field == "trade_id")
    else
        from(bucket: params.bucket)
            |> range(start: params.start, stop: params.stop)
            |> filter(
                fn: (r) =>
                    r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                        and
                        r._field == "trade_id",
            )

per = (fn, name) =>
    ids()
        |> aggregateWindow(every: params.every, fn: fn, timeSrc: "_start", createEmpty: false)
        |> map(fn: (r) => ({symbol: r.symbol, start_ns: int(v: r._time), name: name, value: r._value}))

union(
    tables: [
        per(fn: count, name: "count"),
        per(fn: min, name: "first"),
        per(fn: max, name: "last"),
        per(fn: sum, name: "sum"),
    ],
)
