"""Query benchmark: latency of the typed query API (:class:`queries.Prices`) on a large history in the real influxd.

    python -m bench.queries [--trades 10000000] [--days 35] [--instants 300] [--runs 5] [--stream 100000]
                            [--candles] [--reuse DIR] [--json PATH]

Generates ``--trades`` trades (seeded, :mod:`bench.trades`) over ``--days`` days in ten markets (half of them
in BTCUSDT; LUNAUSDT stops trading 10 days before the end) and writes them to a throwaway influxd, into a
bucket in the day shard groups of ``pricecap setup`` (:func:`queries.rollup.shape_raw_bucket`). It waits
until InfluxDB counts every one, has compacted them (``--compact``, the default; see COLD_AFTER) and is idle,
then times each question with one connection, as a user of the API would: price-at at random instants
(p50/p99/max), also long after a market's last trade and with ``nearest``, ``prices_at`` batches (100
instants of every market, 1,000 over the ten markets, 10,000 of the busy one over 30 days), ``--stream``
instants streamed through ``iter_prices_at``, high/low over 1 hour, 1 day and 30 days, and candles (24 and
720 windows of 1 hour, 30 of 1 day). Every answer is checked against the generated trades. ``--reuse DIR``
keeps the server's data in DIR, so a later run with the same dataset options skips the load (the trades are
generated again, unwritten, as the ground truth) and, with ``--candles``, the candles once made. Beside each
latency it gives influxd's CPU time per call, which holds on a machine shared with other work. Prints Markdown
tables; ``--json PATH`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

import orjson

from bench.common import cpu_s, table
from bench.trades import DAY_MS, END_MS, MARKETS, Dataset, History, load
from pricecap import model
from pricecap.errors import NoDataError
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary
from pricecap.settings import InfluxSettings
from queries import Prices, rollup
from queries.api import trade_counts
from queries.models import PriceAt

T = TypeVar("T")
P = ParamSpec("P")
HOUR_MS = 3_600_000
LOOKBACK = "30d"
LOOKBACK_NS = 30 * DAY_MS * model.NS_PER_MS
COLD_AFTER = {
    "INFLUXD_STORAGE_CACHE_SNAPSHOT_WRITE_COLD_DURATION": "10s",
    "INFLUXD_STORAGE_COMPACT_FULL_WRITE_COLD_DURATION": "10s",
}
"""influxd settings for ``--compact``: a shard counts as cold 10 s after its last write, not 10 min (snapshot of
the cache to TSM) and 4 h (full compaction); so the benchmark times the layout that a server collecting for
weeks has for all but its newest shard, without waiting hours."""
STATE_FILE = "bench-queries.json"
"""In a ``--reuse`` folder: the dataset options, the onboarding (with its token) and the load figures."""


@dataclass
class Result:
    """The latencies of one kind of question, and how many of its answers differed from the generated trades."""

    query: str
    symbol: str
    span: str
    latencies_ms: list[float] = field(default_factory=list)
    influxd_cpu_ms: list[float] = field(default_factory=list)
    """influxd's CPU time per call: unlike the latency, it holds while other work shares the machine."""
    answers: int = 0
    wrong: int = 0
    note: str = ""

    def add(self, timing: tuple[float, float | None], right: list[bool]) -> None:
        """One call's latency and influxd CPU time (ms; None where unknown), and whether each of its answers
        equals the generated trades."""
        ms, cpu_ms = timing
        self.latencies_ms.append(ms)
        if cpu_ms is not None:
            self.influxd_cpu_ms.append(cpu_ms)
        self.answers += len(right)
        self.wrong += right.count(False)

    def row(self) -> dict[str, object]:
        """The figures as a table row (p99 only from 100 runs up, else None)."""
        ordered = sorted(self.latencies_ms)
        return {
            "query": self.query,
            "symbol": self.symbol,
            "span": self.span,
            "runs": len(ordered),
            "p50_ms": round(statistics.median(ordered), 1),
            "p99_ms": round(statistics.quantiles(ordered, n=100)[98], 1) if len(ordered) >= 100 else None,
            "max_ms": round(ordered[-1], 1),
            "influxd_cpu_p50_ms": round(statistics.median(self.influxd_cpu_ms), 1) if self.influxd_cpu_ms else None,
            "answers_right": f"{self.answers - self.wrong}/{self.answers}",
            "note": self.note,
        }


