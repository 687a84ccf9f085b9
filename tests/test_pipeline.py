"""The pipeline: validation, repeats, gaps and chunks, without I/O."""

from __future__ import annotations

from collector.decode import TradeEvent
from collector.pipeline import Gap, TradePipeline, chunk_numbers, lowest_ids
from collector.repair import next_request

T0 = 1_732_500_000_000


def trade(trade_id: int, symbol: str = "BTCUSDT", price: str = "97000.10", time_ms: int = T0) -> TradeEvent:
    return TradeEvent(s=symbol, t=trade_id, p=price, q="0.5", T=time_ms, m=False)


def test_chunks_carry_a_marker_the_lines_and_the_accounting() -> None:
    pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"], chunk_lines=3)
    for i in range(1, 4):
        assert pipeline.add(trade(i, time_ms=T0 + i))
    assert pipeline.full()
    chunk = pipeline.take_chunk()
    assert chunk is not None
    assert chunk.size == 3
    assert chunk.lines[0] == "# pricecap-chunk 1"
    assert chunk.lines[1] == (
        f"trades,exchange=binance,symbol=BTCUSDT price=97000.10,qty=0.5,trade_id=1i,buyer_maker=false {T0 + 1}000001"
    )
    assert chunk.counts == {"BTCUSDT": 3}
    assert (chunk.first_time_ms, chunk.last_time_ms) == (T0 + 1, T0 + 3)
    assert pipeline.take_chunk() is None
    pipeline.add(trade(7, "ETHUSDT"))
    second = pipeline.take_chunk()
    assert second is not None and second.number == 2
    assert chunk_numbers(chunk.body() + "\n" + second.body()) == [1, 2]


def test_repeats_are_dropped_and_gaps_reported() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    for trade_id in (10, 11, 11, 9, 15, 16, 20):
        pipeline.add(trade(trade_id))
    assert pipeline.duplicates == 2
    assert pipeline.take_gaps() == [Gap("BTCUSDT", 12, 14), Gap("BTCUSDT", 17, 19)]
    assert pipeline.take_gaps() == []
    chunk = pipeline.take_chunk()
    assert chunk is not None and chunk.size == 5


def test_resume_after_the_last_stored_id() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    pipeline.resume_after("BTCUSDT", 100)
    assert pipeline.states["BTCUSDT"].catching_up
    assert not pipeline.add(trade(100))
    assert pipeline.add(trade(103))
    assert pipeline.take_gaps() == [Gap("BTCUSDT", 101, 102)]
    assert Gap("BTCUSDT", 101, 102).size == 2
    assert pipeline.states["BTCUSDT"].missing == [[101, 102]]


def test_a_gap_at_the_end_that_rest_shows_and_a_late_stream_filling_part_of_it() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    pipeline.add(trade(10, time_ms=T0 + 10))
    state = pipeline.states["BTCUSDT"]
    assert not pipeline.behind("BTCUSDT", 10), "REST shows nothing newer"
    assert pipeline.behind("BTCUSDT", 13)
    assert (state.last_id, state.missing, state.times) == (13, [[11, 13]], {10: T0 + 10})
    assert pipeline.take_gaps() == [Gap("BTCUSDT", 11, 13)]
    assert pipeline.add(trade(12)), "the stream was only slow: its trade fills the gap"
    assert not pipeline.add(trade(12)) and pipeline.duplicates == 1
    assert state.missing == [[11, 11], [13, 13]] and state.received == 2
    assert pipeline.add(trade(14)) and state.last_id == 14
    pipeline.catch_up(["BTCUSDT"])
    assert not pipeline.behind("BTCUSDT", 20), "catching up reads on to the present anyway"
    chunk = pipeline.take_chunk()
    assert chunk is not None and chunk.first_ids == {"BTCUSDT": 10} and chunk.counts == {"BTCUSDT": 3}


def test_bad_trades_are_counted_and_never_encoded() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    assert not pipeline.add(trade(1, symbol="DOGEUSDT"))
    assert not pipeline.add(trade(2, price="1e5"))
    assert not pipeline.add(trade(3, price="0.00000000"))
    assert not pipeline.add(trade(4, time_ms=T0 * 1000))  # microseconds, not milliseconds
    assert pipeline.rejected == {"unexpected_symbol": 1, "bad_number": 2, "bad_time_or_id": 1}
    assert pipeline.take_chunk() is None
    assert pipeline.states["BTCUSDT"].last_id is None


def test_backfill_takes_exactly_the_missing_ids_and_moves_the_watermark() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    state = pipeline.states["BTCUSDT"]
    for trade_id in (10, 11, 15, 16, 20):
        pipeline.add(trade(trade_id))
    assert state.missing == [[12, 14], [17, 19]]
    assert state.watermark() == 11
    assert next_request(state) == (12, 3)
    backfill = [trade(i) for i in (11, 12, 13, 14, 15)] + [trade(18, price="nan")]
    assert pipeline.add_backfilled("BTCUSDT", backfill, complete=False) == 3
    assert pipeline.rejected == {"bad_number": 1}
    assert (state.missing, state.watermark(), state.repaired) == ([[17, 19]], 16, 3)
    assert pipeline.add_backfilled("BTCUSDT", [trade(18)], complete=False) == 1
    assert state.missing == [[17, 17], [19, 19]]
    pipeline.add_backfilled("BTCUSDT", [trade(17), trade(19)], complete=False)
    assert (state.missing, state.watermark(), state.needs_repair()) == ([], 20, False)
    chunk = pipeline.take_chunk()
    assert chunk is not None and chunk.size == 5 + 6
    assert chunk.first_ids == {"BTCUSDT": 10}


def test_catching_up_after_a_reconnect_reads_on_until_the_present_or_the_live_stream() -> None:
    pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"])
    state = pipeline.states["BTCUSDT"]
    pipeline.add(trade(10))
    pipeline.catch_up(["BTCUSDT"])
    assert next_request(state) == (11, 1000)
    assert pipeline.add_backfilled("BTCUSDT", [trade(11), trade(12)], complete=False) == 2
    assert (state.last_id, state.catching_up) == (12, True)
    assert not pipeline.add(trade(12))  # the live stream repeats what REST gave: dropped
    assert pipeline.add(trade(16))  # the live stream is back: 13..15 are a plain gap now
    assert (state.catching_up, state.missing) == (False, [[13, 15]])
    pipeline.catch_up(["BTCUSDT"])
    pipeline.add_backfilled("BTCUSDT", [trade(13), trade(14), trade(15), trade(17)], complete=True)
    assert (state.last_id, state.missing, state.catching_up, state.needs_repair()) == (17, [], False, False)
    assert not pipeline.states["ETHUSDT"].needs_repair(), "a symbol never seen has nothing to catch up"


def test_a_chunk_knows_the_lowest_id_of_each_symbol_even_when_a_backfill_comes_after() -> None:
    pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"])
    pipeline.add(trade(20))
    pipeline.add(trade(5, "ETHUSDT"))
    pipeline.add(trade(23))
    pipeline.add_backfilled("BTCUSDT", [trade(21)], complete=False)
    assert pipeline.buffered_first_ids() == {"BTCUSDT": 20, "ETHUSDT": 5}
    pipeline.add(trade(25))
    pipeline.add_backfilled("BTCUSDT", [trade(24)], complete=False)
    first, second = pipeline.take_chunk(), None
    pipeline.add(trade(26))
    second = pipeline.take_chunk()
    assert first is not None and second is not None
    assert lowest_ids([first, second]) == {"BTCUSDT": 20, "ETHUSDT": 5}
    assert lowest_ids([second]) == {"BTCUSDT": 26}
