// The narrowing of `pricecap audit`: for each window {symbol, start, stop} of params.windows (windows whose
// aggregates did not prove them complete), the count, lowest, highest and sum of its trade ids per finer
// window of params.every, each pushed down as in audit.flux (window() and the aggregate; a function given
// to array.map must not hold a map(): the rows are shaped after the union). Many windows go in one request.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", every: 1m,
//             windows: [{symbol: "BTCUSDT", start: 2026-11-24T10:00:00Z, stop: 2026-11-24T11:00:00Z}]}
import "array"

per = (x, aggregate, name) =>
    from(bucket: params.bucket)
        |> range(start: x.start, stop: x.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == x.symbol
                    and
                    r._field == "trade_id",
        )
        |> window(every: params.every)
        |> aggregate()
        |> set(key: "name", value: name)

counts = array.map(arr: params.windows, fn: (x) => per(x: x, aggregate: count, name: "count"))
firsts = array.map(arr: params.windows, fn: (x) => per(x: x, aggregate: min, name: "first"))
lasts = array.map(arr: params.windows, fn: (x) => per(x: x, aggregate: max, name: "last"))
sums = array.map(arr: params.windows, fn: (x) => per(x: x, aggregate: sum, name: "sum"))

union(tables: array.concat(arr: array.concat(arr: counts, v: firsts), v: array.concat(arr: lasts, v: sums)))
    |> map(fn: (r) => ({symbol: r.symbol, start_ns: int(v: r._start), name: r.name, value: r._value}))
