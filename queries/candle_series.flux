// Candles of one market for charts (Grafana's candlestick, price, volume and trade-rate panels): one row per
// window of params.every over [params.start, params.stop) that holds trades, with _time (the window start, or
// the range's start for a first window that the range clips), open, high, low, close, volume, trades,
// trades_per_s (trades over the window's length, which the range clips at either end) and source ("candles"
// or "trades": where the row was read).
// Windows are aligned to the epoch in UTC; candles.flux makes calendar windows in a time zone. Open and close
// are by _time here, which differs from the trade_id rule (see the README) only where the ids cross a multiple
// of 1,000,000 within one millisecond: right for a chart, while candles.flux corrects for it.
// Windows of whole minutes read the roll-ups of `pricecap setup` (params.candleBucket; the 1-hour candles when
// the window is whole hours, else the 1-minute ones) where they provably hold every trade of the window: the
// candles inside the range count as many trades as the raw trades of the window do (a pushed-down count of one
// field). Both sides order by _time, so the candles then give the same open, high, low, close and volume as the
// raw trades. Every other window (a clipped edge with trades outside whole candles, trades added after the
// roll-up ran, candles not made yet or missing) is read from raw trades, one range per run of such windows.
// To run it in the InfluxDB UI, put this params record below the imports (Flux wants imports first):
//   params = {bucket: "trades", candleBucket: "trades_candles", exchange: "binance", symbol: "BTCUSDT",
//             every: 1m, start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z}
import "array"
import "strings"

everyNs = int(v: params.every)
startNs = int(v: params.start)
stopNs = int(v: params.stop)
minuteNs = int(v: 1m)
hourly = everyNs % int(v: 1h) == 0
grainNs = if hourly then int(v: 1h) else minuteNs
interval = if hourly then "1h" else "1m"

// The whole candles inside the range: only those may stand for raw trades of the same windows.
fromNs = startNs + (grainNs - startNs % grainNs) % grainNs
toNs = stopNs - stopNs % grainNs
haveCandles =
    length(
        arr: buckets() |> filter(fn: (r) => r.name == params.candleBucket) |> findColumn(fn: (key) => true, column: "name"),
    )
        > 0
useCandles = everyNs % minuteNs == 0 and toNs > fromNs and haveCandles

// One aggregate per window; aggregateWindow keeps one table, which InfluxDB pushes down into its storage engine.
perWindow = (tables=<-, fn) => tables |> aggregateWindow(every: params.every, fn: fn, timeSrc: "_start", createEmpty: false)

raw = (start, stop, field) =>
    from(bucket: params.bucket)
        |> range(start: start, stop: stop)
        |> filter(
            fn: (r) =>
                r._measurement == "trades" and r.exchange == params.exchange and r.symbol == params.symbol
                    and
                    r._field == field,
        )

// One row per window (_time: its start, clipped to the range) with a column per aggregate (named by _field; all
// floats, so that the tables can be merged).
wide = (tables=<-) => tables |> group() |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")

named = (tables=<-, name) => tables |> set(key: "_field", value: name)

// The candles of the windows of [start, stop) from raw trades, one row per window that holds trades.
fromTrades = (start, stop) =>
    union(
        tables: [
            raw(start: start, stop: stop, field: "price") |> perWindow(fn: first) |> named(name: "open"),
            raw(start: start, stop: stop, field: "price") |> perWindow(fn: max) |> named(name: "high"),
            raw(start: start, stop: stop, field: "price") |> perWindow(fn: min) |> named(name: "low"),
            raw(start: start, stop: stop, field: "price") |> perWindow(fn: last) |> named(name: "close"),
            raw(start: start, stop: stop, field: "qty") |> perWindow(fn: sum) |> named(name: "volume"),
            raw(start: start, stop: stop, field: "trade_id") |> perWindow(fn: count) |> toFloat() |> named(name: "trades"),
        ],
    )
        |> wide()
        |> set(key: "source", value: "trades")

candles = (field, fn) =>
    from(bucket: params.candleBucket)
        |> range(start: time(v: fromNs), stop: time(v: toNs))
        |> filter(
            fn: (r) =>
                r._measurement == "candles" and r.interval == interval and r.exchange == params.exchange
                    and
                    r.symbol == params.symbol and r._field == field,
        )
        |> perWindow(fn: fn)

