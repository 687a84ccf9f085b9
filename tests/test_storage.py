"""The data model against the real influxd: distinct points per trade, exact times, idempotent rewrites."""

from __future__ import annotations

import random

import pytest
from influxdb_client.client.write_api import SYNCHRONOUS

from pricecap.influx import connect
from pricecap.model import Trade, encode_trade
from pricecap.settings import InfluxSettings
from tests.helpers import stored_trades

pytestmark = pytest.mark.integration


def generated_trades(symbol: str, count: int, first_id: int, seed: int = 7) -> list[Trade]:
    """Trades in bursts: most share a millisecond with others, the ids cross a multiple of 1,000,000."""
    rng = random.Random(seed)
    trades, time_ms = [], 1_732_500_000_000
    for trade_id in range(first_id, first_id + count):
        if rng.random() < 0.05:
            time_ms += rng.randint(1, 50)
        price = f"{rng.uniform(90_000, 100_000):.2f}000000"
        qty = f"{rng.uniform(0.00001, 3):.8f}"
        trades.append(Trade(symbol, trade_id, price, qty, time_ms, rng.random() < 0.5))
    return trades


def write(settings: InfluxSettings, trades: list[Trade]) -> None:
    with connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=settings.bucket, record="\n".join(encode_trade(t) for t in trades)
        )


def test_1000_trades_sharing_milliseconds_are_all_stored_exactly(settings: InfluxSettings) -> None:
    trades = generated_trades("BTCUSDT", 1_000, first_id=999_400)
    assert len({t.time_ms for t in trades}) < 100  # many trades share each millisecond
    write(settings, trades)

    stored = stored_trades(settings, "BTCUSDT")
    assert len(stored) == 1_000
    assert sorted(s.trade_id for s in stored) == [t.trade_id for t in trades]
    by_id = {t.trade_id: t for t in trades}
    for point in stored:
        trade = by_id[point.trade_id]
        assert point.time_ns // 1_000_000 == trade.time_ms
        assert point.time_ns % 1_000_000 == trade.trade_id % 1_000_000
        assert point.price == float(trade.price)
        assert point.qty == float(trade.qty)
        assert point.buyer_maker == trade.buyer_maker


def test_writing_the_same_trades_again_changes_nothing(settings: InfluxSettings) -> None:
    trades = generated_trades("ETHUSDT", 1_000, first_id=5_000_000)
    write(settings, trades)
    first = stored_trades(settings, "ETHUSDT")
    write(settings, list(reversed(trades)))
    write(settings, trades[100:300])
    assert stored_trades(settings, "ETHUSDT") == first
    assert len(first) == 1_000


def test_symbols_are_query_parameters_not_flux_text(settings: InfluxSettings) -> None:
    odd = 'X" or true) //'
    write(settings, generated_trades(odd, 3, first_id=1))
    write(settings, generated_trades("BTCUSDT", 2, first_id=1))
    assert [s.trade_id for s in stored_trades(settings, odd)] == [1, 2, 3]
