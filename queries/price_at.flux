// The price in force at one instant: the last trade of a market at or before it, and (when params.nearest)
// the first trade after it. prices_at.flux answers many instants in one round trip; this is the fast path for one.
//
// params.stop is the instant's millisecond + 1ms (range stops are exclusive, and a trade at exactly the
// instant counts); params.lookback limits how far either side to look. Within a millisecond the trade_id
// decides which trade is last (or first): _time order can differ from trade order there (see the README).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT", lookback: 30d, nearest: false,
//             stop: 2026-11-25T10:00:00.001Z}
import "date"

trades = (start, stop) =>
    from(bucket: params.bucket)
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol)

// The trades in the millisecond of the trade at one end (edge: last or first) of [start, stop), as rows.
edgeMillisecond = (start, stop, edge) => {
    times =
        trades(start: start, stop: stop)
            |> filter(fn: (r) => r._field == "trade_id")
            |> edge()
            |> findColumn(fn: (key) => true, column: "_time")
    ms = if length(arr: times) > 0 then date.truncate(t: times[0], unit: 1ms) else start

    return
        trades(start: ms, stop: if length(arr: times) > 0 then date.add(d: 1ms, to: ms) else stop)
            |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
            |> map(fn: (r) => ({r with time_ns: int(v: r._time)}))
            |> keep(columns: ["time_ns", "trade_id", "price", "qty", "buyer_maker"])
}

before =
    edgeMillisecond(start: date.sub(d: params.lookback, from: params.stop), stop: params.stop, edge: last)
        |> max(column: "trade_id")
        |> set(key: "side", value: "before")
after = () =>
    edgeMillisecond(start: params.stop, stop: date.add(d: params.lookback, to: params.stop), edge: first)
        |> min(column: "trade_id")
        |> set(key: "side", value: "after")

if params.nearest then union(tables: [before, after()]) else before
