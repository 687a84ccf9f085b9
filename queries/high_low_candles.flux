// Open, high, low, close, volume and trade count of one market over whole 1-minute candles in
// [params.start, params.stop), from the candles bucket (params.candleBucket) that `pricecap setup` fills; the
// time of the high and of the low is the start of the first candle at that price. first_id, last_id and trades,
// against raw_first_id and raw_last_id (the trade ids at the first and last point of the raw trades, cheap
// selectors), let the caller prove that the candles hold every trade of the range (else it uses raw trades);
// open_id and close_id (see candles_task.flux) tell it when the open or close must come from raw trades.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", candleBucket: "trades_candles", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-10-01T00:00:00Z, stop: 2026-11-01T00:00:00Z}
series = (field) =>
    from(bucket: params.candleBucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "candles" and r.interval == "1m" and r.exchange == params.exchange
                    and
                    r.symbol == params.symbol and r._field == field,
        )

rawIds = () =>
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == "trade_id",
        )

named = (tables=<-, name) =>
    tables
        |> map(fn: (r) => ({name: name, time_ns: int(v: if exists r._time then r._time else r._start), value: float(v: r._value)}))

union(
    tables: [
        series(field: "open") |> first() |> named(name: "open"),
        series(field: "high") |> max() |> named(name: "high"),
        series(field: "low") |> min() |> named(name: "low"),
        series(field: "close") |> last() |> named(name: "close"),
        series(field: "volume") |> sum() |> named(name: "volume"),
        series(field: "trades") |> sum() |> named(name: "trades"),
        series(field: "first_id") |> min() |> named(name: "first_id"),
        series(field: "last_id") |> max() |> named(name: "last_id"),
        series(field: "open_id") |> first() |> named(name: "open_id"),
        series(field: "close_id") |> last() |> named(name: "close_id"),
        rawIds() |> first() |> named(name: "raw_first_id"),
        rawIds() |> last() |> named(name: "raw_last_id"),
    ],
)
