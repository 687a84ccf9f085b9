"""The data watchdog: silence limits that follow each connection's rate, and REST as the judge of a silence."""

from __future__ import annotations

import asyncio

from collector.pipeline import TradePipeline
from collector.rest import BinanceRest
from collector.stats import Stats
from collector.stream import Connection
from collector.watchdog import MAX_SILENCE_S, MIN_SILENCE_S, Silence, Watchdog
from fake_binance import FakeBinance, Scenario


def learnt(rate_per_s: float, seconds: int = 120) -> Silence:
    """A connection's silence record after ``seconds`` of messages at ``rate_per_s``."""
    silence = Silence()
    for second in range(seconds + 1):
        silence.observe(int(rate_per_s * second), connected_at=0.0, paused=False, now=float(second))
    return silence


def test_the_silence_limit_follows_the_connection_s_usual_rate() -> None:
    assert Silence().limit_s() == MAX_SILENCE_S, "nothing learnt yet: the longest wait"
    assert learnt(2_000).limit_s() == MIN_SILENCE_S, "a busy connection: seconds"
    assert learnt(0.1).limit_s() == 200.0, "a quiet connection: twenty usual intervals"
    busy = learnt(2_000)
    assert not busy.suspicious(125.0) and busy.suspicious(130.0)
    busy.observe(busy.frames, connected_at=0.0, paused=True, now=200.0)
    assert not busy.suspicious(205.0), "reading paused by backpressure is not silence"


class SilentConnection(Connection):
    """A connection that only records being replaced."""

    def __init__(self, symbols: list[str]) -> None:  # no connection at all
        self.index, self.symbols, self.frames, self.connected_at = 0, symbols, 0, 0.0
        self.recycled: list[str] = []

    async def recycle(self, cause: str) -> None:
        self.recycled.append(cause)


async def test_a_quiet_market_keeps_its_connection_and_a_stalled_one_is_replaced() -> None:
    async with FakeBinance(["BTCUSDT", "ETHUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=20, rate=1_000))
        pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"])
        for symbol in ("BTCUSDT", "ETHUSDT"):
            pipeline.resume_after(symbol, fake.ledger.ids(symbol)[-1])  # the stream delivered everything
        connection, rest = SilentConnection(["BTCUSDT", "ETHUSDT"]), BinanceRest(fake.rest_url)
        watchdog = Watchdog([connection], lambda: pipeline, rest, Stats(pipeline.states), lambda: False)
        silence = watchdog.silences[0]
        await watchdog._prove(connection, silence, 1_000.0)
        quiet = (connection.recycled[:], silence.quiet_waits, silence.stalled)
        fake.prepare(Scenario(count=4, rate=1_000))  # trades the stream did not deliver
        await watchdog._prove(connection, silence, 2_000.0)
        rest.close()
    assert quiet == ([], 1, False), "REST showed no newer trade: no reconnect, and a longer wait next time"
    assert connection.recycled == ["silent"] and silence.stalled


async def test_a_silent_symbol_that_rest_shows_newer_trades_of_catches_up() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=10, rate=1_000))
        pipeline = TradePipeline(["BTCUSDT"])
        pipeline.resume_after("BTCUSDT", 105)
        pipeline.add_backfilled("BTCUSDT", [], complete=True)  # caught up, as far as it knows
        rest, stats = BinanceRest(fake.rest_url), Stats(pipeline.states)
        watchdog = Watchdog([], lambda: pipeline, rest, stats, lambda: False)
        await watchdog._freshness(0.0)  # silence starts being counted
        await watchdog._freshness(59.0)
        asked_early = len(fake.rest.requests)
        await watchdog._freshness(61.0)
        rest.close()
        await asyncio.sleep(0)
    assert asked_early == 0, "not silent long enough to ask"
    assert stats.freshness_catch_ups == 1 and pipeline.states["BTCUSDT"].catching_up
