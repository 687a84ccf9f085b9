"""Redundant pairs and shards (issue 19): several ``pricecap collect`` processes against one fake exchange and
the real influxd, as users run them. Each trade is stored exactly once, whichever copy wrote it; shards split
the symbols and a shard killed and restarted loses nothing; collectors behind one IP never earn a 429 together;
the answers to queries do not depend on which copy wrote a trade."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from influxdb_client.client.write_api import SYNCHRONOUS

from bench.harness import stored_count, stored_ids_by_symbol
from collector.service import Collector
from fake_binance import FakeBinance, Scenario
from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from pricecap.shards import Shard
from queries.api import Prices
from tests.helpers import stored_trades
from tests.test_collector import config
from tests.test_faults import RATE, CollectorProcess

pytestmark = pytest.mark.integration
PAIR_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
TWELVE = [f"S{i:02d}USDT" for i in range(12)]
HEALTH_TAGS = """
from(bucket: params.bucket) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == params.measurement and r._field == "healthy")
  |> keep(columns: ["instance", "shard"]) |> distinct(column: "instance")
"""


def exchange(symbols: list[str]) -> FakeBinance:
    """The fake exchange of the fault suite (ids crossing a multiple of 1,000,000, fast pings)."""
    return FakeBinance(symbols, first_id=5_999_001, ping_interval_s=1.0, pong_timeout_s=3.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    """The fake exchange of the pair's symbols; no collector process outlives the test."""
    async with exchange(PAIR_SYMBOLS) as ex:
        yield ex
    CollectorProcess.kill_strays()


@pytest.fixture
async def twelve() -> AsyncIterator[FakeBinance]:
    """The fake exchange of twelve symbols; no collector process outlives the test."""
    async with exchange(TWELVE) as ex:
        yield ex
    CollectorProcess.kill_strays()


