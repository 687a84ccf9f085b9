// The trade at one end of each of many ranges: per range {symbol, start, stop} of params.ranges, the last point of
// that market in [start, stop) (or the first, when params.first), with every field. Each range is one
// range |> filter |> last() (or first()) that InfluxDB pushes down into its storage engine, so the cost grows
// with the ranges, not with the trades in them. queries.api.Prices.prices_at sends it where InfluxQL cannot
// reach the bucket (queries/influxql.py asks the same, in about half the CPU), a few dozen ranges per
// request, several requests at once, and checks each answer against the trade_id rule of the README (a point
// whose trade_id ends in 999999, or for first() in 000000, may hide a later or earlier trade of its millisecond).
// The rows carry start_ns and stop_ns, so each answer finds its range.
//
// To run it in the InfluxDB UI, put params below the imports, e.g.:
//   params = {bucket: "trades", exchange: "binance", first: false,
//             ranges: [{symbol: "BTCUSDT", start: 2026-11-24T10:00:00.001Z, stop: 2026-11-25T10:00:00.001Z}]}
import "array"

pick = if params.first then first else last

edge = (x) =>
    from(bucket: params.bucket)
        |> range(start: x.start, stop: x.stop)
        |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r.symbol == x.symbol)
        |> pick()

// union() wants two streams at least: an empty one goes with every request.
nothing = edge(x: {symbol: "", start: 1970-01-01T00:00:00Z, stop: 1970-01-01T00:00:00.000000001Z})

union(tables: array.concat(arr: array.map(arr: params.ranges, fn: edge), v: [nothing]))
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> map(
        fn: (r) =>
            ({
                symbol: r.symbol,
                start_ns: int(v: r._start),
                stop_ns: int(v: r._stop),
                time_ns: int(v: r._time),
                trade_id: r.trade_id,
                price: r.price,
                qty: r.qty,
                buyer_maker: r.buyer_maker,
            }),
    )
