"""Audit benchmark: ``pricecap audit``'s cost on the dataset of :mod:`bench.queries`, complete and with holes.

    python -m bench.audit [--trades 10000000] [--days 35] [--holes 1,10,100] [--runs 3] [--reuse DIR] [--json PATH]

Loads (or, with ``--reuse``, takes) the ten-market dataset of bench.queries, then times the audit of every market
(:meth:`queries.Prices.audit`, periods of one day, one connection) over the last 1, 10 and 30 days while it is
complete, with the client's peak Python memory (tracemalloc) of each: flat in the number of trades. Then, for each
count of ``--holes``, it deletes that many random trades of the last 30 days (``/api/v2/delete``), times the audit
again, checks that it names exactly the ids deleted, writes the trades back as they were and waits for influxd
to settle. Each hole's cost is
the difference with the complete audit divided by the holes. Prints Markdown tables; ``--json PATH`` also
writes the figures. Every answer is checked: a wrong one fails the run.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from contextlib import ExitStack
from statistics import median

import orjson
from influxdb_client.client.write_api import SYNCHRONOUS

from bench.common import cpu_s, table
from bench.queries import dataset_parser, progress, serve_dataset, settle
from bench.trades import DAY_MS, END_MS, History
from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from queries import AuditPeriod, Prices
from queries.coverage import merged


def timed_audit(prices: Prices, days: int, pid: int | None) -> tuple[float, float | None, list[AuditPeriod]]:
    """One audit of every market over the last ``days`` days: seconds, influxd CPU seconds, the answer."""
    before = cpu_s(pid) if pid else None
    started = time.perf_counter()
    periods = prices.audit([], (END_MS - days * DAY_MS) * model.NS_PER_MS, END_MS * model.NS_PER_MS)
    seconds = time.perf_counter() - started
    return seconds, None if before is None or pid is None else cpu_s(pid) - before, periods


def peak_mib(prices: Prices, days: int) -> float:
    """The client's peak Python memory (MiB, tracemalloc) during one more audit (untimed: tracing slows it)."""
    tracemalloc.start()
    timed_audit(prices, days, None)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return round(peak, 2)


def complete(periods: list[AuditPeriod], histories: list[History], days: int) -> bool:
    """True when the audit says every period is complete and counts every generated trade of the range."""
    expected = sum(len(h.span(END_MS - days * DAY_MS, END_MS)) for h in histories)
    return all(p.complete for p in periods) and sum(p.trades for p in periods) == expected


def plant(
    settings: InfluxSettings, histories: list[History], count: int, seed: int
) -> tuple[list[str], dict[str, list[int]]]:
    """Delete ``count`` random trades of the last 30 days; their lines as stored (to write them back) and the ids."""
    rng = random.Random(f"holes/{seed}/{count}")
    chosen: dict[tuple[str, int], History] = {}
    busy = [h for h in histories if len(h.span(END_MS - 30 * DAY_MS, END_MS)) > 2]
    while len(chosen) < count:
        history = rng.choice(busy)
        span = history.span(END_MS - 30 * DAY_MS, END_MS)
        chosen[(history.symbol, rng.randrange(span.start + 1, span.stop - 1))] = history  # not the range's ends
    lines: list[str] = []
    ids: dict[str, list[int]] = {}
    with connect(settings) as client, Prices(settings) as prices:
        for (symbol, index), history in chosen.items():
            at = history.time_ns(index)
            (row,) = (
                r.values
                for r in prices.runner.run(
                    "audit_trades", {"symbol": symbol, "start": flux.Time(at), "stop": flux.Time(at + 1)}
                )
            )
            prefix = model.series_prefix(model.EXCHANGE_BINANCE, symbol)
            trade_id = history.first_id + index
            lines.append(
                model.encode_line(
                    prefix, trade_id, repr(row["price"]), repr(row["qty"]), at // model.NS_PER_MS, row["buyer_maker"]
                )
            )
            ids.setdefault(symbol, []).append(trade_id)
            stamp = flux.Time(at).rfc3339()
            client.delete_api().delete(
                stamp, stamp, f'_measurement="trades" AND symbol="{symbol}"', settings.bucket, settings.org
            )
    return lines, ids


def restore(settings: InfluxSettings, lines: list[str]) -> None:
    """Write the deleted trades back."""
    with connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(lines))


def main() -> None:
    parser = dataset_parser(__doc__)
    parser.add_argument("--holes", default="1,10,100", help="counts of trades deleted, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs of each audit (the median is shown)")
    args = parser.parse_args()
    holes = [int(n) for n in args.holes.split(",") if n]
    rows: list[dict[str, object]] = []
    wrong = 0
    with ExitStack() as stack:
        _, server, dataset, histories, figures = serve_dataset(stack, args)
        assert server.onboarding is not None
        settings = server.settings(server.onboarding).model_copy(update={"timeout_ms": 600_000})
        progress("measuring ...")
        with Prices(settings) as prices:
            timed_audit(prices, 1, None)  # warm-up
            baseline = 0.0
            for days in (1, 10, 30):
                runs = [timed_audit(prices, days, server.pid) for _ in range(args.runs)]
                right = all(complete(r[2], histories, days) for r in runs)
                wrong += not right
                seconds = median(r[0] for r in runs)
                baseline = seconds if days == 30 else baseline
                trades = sum(len(h.span(END_MS - days * DAY_MS, END_MS)) for h in histories)
                rows.append(
                    {"audit": f"{days} days, complete", "trades": f"{trades:,}", "holes": 0, "s": round(seconds, 3),
                     "influxd_cpu_s": round(median(r[1] or 0.0 for r in runs), 2), "per_hole_ms": None,
                     "peak_mib": peak_mib(prices, days), "right": right}
                )  # fmt: skip
            month = sum(len(h.span(END_MS - 30 * DAY_MS, END_MS)) for h in histories)
            for count in holes:
                lines, planted = plant(settings, histories, count, dataset.seed)
                try:
                    runs = [timed_audit(prices, 30, server.pid) for _ in range(args.runs)]
                    peak = peak_mib(prices, 30)
                finally:
                    restore(settings, lines)
                    settle(server, args.compact, args.settle_timeout)  # the next holes go into data at rest
                found = {symbol: [r for p in runs[0][2] if p.symbol == symbol for r in p.missing] for symbol in planted}
                right = (
                    all(found[s] == merged((i, i) for i in ids) for s, ids in planted.items())
                    and sum(p.missing_ids for p in runs[0][2]) == count
                )
                if not right:
                    progress(f"{count} holes: planted {planted}, found {found}")
                wrong += not right
                seconds = median(r[0] for r in runs)
                rows.append(
                    {"audit": "30 days, holes", "trades": f"{month:,}", "holes": count,
                     "s": round(seconds, 3), "influxd_cpu_s": round(median(r[1] or 0.0 for r in runs), 2),
                     "per_hole_ms": round(1000 * (seconds - baseline) / count, 1),
                     "peak_mib": peak, "right": right}
                )  # fmt: skip
    print(f"\nDataset: {dataset.trades:,} trades over {dataset.days} days; load: {figures}")
    print("\nAudit of every market, periods of 1 day (median of runs; influxd CPU per audit)\n" + table(rows))
    if args.json:
        args.json.write_bytes(orjson.dumps({"dataset": dataset.__dict__, "rows": rows}, option=orjson.OPT_INDENT_2))
    if wrong:
        raise SystemExit(f"{wrong} audits answered wrong")


if __name__ == "__main__":
    main()
