// The stored trade ids of each window {symbol, start, stop} of params.windows: what the audit reads only for the
// minutes (or single milliseconds) whose aggregates do not prove them complete, to name the ids missing or
// doubled. Many windows go in one request; the rows carry symbol and time, so each finds its window.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance",
//             windows: [{symbol: "BTCUSDT", start: 2026-11-24T10:15:00Z, stop: 2026-11-24T10:16:00Z}]}
import "array"

ids = (x) =>
    from(bucket: params.bucket)
        |> range(start: x.start, stop: x.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == x.symbol
                    and
                    r._field == "trade_id",
        )
        |> keep(columns: ["symbol", "_time", "_value"])

// union() wants two streams at least: an empty one goes with every request.
nothing = ids(x: {symbol: "", start: 1970-01-01T00:00:00Z, stop: 1970-01-01T00:00:00.000000001Z})

// A function given to array.map must not end in filter() (Flux then fails: name r does not exist in scope), nor
// hold a map(): keep() ends it, and the rows are shaped after the union.
union(tables: array.concat(arr: array.map(arr: params.windows, fn: ids), v: [nothing]))
    |> map(fn: (r) => ({symbol: r.symbol, time_ns: int(v: r._time), trade_id: r._value}))
