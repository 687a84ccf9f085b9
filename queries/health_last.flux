// The collector instances and their shards at the end of the selected range (params.stop), from the health
// points since params.start or params.lookback before the end, whichever is earlier (so an instance that stopped
// writing before the range is still listed).
// Without params.shards: one row per instance, with its shard (tag shard, "K/N"; "0/1" for points written
// before collectors had shards), last_seen (the time of its last point), age_s (how long before the end),
// state and every field of its last point as a float (a field the point lacks is null). state is "up" when the
// last point is at most 3 health intervals old (params.interval, the collectors' --health-interval) and says
// healthy = 1, "unhealthy" when it is that recent and says healthy = 0, and "stale" when it is older.
// With params.shards: one row per shard, with copies (its instances), up (how many of them are up), instances
// (their names) and state: "down" when no copy is up (every copy is stale or unhealthy), "degraded" when some
// are, "ok" when all are.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z, lookback: 24h,
//             interval: 10s, shards: false}
import "date"

stopNs = int(v: params.stop)
since = date.sub(d: params.lookback, from: params.stop)
staleAfterNs = 3 * int(v: params.interval)

instances =
    from(bucket: params.bucket)
        |> range(start: if int(v: params.start) < int(v: since) then params.start else since, stop: params.stop)
        |> filter(fn: (r) => r._measurement == "collector_health")
        |> last()
        |> toFloat()
        |> map(fn: (r) => ({r with shard: if exists r.shard then r.shard else "0/1"}))
        |> group(columns: ["instance"])
        |> pivot(rowKey: ["_time", "shard"], columnKey: ["_field"], valueColumn: "_value")
        |> sort(columns: ["_time"])
        |> last(column: "_time")
        |> drop(columns: ["_start", "_stop", "_measurement"])
        |> rename(columns: {_time: "last_seen"})
        |> map(
            fn: (r) => {
                ageNs = stopNs - int(v: r.last_seen)

                return {r with age_s: float(v: ageNs) / 1000000000.0,
                    state:
                        if ageNs > staleAfterNs then
                            "stale"
                        else if exists r.healthy and r.healthy == 1.0 then
                            "up"
                        else
                            "unhealthy",
                }
            },
        )
        |> group()
        |> sort(columns: ["shard", "instance"])

shards =
    instances
        |> group(columns: ["shard"])
        |> reduce(
            identity: {copies: 0, up: 0, instances: ""},
            fn: (r, accumulator) =>
                ({
                    copies: accumulator.copies + 1,
                    up: accumulator.up + (if r.state == "up" then 1 else 0),
                    instances: if accumulator.instances == "" then r.instance else accumulator.instances + ", " + r.instance,
                }),
        )
        |> map(
            fn: (r) =>
                ({r with state: if r.up == 0 then "down" else if r.up < r.copies then "degraded" else "ok"}),
        )
        |> group()
        |> sort(columns: ["shard"])

if params.shards then shards else instances
