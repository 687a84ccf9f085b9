"""Fault injection: fake Binance + the real collector process + the real influxd, at 2,500 trades/s.

Every case ends with the same checks: a SIGTERM ends in exit 0 with nothing lost and no traceback in the log,
and the trade ids stored are exactly the ids the exchange made, per symbol (none missing, none twice),
whatever happened on the way (a dropped socket, skipped ids, influxd killed, the collector killed, a server
shutdown, a stalled socket, 429s or HTML error pages or a lagging REST during a repair).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import ClassVar

import orjson
import pytest

from fake_binance import FakeBinance, Scenario
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary, free_port
from pricecap.settings import InfluxSettings
from tests.helpers import environment_of, stored_ids

pytestmark = pytest.mark.integration
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
RATE = 2_500


class CollectorProcess:
    """``pricecap collect`` as a child process, its JSON log lines kept."""

    started: ClassVar[list[CollectorProcess]] = []

    def __init__(
        self, settings: InfluxSettings, fake: FakeBinance, spool: Path, *options: str, symbols: Sequence[str] = SYMBOLS
    ) -> None:
        self.args = [
            os.path.join(os.path.dirname(sys.executable), "pricecap"), "collect",
            *(a for s in symbols for a in ("--symbol", s)),
            "--ws-url", fake.ws_url, "--rest-url", fake.rest_url, "--spool-dir", str(spool),
            "--metrics-port", "0", "--flush-interval-ms", "200", "--log-json", *options,
        ]  # fmt: skip
        self.env = {**os.environ, **environment_of(settings)}
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[dict[str, object]] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(*self.args, env=self.env, stderr=asyncio.subprocess.PIPE)
        CollectorProcess.started.append(self)

    async def stop(self, signum: int = signal.SIGTERM) -> None:
        """Signal the process and wait; SIGTERM must end in a clean exit."""
        assert self.process is not None
        self.process.send_signal(signum)
        _, stderr = await asyncio.wait_for(self.process.communicate(), 240)
        lines = stderr.decode().splitlines()
        self.log += [orjson.loads(line) for line in lines if line.startswith("{")]
        if signum == signal.SIGTERM:
            assert self.process.returncode == 0, "\n".join(lines[-30:])
            assert not [line for line in lines if "Traceback" in line], "no traceback in the log"
            assert self.logged("collector stopped")[-1]["lost"] == 0

    @classmethod
    def kill_strays(cls) -> None:
        """Leave no collector behind when a test fails half-way (for fixtures' teardown)."""
        for collector in cls.started:
            if collector.process is not None and collector.process.returncode is None:
                collector.process.kill()
        cls.started.clear()

    def logged(self, message: str) -> list[dict[str, object]]:
        return [entry for entry in self.log if entry.get("event") == message]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(SYMBOLS, first_id=1_999_001, ping_interval_s=1.0, pong_timeout_s=3.0) as exchange:
        yield exchange
    CollectorProcess.kill_strays()


async def all_stored(settings: InfluxSettings, fake: FakeBinance, timeout_s: float = 120.0) -> None:
    """Wait until every trade the exchange made is stored (or time out: the final check then shows what is not)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = [len(await asyncio.to_thread(stored_ids, settings, s)) for s in SYMBOLS]
        if counts == [len(fake.ledger.ids(s)) for s in SYMBOLS]:
            return
        await asyncio.sleep(1.0)


async def assert_exact(settings: InfluxSettings, fake: FakeBinance) -> None:
    for symbol in SYMBOLS:
        stored = await asyncio.to_thread(stored_ids, settings, symbol)
        made = fake.ledger.ids(symbol)
        assert stored == made, f"{symbol}: {len(set(made) - set(stored))} missing, {len(stored) - len(made)} extra"


async def run_case(
    settings: InfluxSettings,
    fake: FakeBinance,
    spool: Path,
    scenario: Scenario,
    fault: Callable[[CollectorProcess], object],
    fault_after_s: float = 2.0,
    *options: str,
) -> CollectorProcess:
    """Start the collector, play the scenario, inject the fault mid-way, wait for every trade, stop cleanly."""
    collector = CollectorProcess(settings, fake, spool, *options)
    await collector.start()
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(scenario))
    await asyncio.sleep(fault_after_s)
    outcome = fault(collector)
    if asyncio.iscoroutine(outcome):
        await outcome
    await playing
    await all_stored(settings, fake)
    await collector.stop()
    await assert_exact(settings, fake)
    return collector


async def test_a_dropped_socket_mid_burst_is_repaired(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=15_000, rate=RATE, burst_every=2_500, burst_size=400)
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: fake.drop_connections())
    assert collector.logged("stream closed") and collector.logged("ids repaired")


async def test_skipped_ids_are_fetched_from_rest(settings: InfluxSettings, fake: FakeBinance, tmp_path: Path) -> None:
    skip = {"BTCUSDT": [(1_999_500, 1_999_899), (2_001_000, 2_001_000)], "SOLUSDT": [(1_999_990, 2_000_010)]}
    scenario = Scenario(count=12_000, rate=RATE, skip=skip)
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: None)
    assert len(collector.logged("gap in trade ids")) == 3


async def test_a_server_shutdown_hands_over_without_a_gap(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=12_000, rate=RATE)
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: fake.server_shutdown(close_after_s=1.0))
    assert collector.logged("stream handover")
    assert not collector.logged("gap in trade ids"), "the new connection was open before the old one closed"


async def test_a_stalled_socket_is_replaced_and_repaired(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=15_000, rate=RATE)
    options = ("--ping-interval", "1", "--ping-timeout", "1")
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: fake.stall(), 2.0, *options)
    assert any(entry.get("cause") == "stalled" for entry in collector.logged("stream closed"))


async def test_a_silent_stall_of_one_of_two_connections_is_found_and_repaired(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=50_000, rate=RATE)  # 20 s of trades; pings go on being answered throughout
    options = ("--streams-per-connection", "2")  # BTCUSDT and ETHUSDT on one connection, SOLUSDT on another

    def silence(_: CollectorProcess) -> None:
        assert fake.silence("BTCUSDT") == 1

    collector = await run_case(settings, fake, tmp_path, scenario, silence, 2.0, *options)
    assert collector.logged("stream silent while REST has newer trades: reconnecting")
    assert [entry.get("cause") for entry in collector.logged("stream closed")] == ["silent"]


async def test_429_during_a_repair_is_waited_out_without_a_ban(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=12_000, rate=RATE, skip={"ETHUSDT": [(1_999_300, 2_000_700)]})
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: fake.rest.force_429(3, retry_after_s=2))
    assert collector.logged("binance rate limit")
    assert fake.rest.status_counts.get(429, 0) >= 3
    assert fake.rest.status_counts.get(418, 0) == 0


async def test_html_403_and_502_pages_on_every_4th_rest_call_during_repair(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    # 5 gaps per symbol, each repaired with its own page: about 15 requests, every 4th an HTML page
    skip = {s: [(first, first + 50 + i) for first in range(1_999_300, 2_003_000, 800)] for i, s in enumerate(SYMBOLS)}
    scenario = Scenario(count=15_000, rate=RATE, skip=skip)
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: fake.rest.html_errors(every=4), 0.5)
    assert fake.rest.status_counts.get(403) and fake.rest.status_counts.get(502)
    assert collector.logged("binance rest error, will retry") and collector.logged("binance rate limit")
    assert not collector.logged("ids cannot be repaired")


async def test_rest_lagging_the_stream_by_5_s_during_repair(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    fake.rest.lag_s = 5.0
    skip = {"BTCUSDT": [(1_999_500, 1_999_899), (2_002_000, 2_002_100)], "SOLUSDT": [(1_999_990, 2_000_010)]}
    scenario = Scenario(count=15_000, rate=RATE, skip=skip)
    collector = await run_case(settings, fake, tmp_path, scenario, lambda _: None)
    assert len(collector.logged("gap in trade ids")) == 3
    assert not collector.logged("ids cannot be repaired")


async def test_sigkill_of_the_collector_is_recovered_at_restart(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    scenario = Scenario(count=20_000, rate=RATE, burst_every=3_000, burst_size=300)
    restarted: list[CollectorProcess] = []

    async def crash_and_restart(collector: CollectorProcess) -> None:
        await collector.stop(signal.SIGKILL)
        await asyncio.sleep(2.0)  # trades go by while no collector runs
        again = CollectorProcess(settings, fake, tmp_path)
        await again.start()
        restarted.append(again)

    first = CollectorProcess(settings, fake, tmp_path)
    await first.start()
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(scenario))
    await asyncio.sleep(2.5)
    await crash_and_restart(first)
    await playing
    await all_stored(settings, fake)
    await restarted[0].stop()
    await assert_exact(settings, fake)
    assert restarted[0].logged("resuming after the last durable trades")


async def test_influxd_killed_for_30_s_loses_nothing(fake: FakeBinance, tmp_path: Path) -> None:
    server = InfluxdServer(ensure_binary(), tmp_path / "influxd", free_port())
    server.start()
    try:
        settings = server.onboard(Onboarding.generate())
        scenario = Scenario(count=100_000, rate=RATE)  # 40 s of trades
        collector = CollectorProcess(settings, fake, tmp_path / "spool", "--retry-for", "5")
        await collector.start()
        await fake.wait_for_subscribers(len(SYMBOLS))
        playing = asyncio.create_task(fake.play(scenario))
        await asyncio.sleep(3.0)
        await asyncio.to_thread(server.kill)
        await asyncio.sleep(30.0)
        await asyncio.to_thread(server.start)
        await playing
        await all_stored(settings, fake)
        await collector.stop()
        await assert_exact(settings, fake)
        assert collector.logged("write given up, spooled for replay"), "retries of 5 s cannot outlast 30 s"
        assert collector.logged("spooled batch replayed")
        assert not collector.logged(
            "write given up and the spool is full or off: trades held until InfluxDB takes writes again"
        )
    finally:
        server.stop()


async def test_trades_refused_with_the_spool_full_are_written_once_influxd_is_back(
    fake: FakeBinance, tmp_path: Path
) -> None:
    server = InfluxdServer(ensure_binary(), tmp_path / "influxd", free_port())
    server.start()
    try:
        settings = server.onboard(Onboarding.generate())
        scenario = Scenario(count=50_000, rate=RATE)  # 20 s of trades, 12 s of them with influxd down
        spool = tmp_path / "spool"
        # trades gather for 2 s while the writers retry: requests of ~5,000 trades, given up after 1 s each
        options = ("--retry-for", "1", "--spool-max-mb", "1", "--flush-interval-ms", "2000")
        collector = CollectorProcess(settings, fake, spool, *options)
        await collector.start()
        await fake.wait_for_subscribers(len(SYMBOLS))
        playing = asyncio.create_task(fake.play(scenario))
        await asyncio.sleep(3.0)
        await asyncio.to_thread(server.kill)
        await asyncio.sleep(12.0)  # ~30,000 trades: about 3 MB of requests for a 1 MiB spool
        await asyncio.to_thread(server.start)
        await playing
        await all_stored(settings, fake)
        await collector.stop()  # one process throughout: no restart repairs anything here
        await assert_exact(settings, fake)
        assert collector.logged(
            "write given up and the spool is full or off: trades held until InfluxDB takes writes again"
        )
        assert collector.logged("trades left unwritten with the spool full are written again")
        assert collector.logged("collector stopped")[0]["lost"] == 0
    finally:
        server.stop()


async def finish(
    settings: InfluxSettings, fake: FakeBinance, playing: asyncio.Task[None], last: CollectorProcess
) -> None:
    """Let the scenario end, wait for every trade, stop the last collector cleanly and check the stored ids."""
    await playing
    await all_stored(settings, fake)
    await last.stop()
    await assert_exact(settings, fake)


async def test_sigkill_while_influxd_is_down_and_a_restart_before_it_is_back(
    fake: FakeBinance, tmp_path: Path, own_influxd: tuple[InfluxdServer, InfluxSettings]
) -> None:
    server, settings = own_influxd
    scenario = Scenario(count=60_000, rate=RATE)  # 24 s of trades
    spool = tmp_path / "spool"
    first = CollectorProcess(settings, fake, spool, "--retry-for", "2")
    await first.start()
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(scenario))
    await asyncio.sleep(3.0)
    await asyncio.to_thread(server.kill)
    await asyncio.sleep(5.0)  # some writes given up and spooled, some still retried
    await first.stop(signal.SIGKILL)
    await asyncio.sleep(2.0)
    again = CollectorProcess(settings, fake, spool, "--retry-for", "2")
    await again.start()  # influxd is still down
    await asyncio.sleep(6.0)
    assert again.process is not None and again.process.returncode is None, "a down InfluxDB is not fatal"
    await asyncio.to_thread(server.start)
    await finish(settings, fake, playing, again)
    assert again.logged("InfluxDB does not answer at start-up")
    assert again.logged("resuming after the last durable trades")
    assert again.logged("spooled batch replayed")


async def test_influxd_down_at_the_first_start_on_a_bucket_that_holds_data(
    fake: FakeBinance, tmp_path: Path, own_influxd: tuple[InfluxdServer, InfluxSettings]
) -> None:
    server, settings = own_influxd
    scenario = Scenario(count=50_000, rate=RATE)  # 20 s of trades
    earlier = CollectorProcess(settings, fake, tmp_path / "earlier")  # another host, say: its checkpoint stays
    await earlier.start()
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(scenario))
    await asyncio.sleep(3.0)
    await earlier.stop()
    await asyncio.to_thread(server.kill)
    await asyncio.sleep(2.0)  # trades go by that no collector sees
    first_start = CollectorProcess(settings, fake, tmp_path / "spool", "--retry-for", "2")
    await first_start.start()  # no checkpoint, and influxd is down: every symbol starts live
    await asyncio.sleep(6.0)
    await asyncio.to_thread(server.start)
    await finish(settings, fake, playing, first_start)
    assert first_start.logged("InfluxDB answers: symbols that started live resumed")
    assert first_start.logged("ids repaired")
