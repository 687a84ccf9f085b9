// Candles of one market for charts (Grafana's candlestick, price, volume and trade-rate panels): one row per
// window of params.every over [params.start, params.stop) that holds trades, with _time (the window start),
// open, high, low, close, volume, trades and trades_per_s (trades over the window's length, which the range
// clips at either end).
// Windows are aligned to the epoch in UTC; candles.flux makes calendar windows in a time zone. Open and close
// are by _time here, which differs from the trade_id rule (see the README) only where the ids cross a multiple
// of 1,000,000 within one millisecond: right for a chart, while candles.flux corrects for it.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT", every: 1m,
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
series = (field) =>
    from(bucket: params.bucket)
        |> range(start: params.start, stop: params.stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == field,
        )
        |> window(every: params.every)

// One value per window, keyed by the window's start and its length in seconds.
named = (tables=<-, name) =>
    tables
        |> map(
            fn: (r) =>
                ({
                    _time: r._start,
                    seconds: float(v: int(v: r._stop) - int(v: r._start)) / 1000000000.0,
                    name: name,
                    value: float(v: r._value),
                }),
        )

union(
    tables: [
        series(field: "price") |> first() |> named(name: "open"),
        series(field: "price") |> max() |> named(name: "high"),
        series(field: "price") |> min() |> named(name: "low"),
        series(field: "price") |> last() |> named(name: "close"),
        series(field: "qty") |> sum() |> named(name: "volume"),
        series(field: "trade_id") |> count() |> named(name: "trades"),
    ],
)
    |> group()
    |> pivot(rowKey: ["_time", "seconds"], columnKey: ["name"], valueColumn: "value")
    |> map(
        fn: (r) =>
            ({
                _time: r._time,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
                trades: int(v: r.trades),
                trades_per_s: r.trades / r.seconds,
            }),
    )
    |> sort(columns: ["_time"])
