"""What the collector benchmarks share (beside ``bench.common``): a throwaway influxd with a fresh bucket and
folder per run, collector processes and their peak memory, stored counts and newest ids read back with Flux,
trade-to-queryable latency, and cryptofeed's venv."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fake_binance import FakeBinance, Scenario
from pricecap import flux, model
from pricecap.influx import connect
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary
from pricecap.settings import InfluxSettings

REPO = Path(__file__).resolve().parents[1]
CRYPTOFEED = "cryptofeed==2.4.1"
STORED_FLUX = """
from(bucket: params.bucket) |> range(start: 0)
  |> filter(fn: (r) => r._measurement == params.measurement and r._field == params.field)
  |> count()
"""
NEWEST_FLUX = """
from(bucket: params.bucket) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == params.measurement and r.symbol == params.symbol and r._field == params.field)
  |> last()
"""

PROBE_EVERY_S = 0.01
"""Latency probes' pace: the probe's own query (a few ms) plus this bounds the measurement's resolution."""


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Bench:
    """A benchmark's influxd (its first bucket in ``base``) and its scratch folder."""

    influxd: InfluxdServer
    base: InfluxSettings
    folder: Path

    def bucket(self, name: str) -> InfluxSettings:
        """Settings for a new, empty bucket on the benchmark's server."""
        with connect(self.base) as client:
            client.buckets_api().create_bucket(bucket_name=name, org=self.base.org)
        return self.base.model_copy(update={"bucket": name})

    def workdir(self, name: str) -> Path:
        """A new folder for one run's logs and spool."""
        path = self.folder / name
        path.mkdir()
        return path


@contextmanager
def benchmark() -> Iterator[Bench]:
    """A fresh influxd on a free loopback port, its data and every run's folder in one temporary folder."""
    with (
        tempfile.TemporaryDirectory(prefix="pricecap-bench-") as folder,
        InfluxdServer(ensure_binary(), Path(folder) / "influxd") as influxd,
    ):
        yield Bench(influxd, influxd.onboard(Onboarding.generate()), Path(folder))


def influx_env(settings: InfluxSettings) -> dict[str, str]:
    """This environment plus the ``INFLUXDB_V2_*`` variables that reach the settings' bucket."""
    return {**os.environ, **settings.environment()}


def cryptofeed_python() -> Path:
    """The Python of a venv outside the clone with cryptofeed 2.4.1 built from its sdist, made at first use in
    ``$PRICECAP_CACHE`` (``~/.cache/pricecap``) as the influxd build is. Raises CalledProcessError if pip fails."""
    cache = os.environ.get("PRICECAP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "pricecap"
    )
    venv = Path(cache) / "cryptofeed-venv"
    python = venv / "bin" / "python"
    version = "import importlib.metadata as m, sys; sys.exit(m.version('cryptofeed') != '2.4.1')"
    if python.exists() and subprocess.run([python, "-c", version], capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-binary", "cryptofeed", CRYPTOFEED], check=True)
    return python


def pricecap_collect(fake: FakeBinance, symbols: Sequence[str], *options: str) -> list[str]:
    """The command line of ``pricecap collect`` against the fake exchange."""
    return [
        sys.executable, "-m", "pricecap", "collect", *(a for s in symbols for a in ("--symbol", s)),
        "--ws-url", fake.ws_url, "--rest-url", fake.rest_url, "--log-level", "WARNING", *options,
    ]  # fmt: skip


class Process:
    """One collector process, run in the checkout (so ``-m bench...`` works) with its output in a log file,
    stopped with SIGTERM (then SIGKILL); ``async with`` starts it and makes sure it stops."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.args, env=self.env, stdout=log, stderr=log, cwd=REPO
            )

    async def __aenter__(self) -> Process:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, wait up to ``timeout_s`` for a clean exit, else SIGKILL; the exit code (negative: killed)."""
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout_s)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        assert self._process.returncode is not None
        return self._process.returncode


