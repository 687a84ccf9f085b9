// The trades next to an audited range [params.start, params.stop), per market: the last point before it (from
// params.earliest on) and the first point from its stop on (a params.stop of 2262 asks for none) (pushed-down last() and first()), with their trade ids and times. The audit
// checks that the range's first id follows the one before, and that its last id is followed by the one after.
// params.symbol "" asks every market of the exchange at once.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first), e.g.
//   params = {bucket: "trades", exchange: "binance", symbol: "BTCUSDT", earliest: 1970-01-01T00:00:00Z,
//             start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z, latest: 2262-01-01T00:00:00Z}
ids = (start, stop) =>
    if params.symbol == "" then
        from(bucket: params.bucket)
            |> range(start: start, stop: stop)
            |> filter(fn: (r) => r._measurement == "trades" and r.exchange == params.exchange and r._field == "trade_id")
    else
        from(bucket: params.bucket)
            |> range(start: start, stop: stop)
            |> filter(
                fn: (r) =>
                    r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                        and
                        r._field == "trade_id",
            )

named = (tables=<-, name) =>
    tables |> map(fn: (r) => ({symbol: r.symbol, name: name, trade_id: r._value, time_ns: int(v: r._time)}))

union(
    tables: [
        ids(start: params.earliest, stop: params.start) |> last() |> named(name: "before"),
        ids(start: params.stop, stop: params.latest) |> first() |> named(name: "after"),
    ],
)
