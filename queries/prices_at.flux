// The price in force at each of several instants: per instant, the last trade of a market at or before it,
// and (when params.nearest) the first trade after it; all instants in one round trip (price_at.flux is the
// faster path for a single instant).
//
// params.instants is an array of {symbol, stop}: stop is the instant's millisecond + 1ms (range stops are
// exclusive, and a trade at exactly the instant counts). params.lookback limits how far either side to look.
// Within a millisecond the trade_id decides which trade is last (or first): _time order can differ from trade
// order there (see the README on timestamps).
// To run it in the InfluxDB UI, define params first, e.g.:
//   params = {bucket: "trades", exchange: "binance", lookback: 30d, nearest: false,
//             instants: [{symbol: "BTCUSDT", stop: 2026-11-25T10:00:00.001Z}]}
import "array"
import "date"

trades = (symbol, start, stop) =>
    from(bucket: params.bucket)
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r.symbol == symbol)

missing = {found: false, time_ns: 0, trade_id: 0, price: 0.0, qty: 0.0, buyer_maker: false}

// Of the trades in one millisecond, the one that pick (max or min) selects by trade_id.
tradeIn = (symbol, ms, pick) =>
    trades(symbol: symbol, start: ms, stop: date.add(d: 1ms, to: ms))
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> pick(column: "trade_id")
        |> map(
            fn: (r) =>
                ({
                    found: true,
                    time_ns: int(v: r._time),
                    trade_id: r.trade_id,
                    price: r.price,
                    qty: r.qty,
                    buyer_maker: r.buyer_maker,
                }),
        )
        |> findRecord(fn: (key) => true, idx: 0)

// The trade at one end (edge: last or first) of [start, stop).
edgeTrade = (symbol, start, stop, edge, pick) => {
    times =
        trades(symbol: symbol, start: start, stop: stop)
            |> filter(fn: (r) => r._field == "trade_id")
            |> edge()
            |> findColumn(fn: (key) => true, column: "_time")

    return
        if length(arr: times) > 0 then
            tradeIn(symbol: symbol, ms: date.truncate(t: times[0], unit: 1ms), pick: pick)
        else
            missing
}

answer = (x) => {
    before =
        edgeTrade(
            symbol: x.symbol,
            start: date.sub(d: params.lookback, from: x.stop),
            stop: x.stop,
            edge: last,
            pick: max,
        )
    after =
        if params.nearest then
            edgeTrade(
                symbol: x.symbol,
                start: x.stop,
                stop: date.add(d: params.lookback, to: x.stop),
                edge: first,
                pick: min,
            )
        else
            missing

    return {
        symbol: x.symbol,
        before_found: before.found,
        before_time_ns: before.time_ns,
        before_trade_id: before.trade_id,
        before_price: before.price,
        before_qty: before.qty,
        before_buyer_maker: before.buyer_maker,
        after_found: after.found,
        after_time_ns: after.time_ns,
        after_trade_id: after.trade_id,
        after_price: after.price,
        after_qty: after.qty,
        after_buyer_maker: after.buyer_maker,
    }
}

array.from(rows: array.map(arr: params.instants, fn: answer))