// The candle aggregates of each window that candles are in.
candleSeries = () =>
    [
        candles(field: "open", fn: first),
        candles(field: "high", fn: max),
        candles(field: "low", fn: min),
        candles(field: "close", fn: last),
        candles(field: "volume", fn: sum),
        candles(field: "trades", fn: sum) |> toFloat(),
    ]

// The windows the candles prove, and the raw trades of every run of other windows. A run is the windows between
// two proven windows that hold raw trades or candles (empty windows inside it cost nothing to read). The raw
// counts are read once: the proven windows are then the candle windows in no run.
mixed = () => {
    spans =
        union(
            tables:
                array.concat(
                    arr: [raw(start: params.start, stop: params.stop, field: "trade_id") |> perWindow(fn: count) |> toFloat() |> named(name: "raw")],
                    v: candleSeries(),
                ),
        )
            |> wide()
            |> map(
                fn: (r) => {
                    proven =
                        exists r.raw and exists r.trades and r.trades == r.raw and exists r.open and exists r.high
                            and
                            exists r.low and exists r.close and exists r.volume

                    // key: the window's start (windows of a fixed length are aligned to the epoch)
                    return {r with proven: proven,
                        proofs: if proven then 1 else 0,
                        key: int(v: r._time) - int(v: r._time) % everyNs,
                    }
                },
            )
            |> sort(columns: ["_time"])
            |> cumulativeSum(columns: ["proofs"])
            |> filter(fn: (r) => not r.proven)
            |> group(columns: ["proofs"])
            |> reduce(
                identity: {lo: stopNs, hi: startNs - everyNs},
                fn: (r, accumulator) =>
                    ({
                        lo: if r.key < accumulator.lo then r.key else accumulator.lo,
                        hi: if r.key > accumulator.hi then r.key else accumulator.hi,
                    }),
            )
            |> map(fn: (r) => ({span: string(v: r.lo) + " " + string(v: r.hi + everyNs)}))
            |> group()
            |> findColumn(fn: (key) => true, column: "span")
    bounds =
        array.map(
            arr: spans,
            fn: (x) => {
                ends = strings.split(v: x, t: " ")

                return {lo: int(v: ends[0]), hi: int(v: ends[1])}
            },
        )
    candleRows = union(tables: candleSeries()) |> wide() |> set(key: "source", value: "candles")

    // Marks at the start (inside 1) and end (inside 0) of each run, carried forward over the candle rows: a
    // candle row is proven when no run is open at its time.
    starts = array.map(arr: bounds, fn: (x) => ({_time: time(v: x.lo), mark: "0", inside: 1.0}))
    ends = array.map(arr: bounds, fn: (x) => ({_time: time(v: x.hi), mark: "0", inside: 0.0}))
    proven =
        if length(arr: bounds) == 0 then
            candleRows
        else
            union(
                tables: [
                    candleRows |> set(key: "mark", value: "1"),
                    array.from(rows: array.concat(arr: starts, v: ends)),
                ],
            )
                |> group()
                |> sort(columns: ["_time", "mark"])
                |> fill(column: "inside", usePrevious: true)
                |> filter(fn: (r) => r.mark == "1" and (not exists r.inside or r.inside == 0.0))
                |> drop(columns: ["mark", "inside"])
    runs =
        array.map(
            arr: bounds,
            fn: (x) =>
                fromTrades(
                    start: time(v: if x.lo > startNs then x.lo else startNs),
                    stop: time(v: if x.hi < stopNs then x.hi else stopNs),
                ),
        )

    return if length(arr: runs) == 0 then proven else union(tables: array.concat(arr: [proven], v: runs))
}

series = if useCandles then mixed() else fromTrades(start: params.start, stop: params.stop)

// A window ends at the next multiple of params.every, or at the end of the range.
series
    |> group()
    |> map(
        fn: (r) => {
            first = int(v: r._time)
            next = first - first % everyNs + everyNs
            last = if next < stopNs then next else stopNs

            return {
                _time: r._time,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
                trades: int(v: r.trades),
                trades_per_s: r.trades / (float(v: last - first) / 1000000000.0),
                source: r.source,
            }
        },
    )
    |> sort(columns: ["_time"])