def timed(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[float, T]:
    """How long ``call(*args, **kwargs)`` took, in ms, and its result."""
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, result


class Measure:
    """The questions, timed against one connection and checked against the generated histories."""

    def __init__(
        self, prices: Prices, dataset: Dataset, histories: list[History], seed: int, influxd_pid: int | None
    ) -> None:
        self.prices = prices
        self.influxd_pid = influxd_pid
        self.dataset = dataset
        self.histories = {h.symbol: h for h in histories}
        self.busy = histories[0]
        self.stopped = next(h for h in histories if h.market.quiet_days)
        self.rng = random.Random(seed)

    def timed(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[tuple[float, float | None], T]:
        """:func:`timed`, with influxd's CPU time during the call (ms; None without the server's pid)."""
        if self.influxd_pid is None:
            ms, result = timed(call, *args, **kwargs)
            return (ms, None), result
        before = cpu_s(self.influxd_pid)
        ms, result = timed(call, *args, **kwargs)
        return (ms, (cpu_s(self.influxd_pid) - before) * 1000), result

    def instant(self, low_ms: int, high_ms: int) -> int:
        """A random instant in ns in ``[low_ms, high_ms)``."""
        return self.rng.randrange(low_ms * model.NS_PER_MS, high_ms * model.NS_PER_MS)

    def right(self, history: History, answer: PriceAt | None, index: int | None) -> bool:
        """True when an answer is the generated trade at ``index`` (or there is none, and neither is the answer)."""
        if answer is None or index is None:
            return answer is None and index is None
        return answer.trade.trade_id == history.first_id + index and answer.price == history.price(index)

    def price_at(self, history: History, instants: list[int], nearest: bool, name: str, span: str) -> Result:
        """``price_at`` at each instant, one round trip each."""
        result = Result(name, history.symbol, span)
        for at in instants:
            timing, answer = self.timed(self.answer, history.symbol, at, nearest)
            index = (history.nearest if nearest else history.last_before)(at, LOOKBACK_NS)
            result.add(timing, [self.right(history, answer, index)])
        return result

    def answer(self, symbol: str, at: int, nearest: bool) -> PriceAt | None:
        """``price_at``, or None when no trade is within the look-back."""
        try:
            return self.prices.price_at(symbol, at, LOOKBACK, nearest)
        except NoDataError:
            return None

    def prices_at(self, runs: int, size: int, histories: list[History] | None = None, days: int = 35) -> Result:
        """``prices_at`` of ``size`` instants over ``histories`` (default: every market) in the last ``days``."""
        markets = histories or list(self.histories.values())
        span = f"{size:,} instants of {'all' if histories is None else len(markets)} over {days} d"
        result = Result("prices_at", markets[0].symbol if len(markets) == 1 else f"{len(markets)} markets", span)
        low_ms = max(self.dataset.start_ms, END_MS - days * DAY_MS)
        for _ in range(runs):
            pairs = [(self.rng.choice(markets), self.instant(low_ms, END_MS)) for _ in range(size)]
            timing, answers = self.timed(self.prices.prices_at, [(h.symbol, at) for h, at in pairs], LOOKBACK)
            result.add(
                timing,
                [
                    self.right(h, answer, h.last_before(at, LOOKBACK_NS))
                    for (h, at), answer in zip(pairs, answers, strict=True)
                ],
            )
        return result

    def streamed(self, size: int) -> Result:
        """``iter_prices_at`` over a generator of ``size`` instants of every market (what ``price-at --file``
        does), answers consumed as they come; the figure is the whole call, and memory grows by one block."""
        markets = list(self.histories.values())
        pairs = [(self.rng.choice(markets), self.instant(self.dataset.start_ms, END_MS)) for _ in range(size)]
        result = Result("iter_prices_at (streamed)", f"{len(markets)} markets", f"{size:,} instants, one call")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timing, right = self.timed(
            lambda: [
                self.right(h, a, h.last_before(at, LOOKBACK_NS))
                for (h, at), a in zip(pairs, self.prices.iter_prices_at((h.symbol, at) for h, at in pairs), strict=True)
            ]
        )
        result.add(timing, right)
        result.note = f"peak RSS grew {(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024:.0f} MiB"
        return result

    def high_low(self, runs: int, span_ms: int, span: str) -> Result:
        """``high_low`` of the busy market over ``runs`` random hour-aligned ranges of ``span_ms``."""
        history, result = self.busy, Result("high_low", self.busy.symbol, span)
        for _ in range(runs):
            start_ms = (
                self.dataset.start_ms
                + self.rng.randrange((END_MS - self.dataset.start_ms - span_ms) // HOUR_MS) * HOUR_MS
            )
            start_ns, stop_ns = start_ms * model.NS_PER_MS, (start_ms + span_ms) * model.NS_PER_MS
            timing, summary = self.timed(self.prices.high_low, history.symbol, start_ns, stop_ns)
            trades = history.span(start_ms, start_ms + span_ms)
            ticks = history.ticks[trades.start : trades.stop]
            expected = (
                len(trades),
                history.price(trades[0]),
                float(history.price_text(max(ticks))),
                float(history.price_text(min(ticks))),
                history.price(trades[-1]),
            )
            result.add(
                timing,
                [(summary.trades, summary.open, summary.high.price, summary.low.price, summary.close) == expected],
            )
        return result

    def candles(self, runs: int, every: str, every_ms: int, windows: int) -> Result:
        """``candles`` of the busy market: ``windows`` day-aligned windows of ``every``, ``runs`` times."""
        history, span_ms = self.busy, windows * every_ms
        result = Result(f"candles {every}", history.symbol, f"{windows} windows")
        for _ in range(runs):
            start_ms = (
                self.dataset.start_ms
                + self.rng.randrange((END_MS - self.dataset.start_ms - span_ms) // DAY_MS) * DAY_MS
            )
            start_ns, stop_ns = start_ms * model.NS_PER_MS, (start_ms + span_ms) * model.NS_PER_MS
            timing, candles = self.timed(self.prices.candles, history.symbol, start_ns, stop_ns, every)
            trades = history.span(start_ms, start_ms + span_ms)
            ticks = history.ticks[trades.start : trades.stop]
            got = (len(candles), sum(c.trades for c in candles), max(c.high or 0.0 for c in candles))
            result.add(timing, [got == (windows, len(trades), float(history.price_text(max(ticks))))])
        return result

    def all(self, instants: int, runs: int, stream: int, batches: tuple[int, int]) -> list[Result]:
        """Every question of the benchmark, after one untimed warm-up of each kind."""
        busy, stopped, start = self.busy, self.stopped, self.dataset.start_ms
        self.price_at(busy, [self.instant(start, END_MS)], True, "warm-up", "")
        self.prices_at(1, 10)
        self.high_low(1, DAY_MS, "")
        self.candles(1, "1h", HOUR_MS, 24)
        after_last = stopped.times_ms[-1]
        return [
            self.price_at(busy, [self.instant(start, END_MS) for _ in range(instants)], False, "price_at", "any time"),
            self.price_at(
                stopped,
                [
                    self.instant(after_last, after_last + stopped.market.quiet_days * DAY_MS)
                    for _ in range(instants // 3)
                ],
                False,
                "price_at",
                f"0-{stopped.market.quiet_days} d after its last trade",
            ),
            self.price_at(
                busy, [self.instant(start, END_MS) for _ in range(instants // 3)], True, "price_at nearest", "any time"
            ),
            self.prices_at(max(runs, 10), 100),
            self.prices_at(runs, batches[0], list(self.histories.values()), days=30),
            self.prices_at(max(1, runs // 2), batches[1], [busy], days=30),
            self.streamed(stream),
            self.high_low(runs, HOUR_MS, "1 h"),
            self.high_low(runs, DAY_MS, "1 d"),
            self.high_low(runs, 30 * DAY_MS, "30 d"),
            self.candles(runs, "1h", HOUR_MS, 24),
            self.candles(runs, "1d", DAY_MS, 30),
            self.candles(runs, "1h", HOUR_MS, 30 * 24),
        ]


def measure(
    settings: InfluxSettings,
    dataset: Dataset,
    histories: list[History],
    instants: int,
    runs: int,
    stream: int,
    batches: tuple[int, int] = (1_000, 10_000),
    influxd_pid: int | None = None,
) -> list[Result]:
    """Every timed question against the settings' bucket (which holds the dataset's trades); ``batches`` are the
    sizes of the ``prices_at`` batches over every market and over the busy one."""
    with Prices(settings) as prices:
        return Measure(prices, dataset, histories, dataset.seed, influxd_pid).all(instants, runs, stream, batches)


def wait_until_counted(settings: InfluxSettings, histories: list[History], timeout_s: float = 600.0) -> float:
    """Wait until InfluxDB counts every generated trade per market; return how long that took (s)."""
    expected = {h.symbol: h.count for h in histories}
    started = time.monotonic()
    while (counts := trade_counts(settings)) != expected:
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"InfluxDB counts {counts}, expected {expected}")
        time.sleep(1.0)
    return time.monotonic() - started


def compacted(engine: Path) -> bool:
    """True when every shard is one TSM file and the WAL is empty: nothing is left to snapshot or merge."""
    try:
        per_shard = Counter(p.parent for p in (engine / "data").rglob("*.tsm"))
        return all(n == 1 for n in per_shard.values()) and not any(
            p.stat().st_size for p in (engine / "wal").rglob("*.wal")
        )
    except FileNotFoundError:  # a compaction replaced a file just now
        return False


def settle(server: InfluxdServer, compact: bool, timeout_s: float, window_s: float = 5.0) -> float:
    """Wait until influxd uses under 5% of a core (and, with ``compact``, has compacted every shard); seconds."""
    assert server.pid is not None
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = cpu_s(server.pid)
        time.sleep(window_s)
        if cpu_s(server.pid) - before < 0.05 * window_s and (not compact or compacted(server.data_dir / "engine")):
            return time.monotonic() - started
    raise RuntimeError(f"influxd did not settle within {timeout_s:.0f} s")


def disk_mib(folder: Path) -> float:
    """Size of the files under ``folder``, MiB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def progress(text: str) -> None:
    """One line of progress on stderr."""
    print(text, file=sys.stderr, flush=True)


def prepare(
    server: InfluxdServer, folder: Path, dataset: Dataset, histories: list[History], args: argparse.Namespace
) -> dict[str, object]:
    """Load the dataset into a new server, or take a loaded one as it is; fill ``histories``; the load figures."""
    state_path = folder / STATE_FILE
    if state_path.exists():
        state = orjson.loads(state_path.read_bytes())
        if state["dataset"] != asdict(dataset) or state.get("markets") != [m.symbol for m in MARKETS]:
            raise SystemExit(f"{folder} holds another dataset ({state['dataset']}): use another --reuse folder")
        server.onboarding = Onboarding(**state["onboarding"])
        generated_ms, _ = timed(list, dataset.generate(histories, args.batch, lines=False))
        progress(f"reusing the data in {folder}; ground truth generated again in {generated_ms / 1000:.1f} s")
        settle(server, args.compact, args.settle_timeout)
        return dict(state["load"])
    if server.onboarded():
        raise SystemExit(f"{folder} holds an unfinished load: remove it, or use another --reuse folder")
    onboarding = Onboarding.generate()
    settings = server.onboard(onboarding)
    rollup.shape_raw_bucket(settings)  # the shard groups of pricecap setup (and up), before any trade lands
    assert server.pid is not None
    progress(f"loading {dataset.trades:,} trades over {dataset.days} days ...")
    influxd_cpu = cpu_s(server.pid)
    loaded = load(settings, dataset, histories, args.batch, args.writers, args.gzip)
    counted_s = wait_until_counted(settings, histories)
    settled_s = settle(server, args.compact, args.settle_timeout)
    figures: dict[str, object] = {
        "trades": loaded.trades,
        "load_s": round(loaded.seconds, 1),
        "trades_per_s": round(loaded.rate),
        "counted_after_s": round(counted_s, 1),
        "settled_after_s": round(settled_s, 1),
        "compacted": args.compact,
        "influxd_cpu_s": round(cpu_s(server.pid) - influxd_cpu, 1),
        "batch": args.batch,
        "writers": args.writers,
        "gzip": args.gzip,
        "disk_mib": round(disk_mib(server.data_dir), 1),
    }
    state = {
        "dataset": asdict(dataset),
        "markets": [m.symbol for m in MARKETS],
        "onboarding": asdict(onboarding),
        "load": figures,
    }
    state_path.touch(mode=0o600)
    state_path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    return figures


def dataset_parser(description: str | None) -> argparse.ArgumentParser:
    """The options of the dataset and of loading it, which the benchmarks on it share."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=Dataset.trades, help="trades in all markets")
    parser.add_argument("--days", type=int, default=Dataset.days, help="days of history (at least 31)")
    parser.add_argument("--seed", type=int, default=Dataset.seed)
    parser.add_argument("--batch", type=int, default=50_000, help="lines per write request")
    parser.add_argument("--writers", type=int, default=3, help="concurrent write requests")
    parser.add_argument("--gzip", action=argparse.BooleanOptionalAction, default=True, help="gzip write requests")
    parser.add_argument(
        "--compact",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the data once influxd has compacted it, as a running server has its older shards (default);"
        " --no-compact times it as the load left it (use a fresh folder)",
    )
    parser.add_argument("--settle-timeout", type=float, default=900.0, help="longest wait for influxd to settle (s)")
    parser.add_argument("--reuse", type=Path, metavar="DIR", help="keep (or reuse) the loaded server's data in DIR")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    return parser


def serve_dataset(
    stack: ExitStack, args: argparse.Namespace
) -> tuple[Path, InfluxdServer, Dataset, list[History], dict[str, object]]:
    """A throwaway influxd (or the one kept in ``--reuse``) holding the dataset of ``args``, on ``stack``: its folder,
    the server, the dataset, its histories (the ground truth) and the load figures."""
    dataset = Dataset(args.trades, args.days, args.seed)
    if args.compact:
        os.environ.update(COLD_AFTER)  # read by the influxd started below (a child process) only
    folder = args.reuse or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pricecap-bench-")))
    server = stack.enter_context(InfluxdServer(ensure_binary(), folder / "influxd"))
    histories = dataset.histories()
    figures = prepare(server, folder, dataset, histories, args)
    assert server.onboarding is not None
    return folder, server, dataset, histories, figures


def main() -> None:
    parser = dataset_parser(__doc__)
    parser.add_argument("--instants", type=int, default=300, help="price-at instants of the busy market")
    parser.add_argument("--runs", type=int, default=5, help="runs of each high/low, candles and batch question")
    parser.add_argument("--stream", type=int, default=100_000, help="instants of the streamed price-at question")
    parser.add_argument(
        "--candles", action="store_true", help="run pricecap setup first, so long high/low ranges use 1m candles"
    )
    args = parser.parse_args()
    if args.days < 31:
        parser.error("--days must be at least 31 (the longest question spans 30 days)")
    with ExitStack() as stack:
        folder, server, dataset, histories, figures = serve_dataset(stack, args)
        assert server.onboarding is not None
        state_path = folder / STATE_FILE
        if args.candles and "candles_s" not in figures:
            progress("pricecap setup: candles of every trade ...")
            started = time.monotonic()
            settings = server.settings(server.onboarding)
            rollup.setup(settings, None)
            with Prices(settings) as prices:
                stored = prices.symbols()
            rollup.rebuild(settings, min(i.first_ns for i in stored), max(i.last_ns for i in stored) + 1)
            figures["candles_s"] = round(time.monotonic() - started, 1)
            state = orjson.loads(state_path.read_bytes())
            state["load"] = figures
            state_path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
        progress("measuring ...")
        results = measure(
            server.settings(server.onboarding),
            dataset,
            histories,
            args.instants,
            args.runs,
            args.stream,
            influxd_pid=server.pid,
        )
    size = {h.symbol: h.count for h in histories}
    markets = ", ".join(f"{symbol} {count:,}" for symbol, count in size.items())
    print(f"\nDataset: {dataset.trades:,} trades over {dataset.days} days ({markets}); {os.cpu_count()} cores")
    print("\nLoad\n" + table([figures]))
    print("\nQueries (one connection, after one warm-up question of each kind)\n" + table([r.row() for r in results]))
    if args.json:
        report = {
            "dataset": asdict(dataset) | {"per_symbol": size},
            "cores": os.cpu_count(),
            "load": figures,
            "queries": [r.row() | {"latencies_ms": [round(x, 2) for x in r.latencies_ms]} for r in results],
        }
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if wrong := sum(r.wrong for r in results):
        raise SystemExit(f"{wrong} answers differ from the generated trades")


if __name__ == "__main__":
    main()
