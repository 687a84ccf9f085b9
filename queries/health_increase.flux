// How much one counter of the collector's health points (params.field: ids_unrepairable, task_restarts,
// rest_banned, rest_rate_limited, ...) grew over [params.start, params.stop), one series per instance: each
// point is the growth from the first point of the range to it, so the last point is the whole range's. A
// counter that restarts from zero (a new collector process) counts from zero again rather than as a fall.
// Grafana's alert rules read its last point (grafana/alerts.py).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", field: "task_restarts", start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health" and r._field == params.field)
    |> toFloat()
    |> increase()
