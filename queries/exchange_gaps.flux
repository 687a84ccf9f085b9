// The ranges of trade ids Binance itself does not have (measurement exchange_gaps: what collectors gave up on
// and what `pricecap audit --repair` found REST past), per market. params.symbol "" lists every market's.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", symbol: ""}
from(bucket: params.bucket)
    |> range(start: 0)
    |> filter(
        fn: (r) =>
            r._measurement == "exchange_gaps" and r.exchange == params.exchange
                and
                (params.symbol == "" or r.symbol == params.symbol),
    )
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> map(fn: (r) => ({symbol: r.symbol, first_id: r.first_id, last_id: r.last_id, time_ns: int(v: r._time)}))
