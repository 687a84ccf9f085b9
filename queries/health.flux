// One gauge of the collector's health points (params.field: last_write_lag_s, pending, spool_bytes, ...) over
// [params.start, params.stop): its highest value per window of params.every, one series per instance.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", field: "last_write_lag_s", every: 1m,
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health" and r._field == params.field)
    |> aggregateWindow(every: params.every, fn: max, createEmpty: false)
