"""Side by side: pricecap against what users would otherwise run (issue 9).

    python -m bench.compare            # the full run, ~30 min; writes bench/compare.md and bench/compare.png
    python -m bench.compare --quick    # a smoke run of ~15 min (to a temporary folder unless --out)

Contenders, one after another against the same fake exchange and the same real influxd, each run in a bucket
of its own: ``pricecap collect`` as shipped; (a) the seed's design, one synchronous insert per trade
(``bench.contenders.seed``); (b) one ``Point`` per trade into influxdb-client's default batching WriteApi
(``bench.contenders.batching``); (c) cryptofeed 2.4.1 with its InfluxDB backend, in a venv of its own built
from its sdist (``bench.contenders.cryptofeed_runner``).

1. Throughput: rising rates (``--rates``, each twice the last by default), ``--duration`` s each over 8
   symbols, trades framed before timing starts. A contender gets up to 30 s after the last frame (less when
   its count stands still for 10 s), is then stopped with SIGTERM (it may flush what it holds), and what is
   not stored by then is lost. A rate is *sustained* when nothing is lost and the last trade was stored within
   2 s of the last frame; the climb stops at the first rate that is not, which is twice the highest sustained
   one (run separately when it is not in ``--rates``).
2. Latency: one symbol at 200 trades/s; a probe (one Flux ``last()``, a few ms) polls the newest stored id
   every 10 ms.
3. Faults at 500 trades/s over 3 symbols: every connection dropped mid-stream; influxd killed for
   ``--outage`` s and restarted on the same data and port. Lost = trades made (by the fake) but not stored.

cryptofeed subscribes to ``<symbol>@aggTrade``, not ``@trade``, and stores one point per aggregate at its
receipt time, so its counts are of aggregates (slightly fewer than trades: the fake merges consecutive trades
with one time, price and side, as Binance does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import influxdb_client

from bench.common import cpu_s, table
from bench.compare_report import Fault, Outcome, Step, chart, markdown
from bench.harness import (
    CRYPTOFEED,
    PROBE_EVERY_S,
    REPO,
    Bench,
    Process,
    benchmark,
    cryptofeed_python,
    influx_env,
    latency,
    newest_id,
    peak_rss_mb,
    pricecap_collect,
    stored_count,
    wait_stored,
)
from fake_binance import FakeBinance, Scenario
from pricecap import model
from pricecap.influxd import ensure_binary, influxd_version
from pricecap.settings import InfluxSettings

RUNNER = REPO / "bench" / "contenders" / "cryptofeed_runner.py"
FIRST_ID = 10_000_000
Command = Callable[[FakeBinance, Sequence[str], Path], list[str]]
"""The command line of a contender: (the fake, the symbols, its run folder)."""


@dataclass(frozen=True)
class Contender:
    """How to run one contender and how to count what it stored."""

    name: str
    label: str
    command: Command
    measurement: str = model.MEASUREMENT
    id_field: str = model.FIELD_TRADE_ID
    agg_trades: bool = False
    symbol_tag: Callable[[str], str] = str

    def stored(self, settings: InfluxSettings) -> int:
        return stored_count(settings, self.measurement, self.id_field)


def _symbol_args(symbols: Sequence[str]) -> list[str]:
    return [a for s in symbols for a in ("--symbol", s)]


def _pricecap() -> Command:
    def command(fake: FakeBinance, symbols: Sequence[str], folder: Path) -> list[str]:
        return pricecap_collect(fake, symbols, "--metrics-port", "0", "--spool-dir", str(folder / "spool"))

    return command


def _script(module: str) -> Command:
    def command(fake: FakeBinance, symbols: Sequence[str], _folder: Path) -> list[str]:
        return [sys.executable, "-m", module, "--ws-url", fake.ws_url, *_symbol_args(symbols)]

    return command


def _cryptofeed(python: Path) -> Command:
    def command(fake: FakeBinance, symbols: Sequence[str], _folder: Path) -> list[str]:
        return [str(python), str(RUNNER), "--ws-url", fake.ws_url, "--rest-url", fake.rest_url, *_symbol_args(symbols)]

    return command


def cryptofeed_symbol(symbol: str) -> str:
    """cryptofeed's name of a fake symbol (base and quote from exchangeInfo): ``BTCUSDT`` -> ``BTC-USDT``."""
    return f"{symbol[:-4]}-{symbol[-4:]}"