async def until(condition: Callable[[], bool], timeout_s: float = 120.0, what: str = "") -> None:
    """Poll ``condition`` (in a thread: it may query InfluxDB) until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.5)


def connected(fake: FakeBinance, collectors: int, symbols: int) -> Callable[[], bool]:
    """True once ``collectors`` connections are live and carry ``symbols`` symbols between them."""
    return lambda: len(fake.live()) >= collectors and sum(len(sub.streams) for sub in fake.live()) >= symbols


def made_from_first_stored(fake: FakeBinance, stored: dict[str, list[int]]) -> dict[str, list[int]]:
    """Every id the fake made from the first stored trade of each symbol on."""
    return {s: [i for i in fake.ledger.ids(s) if i >= ids[0]] for s, ids in stored.items() if ids}


def health_tags(settings: InfluxSettings) -> set[tuple[str, str]]:
    """The (instance, shard) tag pairs of the health points in the bucket."""
    values = {"bucket": settings.bucket, "measurement": model.HEALTH_MEASUREMENT}
    with connect(settings) as client:
        tables = client.query_api().query(HEALTH_TAGS, params=flux.params(values))
    return {(str(r.values["instance"]), str(r.values["shard"])) for t in tables for r in t.records}


def copy(settings: InfluxSettings, fake: FakeBinance, folder: Path, name: str, *options: str) -> CollectorProcess:
    """One collector of the pair symbols with its own spool, checkpoint and health instance."""
    return CollectorProcess(
        settings, fake, folder / name, "--instance", name, "--health-interval", "1", *options, symbols=PAIR_SYMBOLS
    )


async def test_a_pair_one_copy_killed_for_good_the_other_dropped_once_stores_every_trade_once(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    first, second = copy(settings, fake, tmp_path, "copy-a"), copy(settings, fake, tmp_path, "copy-b")
    await first.start()
    await second.start()
    await until(connected(fake, 2, 2 * len(PAIR_SYMBOLS)), what="both copies subscribed")
    playing = asyncio.create_task(fake.play(Scenario(count=30_000, rate=RATE, burst_every=5_000, burst_size=300)))
    await asyncio.sleep(3.0)
    await first.stop(signal.SIGKILL)  # never restarted: its unconfirmed writes die with it
    await asyncio.sleep(3.0)
    assert len(fake.live()) == 1
    fake.drop_connections(refuse_for_s=1.0)  # the survivor's sockets: trades go by that no copy sees live
    await playing

    def done() -> bool:
        stored = stored_ids_by_symbol(settings)
        return set(stored) == set(PAIR_SYMBOLS) and stored == made_from_first_stored(fake, stored)

    await until(done, what="every trade since each symbol's first stored one")
    await second.stop()
    stored = await asyncio.to_thread(stored_ids_by_symbol, settings)
    points = await asyncio.to_thread(stored_count, settings, model.MEASUREMENT, model.FIELD_TRADE_ID)

    assert stored == made_from_first_stored(fake, stored)
    assert points == sum(len(set(ids)) for ids in stored.values()), "one point per trade id: no duplicates"
    assert second.logged("stream closed") and second.logged("ids repaired"), "the drop was repaired from REST"
    assert {instance for instance, _ in await asyncio.to_thread(health_tags, settings)} == {"copy-a", "copy-b"}


async def test_three_shards_over_twelve_symbols_one_killed_and_restarted_store_every_trade_once(
    settings: InfluxSettings, twelve: FakeBinance, tmp_path: Path
) -> None:
    fake = twelve

    def shard(k: int) -> CollectorProcess:
        options = ("--instance", f"shard-{k}", "--health-interval", "1")
        collector = CollectorProcess(settings, fake, tmp_path / f"shard-{k}", *options, symbols=TWELVE)
        if k == 2:
            collector.env["PRICECAP_SHARD"] = "2/3"  # as the systemd and Kubernetes units give it
        else:
            collector.args += ["--shard", f"{k}/3"]
        return collector

    shards = [shard(k) for k in range(3)]
    for collector in shards:
        await collector.start()
    await until(connected(fake, 3, len(TWELVE)), what="the three shards subscribed")
    playing = asyncio.create_task(fake.play(Scenario(count=36_000, rate=RATE, burst_every=6_000, burst_size=200)))
    await asyncio.sleep(3.0)
    await shards[1].stop(signal.SIGKILL)
    await asyncio.sleep(2.0)  # its symbols trade while it is down
    restarted = shard(1)
    await restarted.start()
    await playing
    wanted = {s: fake.ledger.ids(s) for s in TWELVE}
    await until(lambda: stored_ids_by_symbol(settings) == wanted, what="every id of the twelve symbols")
    for collector in (shards[0], restarted, shards[2]):
        await collector.stop()
    stored = await asyncio.to_thread(stored_ids_by_symbol, settings)

    assert stored == wanted, "every id stored, exactly once"
    started = [c.logged("collector started")[0] for c in (shards[0], restarted, shards[2])]
    assert [entry["shard"] for entry in started] == ["0/3", "1/3", "2/3"]
    assert [entry["symbols"] for entry in started] == [len(Shard(k, 3).select(TWELVE)) for k in range(3)]
    assert sum(int(str(entry["symbols"])) for entry in started) == len(TWELVE), "disjoint shards cover them all"
    assert shards[1].logged("collector started")[0]["shard"] == "1/3"
    assert restarted.logged("resuming after the last durable trades")
    tags = await asyncio.to_thread(health_tags, settings)
    assert tags == {("shard-0", "0/3"), ("shard-1", "1/3"), ("shard-2", "2/3")}


BACKLOG_PER_SYMBOL = 100_000
"""Trades each collector repairs at start-up: about 3,300 weight of REST pages (historicalTrades for the
aggregates of several trades); the three need about 10,000, more than the IP's 6,000 a minute, so the repair
spans two minutes of Binance's."""


@pytest.mark.timeout(900)  # two or three calendar minutes of REST weight, on a machine shared with other work
async def test_three_collectors_behind_one_ip_repair_a_backlog_without_a_429(
    settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    symbols = PAIR_SYMBOLS
    fake.rest.latency_s = 0.2  # requests in flight when the IP's count nears its limit, as on Binance
    for symbol in symbols:  # one price: the trades of a millisecond aggregate, so historicalTrades pages are read
        fake.ledger.markets[symbol].step_cents = 0
    fake.prepare(Scenario(count=BACKLOG_PER_SYMBOL * len(symbols), rate=1e6))
    first_ids = {s: fake.ledger.ids(s)[0] for s in symbols}
    lines = [model.encode_trade(trade(fake, s, first_ids[s])) for s in symbols]
    with connect(settings) as client:  # each symbol resumes after its first trade, stored before any collector starts
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(lines))
    while time.time() % 60 > 30:  # every collector's first minute of REST requests is one minute of Binance's
        await asyncio.sleep(0.5)
    shares = ("1", "1", "0.9")  # 2.9 in all: each may take (nearly) the IP's whole budget
    collectors = [
        CollectorProcess(settings, fake, tmp_path / s, "--instance", s, "--rest-weight-share", share, symbols=[s])
        for s, share in zip(symbols, shares, strict=True)
    ]
    for collector in collectors:
        await collector.start()
    wanted = {s: fake.ledger.ids(s) for s in symbols}
    await until(lambda: stored_ids_by_symbol(settings) == wanted, timeout_s=600, what="the backlog repaired")
    for collector in collectors:
        await collector.stop()
        assert collector.logged("resuming after the last durable trades")
    print(f"REST weight {fake.rest.weight_spent}, per IP and minute {fake.rest.ips}")

    assert await asyncio.to_thread(stored_ids_by_symbol, settings) == wanted
    assert fake.rest.weight_spent > 6_000, "more than one minute of the IP's weight was needed"
    assert fake.rest.status_counts.get(429, 0) == 0, "no 429 for the IP"
    assert fake.rest.status_counts.get(418, 0) == 0
    assert not any(c.logged("binance rate limit") for c in collectors)


