// Trade ids the completeness audit found missing (exchange gaps excluded), per exchange and symbol, in the
// closed hours it audited that start in [params.start, params.stop) (measurement completeness, field
// missing; one point per symbol and hour, at the hour's start). Grafana's alert rules read its last point
// (grafana/alerts.py).
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "completeness" and r._field == "missing")
    |> toFloat()
