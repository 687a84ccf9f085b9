// How fast one counter of the collector's health points grows (params.field: written, reconnects, malformed,
// gaps, ids_repaired, ...) over [params.start, params.stop): per params.unit (1s, 1m), averaged per window of
// params.every, one series per instance. A counter that restarts from zero (a new collector process) counts from
// zero again rather than as a fall.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", field: "written", unit: 1s, every: 1m,
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health" and r._field == params.field)
    |> derivative(unit: params.unit, nonNegative: true)
    |> aggregateWindow(every: params.every, fn: mean, createEmpty: false)
