// Each market's newest completeness point of the last 7 days (the collectors' hourly audit): the hour it
// audited, ids missing and exchange gaps. `pricecap status` sums the markets of the newest hour.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance"}
from(bucket: params.bucket)
    |> range(start: -7d)
    |> filter(
        fn: (r) =>
            r._measurement == "completeness" and r.exchange == params.exchange
                and
                (r._field == "missing" or r._field == "exchange_gap"),
    )
    |> last()
    |> map(fn: (r) => ({symbol: r.symbol, name: r._field, value: r._value, hour_ns: int(v: r._time)}))
