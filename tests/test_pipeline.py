"""The pipeline: validation, repeats, gaps and chunks, without I/O."""

from __future__ import annotations

from collector.decode import TradeEvent
from collector.pipeline import Gap, TradePipeline, chunk_numbers

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
    assert not pipeline.add(trade(100))
    assert pipeline.add(trade(103))
    assert pipeline.take_gaps() == [Gap("BTCUSDT", 101, 102)]
    assert Gap("BTCUSDT", 101, 102).size == 2


def test_bad_trades_are_counted_and_never_encoded() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    assert not pipeline.add(trade(1, symbol="DOGEUSDT"))
    assert not pipeline.add(trade(2, price="1e5"))
    assert not pipeline.add(trade(3, price="0.00000000"))
    assert not pipeline.add(trade(4, time_ms=T0 * 1000))  # microseconds, not milliseconds
    assert pipeline.rejected == {"unexpected_symbol": 1, "bad_number": 2, "bad_time_or_id": 1}
    assert pipeline.take_chunk() is None
    assert pipeline.states["BTCUSDT"].last_id is None


def test_backfilled_trades_skip_order_bookkeeping() -> None:
    pipeline = TradePipeline(["BTCUSDT"])
    pipeline.add(trade(50))
    assert pipeline.add_backfilled("BTCUSDT", [trade(48), trade(49), trade(47, price="nan")]) == 2
    assert pipeline.states["BTCUSDT"].last_id == 50
    chunk = pipeline.take_chunk()
    assert chunk is not None and chunk.size == 3
