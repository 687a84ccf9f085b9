"""Price questions answered with Flux: the price at an instant, high/low and candles over ranges.

The Flux of every query is a readable ``.flux`` file in this package, run with query parameters;
:class:`queries.api.Prices` is the typed Python API and :mod:`queries.cli` the ``pricecap`` commands.
"""

from queries.api import Prices
from queries.models import AuditPeriod, Candle, Extreme, PriceAt, StoredTrade, Summary, SymbolInfo

__all__ = ["AuditPeriod", "Candle", "Extreme", "PriceAt", "Prices", "StoredTrade", "Summary", "SymbolInfo"]
