// One gauge of the collector's health points as a share of another of the same point (params.field divided
// by params.of: spool_bytes of spool_max_bytes, oldest_gap_age_s of gap_alarm_s), over
// [params.start, params.stop), one series per instance; 0 where params.of is 0 (no spool).
// Grafana's alert rules read its last point (grafana/alerts.py).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", field: "spool_bytes", of: "spool_max_bytes",
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "collector_health" and (r._field == params.field or r._field == params.of))
    |> map(fn: (r) => ({r with _field: if r._field == params.field then "part" else "whole", _value: float(v: r._value)}))
    |> group(columns: ["_measurement", "instance", "shard"])
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> filter(fn: (r) => exists r.part and exists r.whole)
    |> map(fn: (r) => ({r with _value: if r.whole > 0.0 then r.part / r.whole else 0.0}))
    |> keep(columns: ["_time", "_value", "_measurement", "instance", "shard"])
