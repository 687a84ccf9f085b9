"""The collector at exchange scale (issue 17): big shards, symbols that come and go, a full drop of 1,600
symbols, a data source without historicalTrades. Fake Binance -> the real collector -> the real influxd; exact
sets of trade ids."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector import binance
from collector.service import Collector
from fake_binance import FakeBinance, Scenario
from pricecap.settings import InfluxSettings
from tests.helpers import stored_ids_by_symbol
from tests.test_collector import config

pytestmark = pytest.mark.integration


async def stored_when(settings: InfluxSettings, done: object, timeout_s: float = 60.0) -> dict[str, list[int]]:
    """The stored ids per symbol once ``done(stored)`` holds (or after ``timeout_s``: the test's asserts then
    show what is missing)."""
    assert callable(done)
    deadline = time.monotonic() + timeout_s
    while True:
        stored = await asyncio.to_thread(stored_ids_by_symbol, settings)
        if done(stored) or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.5)


def made(fake: FakeBinance) -> dict[str, list[int]]:
    return {s: fake.ledger.ids(s) for s, m in fake.ledger.markets.items() if m.times}


async def test_a_shard_above_the_url_limit_subscribes_the_rest_on_the_open_connection(
    settings: InfluxSettings,
) -> None:
    symbols = ["币安人生USDT", *(f"S{i:04d}USDT" for i in range(798)), "ÉTÉUSDT"]
    async with FakeBinance(symbols, first_id=10) as fake:
        url, rest = binance.url_and_rest(fake.ws_url, symbols)
        assert len(url) <= binance.MAX_STREAM_URL_CHARS < len(binance.combined_stream_url(fake.ws_url, symbols))
        assert "ÉTÉUSDT" in rest
        collector = Collector(config(fake, symbols=tuple(symbols), streams_per_connection=800), settings)
        stop = asyncio.Event()
        running = asyncio.create_task(collector.run(stop))
        await fake.wait_for_subscribers(len(symbols))
        for _ in range(100):  # LIST_SUBSCRIPTIONS confirms every stream
            if collector.health()[1]["streams_unsubscribed"] == 0:
                break
            await asyncio.sleep(0.1)
        assert collector.health()[1]["streams_unsubscribed"] == 0
        await fake.play(Scenario(count=8_000, rate=8_000))
        stored = await stored_when(settings, lambda s: s == made(fake))
        stop.set()
        await asyncio.wait_for(running, 60)

    assert fake.connections_made == 1
    assert stored == made(fake)
    assert len(stored) == 800


async def test_a_symbol_listed_and_one_leaving_trading_while_running(settings: InfluxSettings) -> None:
    async with FakeBinance(["BTCUSDT", "ETHUSDT", "OLDUSDT"], first_id=1_000) as fake:
        collector = Collector(config(fake, symbols=(), all_symbols=True, symbols_refresh_s=0.5), settings)
        stop = asyncio.Event()
        running = asyncio.create_task(collector.run(stop))
        await fake.wait_for_subscribers(3)
        playing = asyncio.create_task(fake.play(Scenario(count=6_000, rate=2_000)))
        await asyncio.sleep(1.0)
        fake.ledger.list_symbol("新币USDT", first_id=77)  # trades at once, before the collector knows of it
        await asyncio.sleep(1.0)
        fake.ledger.markets["OLDUSDT"].status = "BREAK"
        await playing

        def done(stored: dict[str, list[int]]) -> bool:
            subscribed = {s for sub in fake.live() for s in sub.streams}
            return stored == made(fake) and "oldusdt@trade" not in subscribed

        stored = await stored_when(settings, done)
        subscribed = {s for sub in fake.live() for s in sub.streams}
        stop.set()
        await asyncio.wait_for(running, 60)

    assert stored == made(fake)
    assert stored["新币USDT"][0] == 77
    assert "新币usdt@trade" in subscribed
    assert "oldusdt@trade" not in subscribed
    assert collector.repairer.unrepairable == 0
