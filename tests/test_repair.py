"""The repairer against the fake exchange's REST API (no InfluxDB): what it asks, and what it takes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from collector import binance
from collector.pipeline import TradePipeline
from collector.repair import Repairer
from collector.rest import BinanceRest
from fake_binance import FakeBinance, Scenario

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


async def repair_until_done(pipeline: TradePipeline, rest: BinanceRest, flush: Callable[[], None]) -> None:
    """Run a repairer until no symbol needs repair (or 30 s have passed: the assertions then show what is left)."""
    stop = asyncio.Event()
    repairing = asyncio.create_task(Repairer(lambda: pipeline, rest, flush, settle_s=0.0).run(stop))
    for _ in range(300):
        if not any(state.needs_repair() for state in pipeline.states.values()):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await repairing


async def test_a_quiet_market_costs_one_cheap_question_and_a_market_that_moved_is_fetched() -> None:
    async with FakeBinance(SYMBOLS, first_id=5_000) as fake:
        fake.prepare(Scenario(count=60, rate=1_000))
        made = {s: fake.ledger.ids(s) for s in SYMBOLS}
        pipeline = TradePipeline(SYMBOLS)
        pipeline.resume_after("BTCUSDT", made["BTCUSDT"][-1])  # quiet since: nothing to fetch
        pipeline.resume_after("ETHUSDT", made["ETHUSDT"][-6])  # five trades went by
        taken: list[str] = []

        def flush() -> None:
            chunk = pipeline.take_chunk()
            assert chunk is not None
            taken.extend(chunk.lines[1:])

        rest = BinanceRest(fake.rest_url)
        await repair_until_done(pipeline, rest, flush)
        rest.close()

    assert fake.rest.requests.count(binance.AGG_TRADES_PATH) == 2
    assert fake.rest.requests.count(binance.HISTORICAL_TRADES_PATH) == 1
    assert [int(line.split("trade_id=")[1].split("i")[0]) for line in taken] == made["ETHUSDT"][-5:]
    assert {s: state.watermark() for s, state in pipeline.states.items()} == {s: ids[-1] for s, ids in made.items()}


async def test_a_reconnect_while_the_question_is_asked_asks_again() -> None:
    async with FakeBinance(SYMBOLS, first_id=5_000) as fake:
        fake.prepare(Scenario(count=20, rate=1_000))
        pipeline = TradePipeline(SYMBOLS)
        for symbol in SYMBOLS:
            pipeline.resume_after(symbol, fake.ledger.ids(symbol)[-1])
        rest = BinanceRest(fake.rest_url)
        asked = rest.latest_id

        async def reconnect_meanwhile(symbol: str) -> int | None:
            answer = await asked(symbol)
            if fake.rest.requests.count(binance.AGG_TRADES_PATH) == 1:
                pipeline.catch_up([symbol])  # trades may have gone by after the answer
            return answer

        rest.latest_id = reconnect_meanwhile  # type: ignore[method-assign]
        await repair_until_done(pipeline, rest, lambda: None)
        rest.close()

    assert fake.rest.requests.count(binance.AGG_TRADES_PATH) == 3  # the first symbol was asked twice
    assert not any(state.catching_up for state in pipeline.states.values())
