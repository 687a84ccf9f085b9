// The prices of one market's points at exact point times (params.times, an array of times that hold points):
// one-nanosecond ranges, used to fetch the trade that opens or closes a range by the trade_id rule.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT", times: [2026-11-25T10:00:00.000837123Z]}
import "array"
import "date"

trade = (t) =>
    from(bucket: params.bucket)
        |> range(start: t, stop: date.add(d: 1ns, to: t))
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == "price",
        )
        |> map(fn: (r) => ({time_ns: int(v: r._time), price: r._value}))
        |> findRecord(fn: (key) => true, idx: 0)

array.from(rows: array.map(arr: params.times, fn: (x) => trade(t: x)))
