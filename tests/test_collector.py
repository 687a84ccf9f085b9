"""The collector end to end: fake Binance -> the real collector -> the real influxd; exact sets of trade ids."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import orjson
import pytest

from collector.decode import Decoded
from collector.service import Collector, CollectorConfig
from fake_binance import FakeBinance, Scenario
from pricecap import flux
from pricecap.influx import connect
from pricecap.influxd import free_port
from pricecap.settings import InfluxSettings
from queries.api import trade_counts
from tests.helpers import stored_ids

pytestmark = pytest.mark.integration
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(SYMBOLS, first_id=999_001) as exchange:
        yield exchange


def config(fake: FakeBinance, **overrides: object) -> CollectorConfig:
    values: dict[str, object] = {
        "symbols": tuple(SYMBOLS),
        "ws_url": fake.ws_url,
        "rest_url": fake.rest_url,
        "metrics_port": None,
        **overrides,
    }
    return CollectorConfig(**values)  # type: ignore[arg-type]


async def test_every_trade_sent_is_stored_once_with_bursts_and_malformed_frames(
    fake: FakeBinance, settings: InfluxSettings
) -> None:
    port = free_port()
    overrides = {"streams_per_connection": 1, "metrics_port": port, "health_interval_s": 0.5, "instance": "one"}
    collector = Collector(config(fake, **overrides), settings)
    stop = asyncio.Event()
    running = asyncio.create_task(collector.run(stop))
    await fake.wait_for_subscribers(len(SYMBOLS))
    await fake.play(Scenario(count=20_000, rate=20_000, burst_every=4_000, burst_size=500, malformed_every=97))
    await asyncio.sleep(1.0)
    metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
    health = orjson.loads(await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/healthz"))
    stop.set()
    await asyncio.wait_for(running, 60)

    for symbol in SYMBOLS:
        assert stored_ids(settings, symbol) == fake.ledger.ids(symbol)
    assert sum(len(fake.ledger.ids(s)) for s in SYMBOLS) == 20_000
    assert collector.stats.lost == 0
    assert sum(collector.stats.malformed.values()) == 20_000 // 97
    assert set(collector.stats.malformed) <= {
        "bad_json",
        "wrong_type",
        "bad_number",
        "missing_field",
        "unknown_event",
        "not_an_object",
    }
    assert collector.stats.connections_total == 2
    sent = {s: len(fake.ledger.ids(s)) for s in SYMBOLS}
    for symbol in SYMBOLS:
        assert f'pricecap_trades_written_total{{symbol="{symbol}"}} {float(sent[symbol])}' in metrics
    assert 'pricecap_malformed_messages_total{reason="bad_json"}' in metrics
    assert health["status"] == "ok"
    assert (health["shard"], health["instance"]) == ("0/1", "one")
    assert 'pricecap_shard_info{instance="one",shard="0/1"} 1.0' in metrics
    assert health["written"] == health["received"] == 20_000
    assert health["connections_up"] == 2
    with connect(settings) as client:
        tables = client.query_api().query(HEALTH, params=flux.params({"bucket": settings.bucket}))
    written = [r.get_value() for t in tables for r in t.records]
    assert written and max(written) == 20_000
    assert {(r.values["instance"], r.values["shard"]) for t in tables for r in t.records} == {("one", "0/1")}


async def test_a_trickle_is_written_while_idle_without_waiting_for_the_flush_interval(
    fake: FakeBinance, settings: InfluxSettings
) -> None:
    collector = Collector(config(fake, flush_interval_s=3_600.0), settings)
    stop = asyncio.Event()
    running = asyncio.create_task(collector.run(stop))
    await fake.wait_for_subscribers(len(SYMBOLS))
    await fake.play(Scenario(count=40, rate=20))
    sent = {s: fake.ledger.ids(s) for s in SYMBOLS}
    for _ in range(300):  # the housekeeping flush is an hour away: only the idle hand-over can store these
        if all(stored_ids(settings, s) == ids for s, ids in sent.items()):
            break
        await asyncio.sleep(0.1)
    stored_while_running = {s: stored_ids(settings, s) for s in SYMBOLS}
    requests = collector.stats.write_batches["success"]
    stop.set()
    await asyncio.wait_for(running, 60)

    assert stored_while_running == sent
    assert sum(len(ids) for ids in sent.values()) == 40
    assert requests >= 20  # trades 50 ms apart find a worker free: small requests, not one batch


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return str(response.read().decode())


HEALTH = """
from(bucket: params.bucket) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "collector_health" and r._field == "written")
"""


async def test_sigterm_during_a_20000_per_second_run_loses_nothing(fake: FakeBinance, settings: InfluxSettings) -> None:
    env = {**os.environ, **settings.environment()}
    exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
    process = await asyncio.create_subprocess_exec(
        exe, "collect", "--symbol", "BTCUSDT", "--symbol", "ETHUSDT", "--ws-url", fake.ws_url,
        "--rest-url", fake.rest_url, "--metrics-port", "0", "--log-json",
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(Scenario(count=60_000, rate=20_000)))
    await asyncio.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    await playing

    assert process.returncode == 0, stderr.decode()[-2000:]
    final = [line for line in stderr.decode().splitlines() if '"collector stopped"' in line]
    assert len(final) == 1
    summary = orjson.loads(final[0])
    assert summary["lost"] == 0
    assert summary["written"] == summary["received"] > 10_000
    stored = {symbol: stored_ids(settings, symbol) for symbol in SYMBOLS}
    assert sum(len(ids) for ids in stored.values()) == summary["received"]
    for symbol, ids in stored.items():
        # what was received is exactly a prefix of what the exchange made: no holes, no repeats
        assert ids == fake.ledger.ids(symbol)[: len(ids)]


async def test_all_1600_symbols_in_one_process(settings: InfluxSettings) -> None:
    symbols = [f"S{i:04d}USDT" for i in range(1_600)]
    async with FakeBinance(symbols) as fake:
        collector = Collector(config(fake, symbols=(), all_symbols=True), settings)
        stop = asyncio.Event()
        running = asyncio.create_task(collector.run(stop))
        await fake.wait_for_subscribers(len(symbols), timeout_s=60)
        await fake.play(Scenario(count=16_000, rate=20_000))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(running, 60)

    assert collector.stats.connections_total == 8  # 200 streams per connection
    assert fake.connections_made == 8
    assert collector.stats.written_total() == 16_000
    assert trade_counts(settings) == dict.fromkeys(symbols, 10)


async def test_a_helper_task_that_raises_is_restarted_and_counted_with_healthz_503_meanwhile(
    fake: FakeBinance, settings: InfluxSettings, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    collector = Collector(config(fake, metrics_port=port), settings)
    repair, runs = collector.repairer.run, []

    async def raises_the_first_time(stop: asyncio.Event) -> None:
        runs.append(stop)
        if len(runs) == 1:
            raise RuntimeError("the repairer broke")
        await repair(stop)

    collector.repairer.run = raises_the_first_time  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(collector.run(stop))
    await fake.wait_for_subscribers(len(SYMBOLS))
    for _ in range(600):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.05)
    status, health = await asyncio.to_thread(http_status, f"http://127.0.0.1:{port}/healthz")
    metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
    await fake.play(Scenario(count=100, rate=1_000))
    stop.set()
    await asyncio.wait_for(running, 60)

    assert len(runs) == 2, "restarted"
    assert (status, health["tasks_failing"], health["task_restarts"]) == (503, ["repairer"], 1)
    assert 'pricecap_task_restarts_total{task="repairer"} 1.0' in metrics
    failures = [r for r in caplog.records if r.getMessage() == "background task failed, restarting"]
    assert len(failures) == 1 and "RuntimeError: the repairer broke" in vars(failures[0])["traceback"]
    for symbol in SYMBOLS:
        assert stored_ids(settings, symbol) == fake.ledger.ids(symbol)


def http_status(url: str) -> tuple[int, dict[str, object]]:
    """The status and JSON body of a GET, also for an error status."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


async def test_a_connection_whose_frame_handler_raises_is_restarted_and_its_symbols_caught_up(
    fake: FakeBinance, settings: InfluxSettings
) -> None:
    collector = Collector(config(fake), settings)
    decode, frames = collector.decoder.decode, [0]

    def raises_once(frame: bytes | str) -> Decoded:
        frames[0] += 1
        if frames[0] == 500:
            raise RuntimeError("a bug in the hot path")
        return decode(frame)

    collector.decoder.decode = raises_once  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(collector.run(stop))
    await fake.wait_for_subscribers(len(SYMBOLS))
    await fake.play(Scenario(count=4_000, rate=1_000))
    for _ in range(600):  # the missed trades are repaired, and every trade written
        if collector.stats.written_total() == 4_000:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 60)

    assert collector.stats.task_restarts == {"connection_0": 1}
    assert collector.stats.repaired_total() > 0, "the trades that went by during the restart came from REST"
    for symbol in SYMBOLS:
        assert stored_ids(settings, symbol) == fake.ledger.ids(symbol)
