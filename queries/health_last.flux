// The last health point of each collector instance in [params.start, params.stop): one row per instance with
// its _time and every field of that point as a float (a field the point lacks is null).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health")
    |> last()
    |> toFloat()
    |> group(columns: ["instance"])
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> sort(columns: ["_time"])
    |> last(column: "_time")
    |> drop(columns: ["_start", "_stop", "_measurement"])
    |> group()
