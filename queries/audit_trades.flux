// Every stored trade of one market in [params.start, params.stop), all fields: what `pricecap audit
// --against-archive` compares with Binance's archive rows, an hour at a time.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-11-24T10:00:00Z, stop: 2026-11-24T11:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol)
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> map(
        fn: (r) =>
            ({
                time_ns: int(v: r._time),
                trade_id: r.trade_id,
                price: r.price,
                qty: r.qty,
                buyer_maker: r.buyer_maker,
            }),
    )
