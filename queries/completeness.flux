// The completeness panel: per market and UTC day of [params.start, params.stop), the trade ids missing that the
// collectors' hourly audit found (measurement completeness, field missing; exchange gaps do not count), one
// column per day. A market whose hours were all complete shows 0.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", start: 2026-11-18T00:00:00Z, stop: 2026-11-25T00:00:00Z}
import "strings"

from(bucket: params.bucket)
    |> range(start: params.start, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "completeness" and r.exchange == params.exchange and r._field == "missing")
    |> aggregateWindow(every: 1d, fn: sum, timeSrc: "_start", createEmpty: false)
    |> map(fn: (r) => ({symbol: r.symbol, day: strings.substring(v: string(v: r._time), start: 0, end: 10), missing: r._value}))
    |> group()
    |> pivot(rowKey: ["symbol"], columnKey: ["day"], valueColumn: "missing")
    |> sort(columns: ["symbol"])
