"""Grafana benchmark: the market dashboard's candle query (the Candles, Price, Volume and Trades per second panels,
queries/candle_series.flux) as Grafana sends it, over a 30-day view of the busiest market.

    python -m bench.queries --reuse DIR --candles    (once: loads the 10-million-trade dataset and its candles)
    python -m bench.grafana --reuse DIR [--runs 5] [--days 30] [--json PATH]

For each interval Grafana may choose for such a view (1 h, 30 min, 5 min, 1 min) and one below a minute, it
times the query through the roll-ups (the candles bucket that ``pricecap setup`` made) and from raw trades alone
(the same query with a candles bucket that does not exist), after one warm-up run of each, and checks that both
give the same candles. The range ends at the dataset's end and starts 17 s past a minute, as "now-30d" does, so
the first window is a clipped one. Prints a Markdown table; ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.common import table
from bench.queries import STATE_FILE
from bench.trades import DAY_MS, END_MS, MARKETS
from grafana.dashboards import DASHBOARDS
from grafana.flux import as_sent, go_duration
from pricecap import model
from pricecap.influx import connect
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary
from pricecap.settings import InfluxSettings

INTERVALS = (timedelta(hours=1), timedelta(minutes=30), timedelta(minutes=5), timedelta(minutes=1))
BELOW_A_MINUTE = timedelta(seconds=30)
"""Below a minute every window is read from raw trades; timed over one day only (a 30-day view never gets it)."""
NO_CANDLES = "__no_candles__"


def candles_query() -> str:
    """The Flux of the Candles panel (the same query as the Price, Volume and Trades per second panels)."""
    panels = [p for top in DASHBOARDS["market"]()["panels"] for p in [top, *top.get("panels", [])]]
    (candles,) = [p for p in panels if p.get("title") == "Candles"]
    query: str = candles["targets"][0]["query"]
    return query


def rows(settings: InfluxSettings, text: str) -> list[dict[str, Any]]:
    """Every row of a query, without the result and table columns."""
    with connect(settings) as client:
        records = client.query_api().query_stream(text, org=settings.org)
        return [{k: v for k, v in r.values.items() if k not in ("result", "table")} for r in records]


def same_candles(through: list[dict[str, Any]], raw: list[dict[str, Any]]) -> bool:
    """Whether two answers hold the same windows and values (volume and rate to rounding)."""
    if len(through) != len(raw):
        return False
    for a, b in zip(through, raw, strict=True):
        if any(a[k] != b[k] for k in ("_time", "open", "high", "low", "close", "trades")):
            return False
        if any(abs(a[k] - b[k]) > 1e-9 * max(abs(b[k]), 1.0) for k in ("volume", "trades_per_s")):
            return False
    return True


def measure(settings: InfluxSettings, symbol: str, end_ms: int, days: int, runs: int) -> list[dict[str, object]]:
    """Every interval's figures for a view of ``days`` that ends at ``end_ms``, through the roll-ups and from raw
    trades."""
    query = candles_query()
    results: list[dict[str, object]] = []
    for interval in (*INTERVALS, BELOW_A_MINUTE):
        span_days = days if interval in INTERVALS else 1
        start_ns = (end_ms - span_days * DAY_MS + 17_000) * model.NS_PER_MS
        stop_ns = end_ms * model.NS_PER_MS
        answers: dict[str, list[dict[str, Any]]] = {}
        timed: dict[str, list[float]] = {}
        for way, bucket_suffix in (("roll-ups", "_candles"), ("raw trades", NO_CANDLES)):
            variables = {"bucket": settings.bucket, "exchange": model.EXCHANGE_BINANCE, "symbol": symbol}
            text = as_sent(query, variables, start_ns, stop_ns, interval).replace(
                f'"{settings.bucket}" + "_candles"', f'"{settings.bucket}{bucket_suffix}"'
            )
            answers[way] = rows(settings, text)  # warm-up
            timed[way] = []
            for _ in range(runs):
                started = time.perf_counter()
                rows(settings, text)
                timed[way].append((time.perf_counter() - started) * 1000)
        for way, latencies in timed.items():
            results.append(
                {
                    "interval": go_duration(interval),
                    "view": f"{span_days} d",
                    "windows": len(answers[way]),
                    "read from": way,
                    "sources": ", ".join(sorted({str(r["source"]) for r in answers[way]})),
                    "p50_ms": round(statistics.median(latencies), 1),
                    "max_ms": round(max(latencies), 1),
                    "same candles": same_candles(answers[way], answers["raw trades"]) if way == "roll-ups" else "-",
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", type=Path, metavar="DIR", required=True, help="a folder bench.queries loaded")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--days", type=int, default=30, help="the view's length in days")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args()
    state_path = args.reuse / STATE_FILE
    if not state_path.exists():
        raise SystemExit(f"{args.reuse} holds no dataset: run python -m bench.queries --reuse {args.reuse} --candles")
    state = orjson.loads(state_path.read_bytes())
    if "candles_s" not in state["load"]:
        raise SystemExit(f"{args.reuse} has no candles: run python -m bench.queries --reuse {args.reuse} --candles")
    with InfluxdServer(ensure_binary(), args.reuse / "influxd") as server:
        server.onboarding = Onboarding(**state["onboarding"])
        settings = server.settings(server.onboarding).model_copy(update={"timeout_ms": 600_000})
        results = measure(settings, MARKETS[0].symbol, END_MS, args.days, args.runs)
    print(f"\nCandle panels, {MARKETS[0].symbol}, the view ending at the dataset's end\n" + table(results))
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
