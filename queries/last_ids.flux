// The trade id of each market's last stored point (by _time), and its time: where a restarted collector
// resumes. Within the last millisecond this can be a lower id than the highest one (see the README on
// timestamps), which only makes the collector fetch a few trades again: safe, never a skip.
// Only points before params.stop count: a collector that started live while InfluxDB did not answer asks
// for the last point before its own first trade.
// To run it in the InfluxDB UI, define params first, e.g.:
// params = {bucket: "trades", exchange: "binance", stop: now()}
from(bucket: params.bucket)
    |> range(start: 0, stop: params.stop)
    |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r._field == "trade_id")
    |> last()
    |> map(fn: (r) => ({symbol: r.symbol, trade_id: r._value, time_ns: int(v: r._time)}))
