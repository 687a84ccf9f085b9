// The symbols stored for one exchange, read from InfluxDB's index (cheap whatever the amount of data).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance"}
import "influxdata/influxdb/schema"

schema.tagValues(
    bucket: params.bucket,
    tag: "symbol",
    predicate: (r) => r._measurement == "trades" and r.exchange == params.exchange,
    start: 0,
)
