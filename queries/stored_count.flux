// How many trades of one market InfluxDB holds in [params.start, params.stop): what an import or a backfill
// reports after writing, read back. One pushed-down count of the trade_id field (no rows when there is none).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT",
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(
        fn: (r) =>
            r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                and
                r._field == "trade_id",
    )
    |> count()
    |> group()
    |> sum()
