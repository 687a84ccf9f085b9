"""Every trade the fake exchange ever made, per symbol, kept compactly (arrays, not dicts)."""

from __future__ import annotations

import random
from array import array
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as Binance reports it: price and qty as 8-decimal strings, time in ms."""

    symbol: str
    id: int
    price: str
    qty: str
    time_ms: int
    buyer_maker: bool

    def rest(self) -> dict[str, Any]:
        """The trade as ``historicalTrades`` returns it."""
        return {
            "id": self.id,
            "price": self.price,
            "qty": self.qty,
            "quoteQty": f"{float(self.price) * float(self.qty):.8f}",
            "time": self.time_ms,
            "isBuyerMaker": self.buyer_maker,
            "isBestMatch": True,
        }


@dataclass
class Market:
    """The trades of one symbol: ids are consecutive from ``first_id``; prices follow a random walk from
    ``price_cents`` in steps of up to ``step_cents``."""

    symbol: str
    first_id: int
    status: str = "TRADING"
    """As exchangeInfo lists it: TRADING, END_OF_DAY, HALT, BREAK or CANCEL_ONLY; only a TRADING market trades."""
    price_cents: int = 9_700_000
    step_cents: int = 50
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    prices: array[int] = field(default_factory=lambda: array("q"))
    qtys: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))
    makers: bytearray = field(default_factory=bytearray)

    @property
    def next_id(self) -> int:
        """The id the next trade will get."""
        return self.first_id + len(self.times)

    def make(self, time_ms: int) -> Trade:
        """Make (and record) the next trade at ``time_ms``."""
        self.price_cents = max(1, self.price_cents + self.rng.randint(-self.step_cents, self.step_cents))
        self.prices.append(self.price_cents)
        self.qtys.append(self.rng.randint(1, 5_000_000))
        self.times.append(time_ms)
        self.makers.append(self.rng.random() < 0.5)
        return self.trade(self.next_id - 1)

    def trade(self, trade_id: int) -> Trade:
        """The recorded trade with ``trade_id``."""
        i = trade_id - self.first_id
        price = self.prices[i]
        return Trade(
            self.symbol,
            trade_id,
            f"{price // 100}.{price % 100:02d}000000",
            f"{self.qtys[i] / 1e8:.8f}",
            self.times[i],
            bool(self.makers[i]),
        )

    def ids(self) -> list[int]:
        """Every trade id made so far."""
        return list(range(self.first_id, self.next_id))


class Ledger:
    """The markets of the fake exchange. ``prices_cents`` gives symbols their own starting prices, each
    walking in steps of about 0.0005 % of it (else a symbol starts at 97,000.00 with steps of 0.50)."""

    def __init__(self, symbols: list[str], first_id: int = 1, prices_cents: Mapping[str, int] | None = None) -> None:
        self.markets = {s: Market(s, first_id, rng=random.Random(s)) for s in symbols}
        for symbol, cents in (prices_cents or {}).items():
            self.markets[symbol].price_cents = cents
            self.markets[symbol].step_cents = max(1, cents // 200_000)

    def list_symbol(self, symbol: str, first_id: int = 1) -> Market:
        """List a new market (TRADING) while the exchange runs."""
        market = self.markets[symbol] = Market(symbol, first_id, rng=random.Random(symbol))
        return market

    def trading(self, among: Collection[str] = ()) -> list[Market]:
        """The markets that trade now (of ``among`` only, when given)."""
        return [m for m in self.markets.values() if m.status == "TRADING" and (not among or m.symbol in among)]

    def ids(self, symbol: str) -> list[int]:
        """Every trade id of ``symbol`` made so far."""
        return self.markets[symbol].ids()

    def total(self) -> int:
        """Trades made so far, all symbols."""
        return sum(len(m.times) for m in self.markets.values())