def trade(fake: FakeBinance, symbol: str, trade_id: int) -> model.Trade:
    made = fake.ledger.markets[symbol].trade(trade_id)
    return model.Trade(symbol, made.id, made.price, made.qty, made.time_ms, made.buyer_maker)


@contextmanager
def another_bucket(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    with connect(server_settings) as client:
        bucket = client.buckets_api().create_bucket(bucket_name=name, org=server_settings.org)
        try:
            yield server_settings.model_copy(update={"bucket": name})
        finally:
            client.buckets_api().delete_bucket(bucket)


async def test_answers_are_the_same_whichever_copy_wrote_a_trade(
    settings: InfluxSettings, server_settings: InfluxSettings, fake: FakeBinance, tmp_path: Path
) -> None:
    with another_bucket(server_settings) as single:
        pair = [copy(settings, fake, tmp_path, "pair-a"), copy(settings, fake, tmp_path, "pair-b")]
        alone = copy(single, fake, tmp_path, "alone")
        for collector in (*pair, alone):
            await collector.start()
        await until(connected(fake, 3, 3 * len(PAIR_SYMBOLS)), what="three collectors subscribed")
        playing = asyncio.create_task(fake.play(Scenario(count=12_000, rate=RATE, burst_every=3_000, burst_size=100)))
        await asyncio.sleep(2.0)
        await pair[0].stop(signal.SIGKILL)  # from here on only pair-b writes the pair's bucket
        await playing
        wanted = {s: fake.ledger.ids(s) for s in PAIR_SYMBOLS}
        both = (settings, single)
        await until(lambda: all(stored_ids_by_symbol(b) == wanted for b in both), what="every trade in both buckets")
        await pair[1].stop()
        await alone.stop()
        answers = [await asyncio.to_thread(query_answers, fake, bucket) for bucket in (settings, single)]
        stored = [[stored_trades(bucket, s) for s in PAIR_SYMBOLS] for bucket in (settings, single)]

    assert stored[0] == stored[1], "the same points, field for field"
    assert answers[0] == answers[1]
    assert len(answers[0]) == len(PAIR_SYMBOLS) * (INSTANTS + RANGES)


INSTANTS, RANGES = 40, 8


def query_answers(fake: FakeBinance, settings: InfluxSettings) -> list[object]:
    """price-at at trade times and between them, and high-low over ranges, for every pair symbol."""
    answers: list[object] = []
    with Prices(settings) as prices:
        for symbol in PAIR_SYMBOLS:
            times = fake.ledger.markets[symbol].times
            first, last = times[0] * model.NS_PER_MS, (times[-1] + 1) * model.NS_PER_MS
            step = (last - first) // INSTANTS
            answers += [prices.price_at(symbol, first + i * step + i) for i in range(1, INSTANTS + 1)]
            span = (last - first) // RANGES
            answers += [prices.high_low(symbol, first + i * span, first + (i + 1) * span) for i in range(RANGES)]
    return answers


async def test_two_shards_split_the_symbols_listed_while_they_run(settings: InfluxSettings) -> None:
    """--all-symbols with --symbols-refresh: each new listing goes to exactly one of the shards."""
    async with FakeBinance([f"OLD{i}USDT" for i in range(4)], first_id=1_000) as fake:
        shards = [
            Collector(config(fake, symbols=(), all_symbols=True, symbols_refresh_s=0.5, shard=Shard(k, 2)), settings)
            for k in range(2)
        ]
        stop = asyncio.Event()
        running = [asyncio.create_task(collector.run(stop)) for collector in shards]
        await until(connected(fake, 2, 4), what="both shards subscribed")
        playing = asyncio.create_task(fake.play(Scenario(count=8_000, rate=2_000)))
        await asyncio.sleep(1.0)
        for i in range(6):
            fake.ledger.list_symbol(f"NEW{i}USDT", first_id=77)  # trades at once, before either shard knows of it
        await playing
        made = {s: fake.ledger.ids(s) for s in fake.ledger.markets}
        await until(lambda: stored_ids_by_symbol(settings) == made, what="every trade of every symbol")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*running), 60)

    assert stored_ids_by_symbol(settings) == made
    taken = [set(collector.symbols) for collector in shards]
    assert taken[0] | taken[1] == set(made) and not taken[0] & taken[1]
    assert all(Shard(k, 2).select(sorted(made)) == sorted(taken[k]) for k in range(2))
