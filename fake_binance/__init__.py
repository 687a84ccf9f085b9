"""A local fake of Binance's spot market-data API (WebSocket trade streams and REST), for tests, benchmarks
and offline simulation. It follows the facts in ``collector.binance`` and Binance's documented behaviour."""

from fake_binance.ledger import Ledger, Trade
from fake_binance.scenario import Scenario
from fake_binance.server import FakeBinance

__all__ = ["FakeBinance", "Ledger", "Scenario", "Trade"]
