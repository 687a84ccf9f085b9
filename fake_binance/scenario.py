"""Scripted trading: how many trades, how fast, with which bursts, malformed frames and skipped ids."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    symbol with the same time, price and side as one aggregate.
    """

    count: int
    rate: float = 10_000.0
    burst_every: int = 0
    burst_size: int = 0
    malformed_every: int = 0
    skip: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    agg_trades: bool = False

    def skipped(self, symbol: str, trade_id: int) -> bool:
        """True when the stream must not carry this trade."""
        return any(first <= trade_id <= last for first, last in self.skip.get(symbol, ()))
