// The body of pricecap's roll-up tasks: OHLCV candles of every market into the candles bucket.
// `pricecap setup` puts the task options and these constants above it (so each task is self-contained):
//   rawBucket, candleBucket (names), every (the candle length), name ("1m", "1h"),
//   source ("trades" for 1m candles from raw trades, or the name of the finer candles, "1m"),
//   and rangeStart, rangeStop: for a task, the last `lookback` of complete candles before now (each run
//   recomputes them, so that late trades, e.g. repairs, are included); for a rebuild, the range asked for.
// Each field is one aggregate per window that InfluxDB pushes down into its storage engine. A candle carries
// first_id and last_id (its lowest and highest trade ids) and trades, so a query can prove that candles cover
// every trade id; open_id and close_id are the ids of the trades at its first and last _time: where they differ
// from first_id and last_id (ids crossing a multiple of 1,000,000 inside that millisecond), the open or close is
// not the trade-id one, and a query reads it from raw trades instead.
import "date"

// One field of the source, rolled up per window with fn and written as field `target`.
rollUp = (field, fn, target) =>
    (if source == "trades" then
        from(bucket: rawBucket)
            |> range(start: rangeStart, stop: rangeStop)
            |> filter(fn: (r) => r._measurement == "trades" and r._field == field)
    else
        from(bucket: candleBucket)
            |> range(start: rangeStart, stop: rangeStop)
            |> filter(fn: (r) => r._measurement == "candles" and r.interval == source and r._field == field))
        |> aggregateWindow(every: every, fn: fn, timeSrc: "_start", createEmpty: false)
        |> map(fn: (r) => ({r with _measurement: "candles", _field: target, interval: name}))
        |> to(bucket: candleBucket, tagColumns: ["exchange", "symbol", "interval"])

// (source field of trades, of candles, the aggregate, the candle field)
fromTrades = source == "trades"

rollUp(field: if fromTrades then "price" else "open", fn: first, target: "open")
rollUp(field: if fromTrades then "price" else "high", fn: max, target: "high")
rollUp(field: if fromTrades then "price" else "low", fn: min, target: "low")
rollUp(field: if fromTrades then "price" else "close", fn: last, target: "close")
rollUp(field: if fromTrades then "qty" else "volume", fn: sum, target: "volume")
rollUp(field: if fromTrades then "trade_id" else "trades", fn: if fromTrades then count else sum, target: "trades")
rollUp(field: if fromTrades then "trade_id" else "first_id", fn: min, target: "first_id")
rollUp(field: if fromTrades then "trade_id" else "last_id", fn: max, target: "last_id")
rollUp(field: if fromTrades then "trade_id" else "open_id", fn: first, target: "open_id")
rollUp(field: if fromTrades then "trade_id" else "close_id", fn: last, target: "close_id")
