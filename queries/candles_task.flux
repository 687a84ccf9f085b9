// The body of pricecap's roll-up tasks: OHLCV candles of every market into the candles bucket.
// `pricecap setup` puts the task options and these constants above it (so each task is self-contained):
//   rawBucket, candleBucket (names), every (the candle length), name ("1m", "1h"),
//   source ("trades" for 1m candles from raw trades, or the name of the finer candles, "1m")
//   and rangeStart, rangeStop: for a task, the last `lookback` of complete candles before now (each run
//   recomputes them, so that late trades, e.g. repairs, are included); for a rebuild, the range asked for.
// A candle's open and close are those of its lowest and highest trade id (the README's timestamp rule), and
// it carries first_id, last_id and trades, so a query can prove that candles cover every trade id.
import "date"

// Every trade as a one-trade candle.
fromTrades = (start, stop) =>
    from(bucket: rawBucket)
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == "trades")
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> map(
            fn: (r) =>
                ({
                    _time: r._time,
                    exchange: r.exchange,
                    symbol: r.symbol,
                    open: r.price,
                    high: r.price,
                    low: r.price,
                    close: r.price,
                    volume: r.qty,
                    trades: 1,
                    first_id: r.trade_id,
                    last_id: r.trade_id,
                }),
        )

fromCandles = (start, stop) =>
    from(bucket: candleBucket)
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == "candles" and r.interval == source)
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> map(
            fn: (r) =>
                ({
                    _time: r._time,
                    exchange: r.exchange,
                    symbol: r.symbol,
                    open: r.open,
                    high: r.high,
                    low: r.low,
                    close: r.close,
                    volume: r.volume,
                    trades: r.trades,
                    first_id: r.first_id,
                    last_id: r.last_id,
                }),
        )

// Candles of `every` from finer candles, written to the candles bucket.
rollUp = (tables=<-) =>
    tables
        |> window(every: every)
        |> reduce(
            identity: {open: 0.0, close: 0.0, high: 0.0, low: 0.0, volume: 0.0, trades: 0, first_id: -1, last_id: -1},
            fn: (r, accumulator) => {
                empty = accumulator.trades == 0
                earlier = empty or r.first_id < accumulator.first_id
                later = r.last_id > accumulator.last_id

                return {
                    open: if earlier then r.open else accumulator.open,
                    first_id: if earlier then r.first_id else accumulator.first_id,
                    close: if later then r.close else accumulator.close,
                    last_id: if later then r.last_id else accumulator.last_id,
                    high: if empty or r.high > accumulator.high then r.high else accumulator.high,
                    low: if empty or r.low < accumulator.low then r.low else accumulator.low,
                    volume: accumulator.volume + r.volume,
                    trades: accumulator.trades + r.trades,
                }
            },
        )
        |> map(fn: (r) => ({r with _time: r._start, _measurement: "candles", interval: name}))
        |> to(
            bucket: candleBucket,
            tagColumns: ["exchange", "symbol", "interval"],
            fieldFn: (r) =>
                ({
                    open: r.open,
                    high: r.high,
                    low: r.low,
                    close: r.close,
                    volume: r.volume,
                    trades: r.trades,
                    first_id: r.first_id,
                    last_id: r.last_id,
                }),
        )

input =
    if source == "trades" then
        fromTrades(start: rangeStart, stop: rangeStop)
    else
        fromCandles(start: rangeStart, stop: rangeStop)

input |> rollUp()
