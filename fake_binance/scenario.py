"""Scripted trading: how many trades, how fast, with which bursts, malformed frames and skipped ids."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

MALFORMED_FRAMES = (
    b"{not json",
    b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":"x","p":"1","q":"1","T":1,"m":true}}',
    b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":1,"p":"abc","q":"1","T":1732500000000,"m":true}}',
    b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":1,"q":"1","T":1,"m":true}}',
    b'{"stream":"btcusdt@trade","data":{"e":"mystery","x":1}}',
    b"[]",
)
"""Frames a test may interleave: bad JSON, wrong type, non-numeric price, missing field, unknown event."""


@dataclass(frozen=True)
class Scenario:
    """``count`` trades across the ledger's symbols (round robin) at ``rate`` trades/s.

    Every ``burst_every`` trades, ``burst_size`` trades of one symbol share one millisecond. Every
    ``malformed_every`` trades a malformed frame goes out too. Trades whose ids are in ``skip`` (per symbol,
    inclusive ranges) are made and recorded but not streamed, as a stream outage would look. With
    ``agg_trades`` the trades also go out on the ``<symbol>@aggTrade`` streams, consecutive trades of one
    symbol with the same time, price and side as one aggregate. With ``symbols``, only those markets trade
    (the others stay quiet).
    """

    count: int
    rate: float = 10_000.0
    burst_every: int = 0
    burst_size: int = 0
    malformed_every: int = 0
    skip: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    agg_trades: bool = False
    skew: float = 0.0
    symbols: tuple[str, ...] = ()

    @cached_property
    def _rng(self) -> random.Random:
        return random.Random(7)

    def pick(self, made: int, markets: int) -> int:
        """The index of the market that makes trade number ``made``, among ``markets`` trading ones."""
        if self.skew <= 0:
            return made % markets
        weights = _rank_weights(markets, self.skew)
        return self._rng.choices(range(markets), cum_weights=weights)[0]

    def skipped(self, symbol: str, trade_id: int) -> bool:
        """True when the stream must not carry this trade."""
        return any(first <= trade_id <= last for first, last in self.skip.get(symbol, ()))


_WEIGHTS: dict[tuple[int, float], list[float]] = {}


def _rank_weights(markets: int, skew: float) -> list[float]:
    """Cumulative weights ``1 / rank ** skew`` for ranks 1..markets (cached)."""
    if (markets, skew) not in _WEIGHTS:
        total, cumulative = 0.0, []
        for rank in range(1, markets + 1):
            total += 1 / rank**skew
            cumulative.append(total)
        _WEIGHTS[markets, skew] = cumulative
    return _WEIGHTS[markets, skew]