def contenders(names: Sequence[str]) -> list[Contender]:
    """The contenders asked for, in that order (cryptofeed's venv is made here when it is one of them)."""
    known = {
        "pricecap": lambda: Contender("pricecap", "pricecap", _pricecap()),
        "seed": lambda: Contender("seed", "(a) seed: insert per trade", _script("bench.contenders.seed")),
        "batching": lambda: Contender(
            "batching", "(b) influxdb-client batching, Point per trade", _script("bench.contenders.batching")
        ),
        "cryptofeed": lambda: Contender(
            "cryptofeed",
            "(c) cryptofeed 2.4.1, InfluxDB backend",
            _cryptofeed(cryptofeed_python()),
            measurement="trades-BINANCE",
            id_field="id",
            agg_trades=True,
            symbol_tag=cryptofeed_symbol,
        ),
    }
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown contenders: {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return [known[n]() for n in names]


@dataclass(frozen=True)
class Config:
    """What to run; the defaults are the full run."""

    rates: list[int] = field(default_factory=lambda: [250 * 2**i for i in range(10)])  # 250 .. 128,000
    duration_s: float = 20.0
    symbols: int = 8
    drain_timeout_s: float = 30.0
    latency_rate: int = 200
    latency_duration_s: float = 30.0
    fault_rate: int = 500
    fault_duration_s: float = 15.0
    outage_s: float = 30.0
    drop_stall_s: float = 15.0
    fault_stall_s: float = 45.0
    """How long a count may stand still before the run gives up on it: after a drop, after an outage."""

    @property
    def symbol_names(self) -> list[str]:
        return [f"SYM{i}USDT" for i in range(self.symbols)]


QUICK = Config(
    rates=[500 * 2**i for i in range(8)],  # 500 .. 64,000
    duration_s=5.0,
    drain_timeout_s=15.0,
    latency_duration_s=10.0,
    fault_duration_s=8.0,
    outage_s=10.0,
    drop_stall_s=10.0,
    fault_stall_s=30.0,
)


class Arena:
    """Runs contenders against the benchmark's influxd, each run with a fresh fake exchange and bucket."""

    def __init__(self, bench: Bench, config: Config) -> None:
        self.bench, self.config = bench, config

    @asynccontextmanager
    async def _running(
        self, contender: Contender, fake: FakeBinance, symbols: Sequence[str], run: str
    ) -> AsyncIterator[tuple[Process, InfluxSettings]]:
        """The contender running in a new bucket, its streams subscribed; stopped at the end."""
        settings = self.bench.bucket(f"{contender.name}-{run}")
        folder = self.bench.workdir(settings.bucket)
        async with Process(contender.command(fake, symbols, folder), influx_env(settings), folder / "output.log") as p:
            await fake.wait_for_subscribers(len(symbols))
            yield p, settings

    async def step(self, contender: Contender, rate: int) -> Step:
        """One throughput run at ``rate`` trades/s."""
        symbols, count = self.config.symbol_names, int(rate * self.config.duration_s)
        async with (
            FakeBinance(symbols, first_id=FIRST_ID) as fake,
            self._running(contender, fake, symbols, str(rate)) as (process, settings),
        ):
            ticks = fake.prepare(Scenario(count=count, rate=rate, agg_trades=contender.agg_trades))
            sent = fake.aggregates_made if contender.agg_trades else count
            influxd_pid = self.bench.influxd.pid
            assert influxd_pid is not None
            cpu0, influxd_cpu0 = cpu_s(process.pid), cpu_s(influxd_pid)
            started = time.monotonic()
            await fake.stream(ticks, rate, count)
            send_s = time.monotonic() - started
            stored_now = partial(contender.stored, settings)
            _, drain_s = await wait_stored(stored_now, sent, self.config.drain_timeout_s, stall_s=10.0)
            cpu, influxd_cpu = cpu_s(process.pid) - cpu0, cpu_s(influxd_pid) - influxd_cpu0
            rss = peak_rss_mb(process.pid)
        stored = await asyncio.to_thread(contender.stored, settings)
        return Step(rate, sent, stored, send_s, drain_s, cpu / count * 1e6, influxd_cpu / count * 1e6, rss)

    async def climb(self, contender: Contender, outcome: Outcome) -> None:
        """Rising rates until one is not sustained; then twice the highest sustained rate if not run yet."""
        for rate in self.config.rates:
            outcome.steps.append(await self.step(contender, rate))
            _progress(outcome.rows()[-1])
            if not outcome.steps[-1].sustained:
                break
        best = outcome.best()
        if best is not None and outcome.at_twice_best() is None:
            outcome.steps.append(await self.step(contender, 2 * best.rate))
            _progress(outcome.rows()[-1])

    async def latency(self, contender: Contender) -> float:
        """p99 trade-to-queryable latency of one symbol, seconds."""
        symbol = "BTCUSDT"
        scenario = Scenario(
            count=int(self.config.latency_rate * self.config.latency_duration_s),
            rate=self.config.latency_rate,
            agg_trades=contender.agg_trades,
        )
        async with (
            FakeBinance([symbol], first_id=1) as fake,
            self._running(contender, fake, [symbol], "latency") as (_, settings),
        ):
            tag = contender.symbol_tag(symbol)
            with newest_id(settings, tag, contender.measurement, contender.id_field) as newest:
                result = await latency(fake, scenario, newest, first_id=1)
        _progress({"contender": contender.name, **result})
        p99 = result["p99_s"]
        assert isinstance(p99, float)
        return p99

    async def fault(self, contender: Contender, kind: str) -> Fault:
        """Trades made and stored when every connection drops (``drop``) or influxd is down (``outage``)."""
        config, symbols = self.config, self.config.symbol_names[:3]
        seconds = config.fault_duration_s + (config.outage_s if kind == "outage" else 0.0)
        scenario = Scenario(
            count=int(config.fault_rate * seconds), rate=config.fault_rate, agg_trades=contender.agg_trades
        )
        async with (
            FakeBinance(symbols, first_id=FIRST_ID) as fake,
            self._running(contender, fake, symbols, kind) as (_, settings),
        ):
            playing = asyncio.create_task(fake.play(scenario))
            await asyncio.sleep(config.fault_duration_s / 3)
            if kind == "drop":
                fake.drop_connections()
            else:
                await asyncio.to_thread(self.bench.influxd.kill)
                await asyncio.sleep(config.outage_s)
                await asyncio.to_thread(self.bench.influxd.start)
            await playing
            sent = fake.aggregates_made if contender.agg_trades else scenario.count
            stored_now = partial(contender.stored, settings)
            stall_s = config.fault_stall_s if kind == "outage" else config.drop_stall_s
            await wait_stored(stored_now, sent, timeout_s=4 * stall_s, stall_s=stall_s)
        result = Fault(sent, await asyncio.to_thread(contender.stored, settings))
        _progress({"contender": contender.name, "fault": kind, "result": str(result)})
        return result


def _progress(row: dict[str, object]) -> None:
    print(table([row]).splitlines()[-1], flush=True)


async def compare(bench: Bench, config: Config, chosen: Sequence[Contender]) -> list[Outcome]:
    """Every phase for every contender, one contender after another."""
    arena = Arena(bench, config)
    outcomes = []
    for contender in chosen:
        outcome = Outcome(contender.name, contender.label)
        await arena.climb(contender, outcome)
        if config.latency_duration_s > 0:
            outcome.p99_latency_s = await arena.latency(contender)
        outcome.faults["dropped socket"] = await arena.fault(contender, "drop")
        if config.outage_s > 0:
            outcome.faults[f"{config.outage_s:.0f} s InfluxDB outage"] = await arena.fault(contender, "outage")
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class Record:
    """One run of the comparison, as kept in ``compare.json`` (so the report can be drawn again)."""

    command: str
    date: str
    load: str
    config: Config
    outcomes: list[Outcome]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> Record:
        data = json.loads(path.read_text())
        outcomes = [
            Outcome(
                o["name"], o["label"], [Step(**s) for s in o["steps"]], o["p99_latency_s"],
                {name: Fault(**f) for name, f in o["faults"].items()},
            )
            for o in data["outcomes"]
        ]  # fmt: skip
        return cls(data["command"], data["date"], data["load"], Config(**data["config"]), outcomes)


def write_report(record: Record, out: Path) -> None:
    """``compare.md`` and ``compare.png`` in ``out``, from ``record``."""
    config = record.config
    heading = (
        f"## pricecap side by side\n\nMeasured {record.date} with `{record.command}` on {platform.machine()} "
        f"Linux, {os.cpu_count()} cores{record.load}; influxd {influxd_version(ensure_binary())} (this project's "
        f"build), influxdb-client "
        f"{influxdb_client.__version__}, {CRYPTOFEED} built from its sdist. {config.symbols} symbols, "
        f"{config.duration_s:.0f} s per rate."
    )
    notes = (
        f"*Sustained*: nothing lost and the last trade stored within 2 s of the last frame. *Lost*: not stored "
        f"{config.drain_timeout_s:.0f} s after the last frame (or once the count stood still for 10 s) and a "
        f"clean SIGTERM stop. CPU and RSS are the contender's own process at its highest sustained rate; latency "
        f"is from the fake sending a trade to the end of the first Flux probe that saw it (one `last()` query "
        f"every {PROBE_EVERY_S * 1000:.0f} ms), one symbol at "
        f"{config.latency_rate:,} trades/s. Faults at {config.fault_rate:,} trades/s over 3 symbols: every "
        f"connection dropped mid-stream, and influxd killed (SIGKILL) for {config.outage_s:.0f} s then restarted "
        f"on the same data and port. cryptofeed counts aggregates (its stream is `@aggTrade`)."
    )
    (out / "compare.md").write_text(markdown(record.outcomes, heading, notes))
    title = f"Offered vs stored trades/s and loss ({config.symbols} symbols, {record.date})"
    chart(record.outcomes, out / "compare.png", title)


async def _compare_until_stopped(bench: Bench, config: Config, chosen: Sequence[Contender]) -> list[Outcome]:
    """:func:`compare`, cancelled cleanly by SIGTERM (every contender and the influxd stop)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await compare(bench, config, chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test of a few minutes")
    parser.add_argument("--contenders", default="pricecap,seed,batching,cryptofeed")
    parser.add_argument("--rates", help="comma-separated offered rates (trades/s), rising")
    parser.add_argument("--duration", type=float, help="seconds per rate")
    parser.add_argument("--outage", type=float, help="seconds influxd stays down (0: no outage run)")
    parser.add_argument("--out", type=Path, help="folder for compare.json, .md and .png (default bench/)")
    parser.add_argument("--replot", action="store_true", help="only draw the report again from compare.json")
    args = parser.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="pricecap-compare-")) if args.quick else REPO / "bench")
    if args.replot:
        write_report(Record.read(out / "compare.json"), out)
        return
    config = QUICK if args.quick else Config()
    changes: dict[str, object] = {}
    if args.rates:
        changes["rates"] = [int(r) for r in args.rates.split(",")]
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.outage is not None:
        changes["outage_s"] = args.outage
    config = Config(**{**asdict(config), **changes})
    try:
        chosen = contenders(args.contenders.split(","))
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"cannot install {CRYPTOFEED} from its sdist: {e}") from None
    load_before = os.getloadavg()[0]
    with benchmark() as bench:
        try:
            outcomes = asyncio.run(_compare_until_stopped(bench, config, chosen))
        except asyncio.CancelledError:
            raise SystemExit("stopped by SIGTERM") from None
    load = f" shared with other jobs (load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    command = "python -m bench.compare " + " ".join(sys.argv[1:])
    record = Record(command.strip(), datetime.now(UTC).strftime("%Y-%m-%d"), load, config, outcomes)
    out.mkdir(parents=True, exist_ok=True)
    record.write(out / "compare.json")
    write_report(record, out)
    print(f"\n{(out / 'compare.md').read_text()}\nwritten: compare.json, compare.md and compare.png in {out}")


if __name__ == "__main__":
    main()
