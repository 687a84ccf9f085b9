"""The data watchdog: silence limits that follow each connection's rate, and REST as the judge of a silence."""

from __future__ import annotations

from collector import binance
from collector.pipeline import TradePipeline
from collector.rest import BinanceRest
from collector.stats import Stats
from collector.stream import Connection
from collector.watchdog import MAX_SILENCE_S, MIN_SILENCE_S, SWEEP_EVERY_S, SWEEP_GRACE_S, Silence, Watchdog
from fake_binance import FakeBinance, Scenario
from tests.test_repair import live


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


async def test_one_ticker_request_finds_a_hole_at_the_end_of_one_quiet_stream_among_1600() -> None:
    symbols = [f"S{i:04d}USDT" for i in range(1_600)]
    hidden = symbols[-1]
    async with FakeBinance(symbols, first_id=100) as fake:
        fake.prepare(Scenario(count=3 * len(symbols), rate=100_000))  # ids 100..102 of every symbol
        pipeline = TradePipeline(symbols)
        for symbol in symbols:  # the stream delivered every trade, but the last two of one symbol
            pipeline.resume_after(symbol, 100 if symbol == hidden else 102)
            pipeline.add_backfilled(symbol, [], complete=True)
        rest, stats = BinanceRest(fake.rest_url), Stats(pipeline.states)
        watchdog = Watchdog([], lambda: pipeline, rest, stats, lambda: False)
        await watchdog._sweep(0.0, paused=False)  # silence starts being counted
        await watchdog._sweep(SWEEP_GRACE_S - 1, paused=False)
        asked_early = len(fake.rest.requests)
        await watchdog._sweep(SWEEP_GRACE_S, paused=False)  # every symbol silent: one request for all
        await watchdog._sweep(2 * SWEEP_GRACE_S - 1, paused=False)
        missing_before_the_grace = stats.ids_missing()
        await watchdog._sweep(2 * SWEEP_GRACE_S + 1, paused=False)
        missing = {s: state.missing for s, state in pipeline.states.items() if state.missing}
        await watchdog._sweep(SWEEP_EVERY_S, paused=False)  # not due again yet
        requests = fake.rest.requests[:]
        rest.close()
    assert asked_early == 0, "no symbol silent long enough to ask"
    assert requests == [binance.TICKER_24H_PATH] and fake.rest.weight_spent == 80
    assert missing_before_the_grace == 0, "the stream has until the grace is over to deliver REST's newest id"
    assert missing == {hidden: [[101, 102]]}
    assert stats.ids_missing() == 2 and stats.freshness_catch_ups == 1
    assert pipeline.states[hidden].last_id == 102 and pipeline.states[hidden].needs_repair()


async def test_an_id_the_stream_delivers_within_the_grace_or_a_paused_stream_is_no_gap() -> None:
    async with FakeBinance(["BTCUSDT", "ETHUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=4, rate=1_000))  # ids 100 and 101 of each
        pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"])
        for symbol in ("BTCUSDT", "ETHUSDT"):
            pipeline.resume_after(symbol, 100)
            pipeline.add_backfilled(symbol, [], complete=True)
        rest, stats = BinanceRest(fake.rest_url), Stats(pipeline.states)
        watchdog = Watchdog([], lambda: pipeline, rest, stats, lambda: False)
        await watchdog._sweep(0.0, paused=False)
        await watchdog._sweep(SWEEP_GRACE_S, paused=False)
        assert pipeline.add(live(fake.ledger.markets["BTCUSDT"].trade(101)))  # delivered within the grace
        await watchdog._sweep(SWEEP_GRACE_S + 1, paused=True)  # reading paused: the answer proves nothing
        await watchdog._sweep(2 * SWEEP_GRACE_S + 1, paused=False)
        rest.close()
    assert fake.rest.requests == [binance.TICKER_24H_PATH]
    assert stats.ids_missing() == 0 and stats.freshness_catch_ups == 0


async def test_a_symbol_whose_connection_is_down_is_left_to_catch_up_when_it_is_back() -> None:
    async with FakeBinance(["BTCUSDT", "ETHUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=4, rate=1_000))  # ids 100 and 101 of each
        pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"])
        for symbol in ("BTCUSDT", "ETHUSDT"):  # the stream delivered 100 of each, not 101
            pipeline.resume_after(symbol, 100)
            pipeline.add_backfilled(symbol, [], complete=True)
        down = SilentConnection(["ETHUSDT"])
        down.connected_at = None
        rest, stats = BinanceRest(fake.rest_url), Stats(pipeline.states)
        watchdog = Watchdog([down], lambda: pipeline, rest, stats, lambda: False)
        for now in (0.0, SWEEP_GRACE_S, 2 * SWEEP_GRACE_S + 1):
            await watchdog._sweep(now, paused=False)
        rest.close()
    assert {s: state.missing for s, state in pipeline.states.items()} == {"BTCUSDT": [[101, 101]], "ETHUSDT": []}
