"""The chunk writer against the real influxd: every trade lands once, every chunk is settled."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from collector.decode import TradeEvent
from collector.pipeline import TradePipeline
from collector.stats import Stats, registry_for
from collector.writer import ChunkWriter, WriterOptions
from pricecap.settings import InfluxSettings
from tests.helpers import stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.compat]
T0 = 1_732_500_000_000


def fill(pipeline: TradePipeline, writer: ChunkWriter, symbol: str, ids: range, burst: int) -> None:
    for trade_id in ids:
        pipeline.add(TradeEvent(symbol, trade_id, "101.25", "0.125", T0 + trade_id // burst, trade_id % 2 == 0))
        if pipeline.full():
            chunk = pipeline.take_chunk()
            assert chunk is not None
            writer.submit(chunk)
    chunk = pipeline.take_chunk()
    if chunk is not None:
        writer.submit(chunk)


def test_chunks_of_two_symbols_are_written_exactly_once(settings: InfluxSettings) -> None:
    pipeline = TradePipeline(["BTCUSDT", "ETHUSDT"], chunk_lines=700)
    stats = Stats(pipeline.states)
    registry, lag = registry_for(stats)
    writer = ChunkWriter(settings, WriterOptions(), stats, lag)
    fill(pipeline, writer, "BTCUSDT", range(999_000, 1_004_000), burst=500)
    fill(pipeline, writer, "ETHUSDT", range(1, 2_001), burst=1)
    writer.close()

    assert stored_ids(settings, "BTCUSDT") == list(range(999_000, 1_004_000))
    assert stored_ids(settings, "ETHUSDT") == list(range(1, 2_001))
    assert stats.written == {"BTCUSDT": 5_000, "ETHUSDT": 2_000}
    assert writer.pending == 0
    assert stats.write_batches["success"] >= 4
    assert stats.lost == 0
    assert registry.get_sample_value("pricecap_trades_written_total", {"symbol": "ETHUSDT"}) == 2_000
    assert registry.get_sample_value("pricecap_write_lag_seconds_count") == sum(stats.write_batches.values())


def test_a_refused_write_is_counted_as_lost(settings: InfluxSettings) -> None:
    pipeline = TradePipeline(["BTCUSDT"], chunk_lines=10)
    stats = Stats(pipeline.states)
    wrong = settings.model_copy(update={"token": SecretStr("not-the-token")})
    writer = ChunkWriter(wrong, WriterOptions(max_retries=0), stats)
    fill(pipeline, writer, "BTCUSDT", range(1, 26), burst=1)
    writer.close()
    assert stats.lost == 25
    assert stats.write_batches["failure"] >= 1
    assert writer.pending == 25  # held for a later write, and counted against max_pending
    assert stored_ids(settings, "BTCUSDT") == []


async def test_backpressure_holds_the_reader_until_writes_settle(settings: InfluxSettings) -> None:
    pipeline = TradePipeline(["BTCUSDT"], chunk_lines=100)
    stats = Stats(pipeline.states)
    writer = ChunkWriter(settings, WriterOptions(max_pending=150), stats)
    fill(pipeline, writer, "BTCUSDT", range(1, 201), burst=1)
    assert writer.pending == 200
    await asyncio.wait_for(writer.wait_for_room(), timeout=30)
    assert writer.pending < 150
    await asyncio.to_thread(writer.close)
    assert stored_ids(settings, "BTCUSDT") == list(range(1, 201))
