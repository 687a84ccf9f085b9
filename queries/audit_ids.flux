// The stored trade ids of one market in [params.start, params.stop): what the audit reads only for the minutes
// (or single milliseconds) whose aggregates do not prove them complete, to name the ids missing or doubled.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-11-24T10:15:00Z, stop: 2026-11-24T10:16:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(
        fn: (r) =>
            r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                and
                r._field == "trade_id",
    )
    |> keep(columns: ["_value"])