def stored_count(settings: InfluxSettings, measurement: str, field: str) -> int:
    """Points of ``measurement`` with ``field`` in the settings' bucket, counted by InfluxDB."""
    values = {"bucket": settings.bucket, "measurement": measurement, "field": field}
    with connect(settings) as client:
        tables = client.query_api().query(STORED_FLUX, params=flux.params(values))
    return sum(int(r.get_value()) for t in tables for r in t.records)


@contextmanager
def newest_id(
    settings: InfluxSettings, symbol: str, measurement: str = model.MEASUREMENT, field: str = ""
) -> Iterator[Callable[[], int]]:
    """A probe: called, it returns the id of the newest point stored in the last hour for the series tagged
    ``symbol`` (0 when none); in the fake's streams ids rise with time, so that is the highest id stored.
    ``last()`` runs inside the storage engine (a few ms; converting ids to int first, as cryptofeed's string
    ids would need, costs ~120 ms a probe), and one client stays open, so a probe costs one query."""
    values = {"bucket": settings.bucket, "measurement": measurement, "field": field or model.FIELD_TRADE_ID}
    params = flux.params({**values, "symbol": symbol})
    with connect(settings) as client:
        query_api = client.query_api()

        def probe() -> int:
            tables = query_api.query(NEWEST_FLUX, params=params)
            return max((int(r.get_value()) for t in tables for r in t.records), default=0)

        yield probe


async def wait_stored(
    count: Callable[[], int], expected: int, timeout_s: float, stall_s: float, every_s: float = 0.5
) -> tuple[int, float]:
    """Poll ``count`` until it reaches ``expected``, stays put for ``stall_s`` or ``timeout_s`` has passed;
    return the last count and the seconds waited."""
    started = time.monotonic()
    last, last_change = -1, started
    while True:
        stored = await asyncio.to_thread(count)
        now = time.monotonic()
        if stored != last:
            last, last_change = stored, now
        if stored >= expected or now - started >= timeout_s or now - last_change >= stall_s:
            return stored, now - started
        await asyncio.sleep(every_s)


async def latency(fake: FakeBinance, scenario: Scenario, newest: Callable[[], int], first_id: int) -> dict[str, object]:
    """Trade-to-queryable latency of one symbol: play ``scenario`` while a probe polls ``newest`` every
    ``PROBE_EVERY_S``; a trade's latency runs from the fake sending it to the end of the first probe that saw
    its id (trades never seen within a minute after the last was sent are left out)."""
    probes: list[tuple[float, int]] = []
    last_id = first_id + scenario.count - 1
    playing = asyncio.create_task(fake.play(scenario))
    deadline = time.monotonic() + scenario.count / scenario.rate + 60
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(newest)
        probes.append((time.time(), seen))
        if seen >= last_id:
            break
        await asyncio.sleep(PROBE_EVERY_S)
    await playing
    latencies: list[float] = []
    probe_index = previous_made = 0
    for made, sent_time in fake.sent_at:
        while probe_index < len(probes) and probes[probe_index][1] < first_id + made - 1:
            probe_index += 1
        if probe_index == len(probes):
            break  # never seen: the rest has no latency to report
        latencies.extend([probes[probe_index][0] - sent_time] * (made - previous_made))
        previous_made = made
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "rate": scenario.rate,
        "trades": len(latencies),
        "p50_s": round(quantiles[49], 3),
        "p99_s": round(quantiles[98], 3),
    }


_IDS_BY_SYMBOL = """
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == params.measurement and r._field == params.field)
  |> keep(columns: ["symbol", "_value"])
"""


def stored_ids_by_symbol(settings: InfluxSettings) -> dict[str, list[int]]:
    """Every symbol's stored trade ids, sorted (duplicates kept), in one query: for tests of many symbols."""
    values = {"bucket": settings.bucket, "measurement": model.MEASUREMENT, "field": model.FIELD_TRADE_ID}
    ids: dict[str, list[int]] = {}
    with connect(settings) as client:
        for record in client.query_api().query_stream(_IDS_BY_SYMBOL, params=flux.params(values)):
            ids.setdefault(str(record.values["symbol"]), []).append(int(record.get_value()))
    return {symbol: sorted(found) for symbol, found in ids.items()}
