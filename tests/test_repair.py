"""The repairer against the fake exchange's REST API (no InfluxDB): what it asks, and what it takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from collector import binance
from collector.decode import TradeEvent
from collector.pipeline import TradePipeline
from collector.repair import Repairer
from collector.rest import BinanceRest
from fake_binance import FakeBinance, Scenario
from fake_binance.ledger import Trade

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


async def repair_until_done(
    pipeline: TradePipeline, rest: BinanceRest, flush: Callable[[], None], give_up_after_s: float = 300.0
) -> Repairer:
    """Run a repairer until no symbol needs repair (or 30 s have passed: the assertions then show what is left)."""
    stop = asyncio.Event()
    repairer = Repairer(lambda: pipeline, rest, flush, settle_s=0.0, give_up_after_s=give_up_after_s)
    repairing = asyncio.create_task(repairer.run(stop))
    for _ in range(300):
        if not any(state.needs_repair() for state in pipeline.states.values()):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await repairing
    return repairer


def taken_ids(pipeline: TradePipeline) -> list[int]:
    """The trade ids of the trade lines the pipeline has buffered."""
    chunk = pipeline.take_chunk()
    lines = [] if chunk is None else [line for line in chunk.lines[1:] if line.startswith("trades,")]
    return [int(line.split("trade_id=")[1].split("i")[0]) for line in lines]


def live(trade: Trade) -> TradeEvent:
    """A trade of the fake's ledger as the stream delivers it."""
    return TradeEvent(trade.symbol, trade.id, trade.price, trade.qty, trade.time_ms, trade.buyer_maker)


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
        reconnected: list[str] = []

        async def reconnect_meanwhile(symbol: str) -> int | None:
            answer = await asked(symbol)
            if not reconnected:  # the first answer (the two symbols are asked at once)
                reconnected.append(symbol)
                pipeline.catch_up([symbol])  # trades may have gone by after the answer
            return answer

        rest.latest_id = reconnect_meanwhile  # type: ignore[method-assign]
        await repair_until_done(pipeline, rest, lambda: None)
        rest.close()

    assert fake.rest.requests.count(binance.AGG_TRADES_PATH) == 3  # the first symbol was asked twice
    assert not any(state.catching_up for state in pipeline.states.values())


async def test_ids_that_rest_has_not_caught_up_with_are_waited_for() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        fake.prepare(Scenario(count=50, rate=1_000))
        fake.rest.lag_s = 3.0  # REST shows none of the 50 trades for 3 s
        market = fake.ledger.markets["BTCUSDT"]
        pipeline = TradePipeline(["BTCUSDT"])
        pipeline.add(live(market.trade(5_000)))
        pipeline.add(live(market.trade(5_049)))  # 5,001..5,048 missed
        rest = BinanceRest(fake.rest_url)
        repairer = await repair_until_done(pipeline, rest, lambda: None)
        rest.close()
    assert repairer.unrepairable == 0
    assert taken_ids(pipeline) == [5_000, 5_049, *range(5_001, 5_049)]
    # the time of 5,000 is known from the stream: aggTrades pages (weight 4) from it, asked again while empty
    assert fake.rest.requests.count(binance.AGG_TRADES_PATH) > 1, "the first page came back empty"


async def test_ids_rest_pages_start_past_are_given_up_only_after_the_span() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        fake.prepare(Scenario(count=10, rate=1_000))  # REST has 5,000..5,009 and nothing older
        market = fake.ledger.markets["BTCUSDT"]
        pipeline = TradePipeline(["BTCUSDT"])
        head = live(market.trade(5_000))
        pipeline.add(TradeEvent(head.s, 4_990, head.p, head.q, head.T, head.m))
        pipeline.add(live(market.trade(5_005)))  # 4,991..5,004 missed, of which REST never had 4,991..4,999
        rest = BinanceRest(fake.rest_url)
        started = time.monotonic()
        repairer = await repair_until_done(pipeline, rest, lambda: None, give_up_after_s=2.0)
        rest.close()
    assert time.monotonic() - started >= 2.0
    assert fake.rest.requests.count(binance.AGG_TRADES_PATH) >= 3, "asked again over the span"
    assert repairer.unrepairable == 9
    assert taken_ids(pipeline) == [4_990, 5_005, *range(5_000, 5_005)]


async def test_single_trade_aggregates_are_exact_and_only_runs_of_several_cost_a_trades_page() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100) as fake:
        fake.ledger.markets["BTCUSDT"].step_cents = 0  # one price: same-side runs within a millisecond aggregate
        fake.prepare(Scenario(count=3_000, rate=20_000))
        market = fake.ledger.markets["BTCUSDT"]
        pipeline = TradePipeline(["BTCUSDT"])
        pipeline.add(live(market.trade(100)))
        pipeline.add(live(market.trade(3_099)))  # 101..3,098 missed
        rest = BinanceRest(fake.rest_url)
        repairer = await repair_until_done(pipeline, rest, lambda: None)
        rest.close()
    assert sorted(taken_ids(pipeline)) == fake.ledger.ids("BTCUSDT")
    assert repairer.unrepairable == 0
    aggregate_pages = fake.rest.requests.count(binance.AGG_TRADES_PATH)
    assert 1 <= aggregate_pages <= 3, "1,000 aggregates a page (weight 4)"
    # runs of several are read a historicalTrades page per 1,000 ids they span, per aggregates page
    assert 1 <= fake.rest.requests.count(binance.HISTORICAL_TRADES_PATH) <= aggregate_pages + 3


async def test_without_historical_trades_only_old_runs_of_several_are_lost_and_counted() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100, data_api=True) as fake:
        fake.ledger.markets["BTCUSDT"].step_cents = 0
        fake.prepare(Scenario(count=3_000, rate=20_000))
        market = fake.ledger.markets["BTCUSDT"]
        pipeline = TradePipeline(["BTCUSDT"])
        pipeline.add(live(market.trade(200)))
        pipeline.add(live(market.trade(400)))  # 201..399 missed, older than the newest 1,000 trades
        rest = BinanceRest(fake.rest_url)
        aggregates = await rest.agg_trades("BTCUSDT", start_ms=market.trade(200).time_ms)
        repairer = await repair_until_done(pipeline, rest, lambda: None)
        rest.close()
    in_runs = {i for a in aggregates if a.f < a.l for i in range(max(a.f, 201), min(a.l, 399) + 1)}
    assert in_runs, "the scenario makes runs of several trades"
    assert sorted(taken_ids(pipeline)) == sorted({200, 400, *range(201, 400)} - in_runs)
    assert repairer.unrepairable == len(in_runs)
    assert not pipeline.states["BTCUSDT"].needs_repair()


async def test_a_restart_without_historical_trades_finds_its_place_by_probing_back_in_time() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100, data_api=True) as fake:
        market = fake.ledger.markets["BTCUSDT"]
        now_ms = int(time.time() * 1000)
        for i in range(3_000):  # one trade every 100 ms over the last 5 minutes
            market.make(now_ms - 300_000 + i * 100)
        pipeline = TradePipeline(["BTCUSDT"])
        pipeline.resume_after("BTCUSDT", 1_099)  # stored up to 1,099 (4 minutes ago); no time known
        rest = BinanceRest(fake.rest_url)
        repairer = await repair_until_done(pipeline, rest, lambda: None)
        rest.close()
    assert taken_ids(pipeline) == list(range(1_100, 3_100))
    assert repairer.unrepairable == 0
    assert fake.rest.status_counts.get(404) == 1
