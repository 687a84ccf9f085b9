// Every market of one exchange in the bucket: its trade count and the times of its first and last trades.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance"}
series = (field) =>
    from(bucket: params.bucket)
        |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r._field == field)

named = (tables=<-, name) =>
    tables
        |> map(fn: (r) => ({symbol: r.symbol, name: name, value: if exists r._time then int(v: r._time) else int(v: r._value)}))
        |> group()

union(
    tables: [
        series(field: "trade_id") |> count() |> named(name: "trades"),
        series(field: "trade_id") |> first() |> named(name: "first_ns"),
        series(field: "trade_id") |> last() |> named(name: "last_ns"),
    ],
)
