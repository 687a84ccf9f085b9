// Per shard (tag shard, "K/N"; "0/1" for points written before collectors had shards) that wrote health points
// in [params.start, params.stop): how many of its copies (instances) are up at params.stop, their last point at
// most params.fresh old (3 health intervals) and saying healthy = 1. One series per shard, one point at
// params.stop: 0 is a shard with no copy up. Grafana's alert rules read it (grafana/alerts.py).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", fresh: 30s, start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
import "date"

freshSince = date.sub(d: params.fresh, from: params.stop)

from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health" and r._field == "healthy")
    |> last()
    |> map(
        fn: (r) =>
            ({
                shard: if exists r.shard then r.shard else "0/1",
                _time: params.stop,
                _value: if r._time >= freshSince and r._value == 1 then 1.0 else 0.0,
            }),
    )
    |> group(columns: ["shard"])
    |> sum()
    |> map(fn: (r) => ({r with _time: params.stop}))
