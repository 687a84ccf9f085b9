"""An endless simulated market for ``pricecap up --simulate``: the fake exchange in-process, trading until told
to stop, so the whole product can be tried where Binance is out of reach.

Each symbol walks randomly from a plausible price of its own; every ``BURST_EVERY`` trades, ``BURST_SIZE``
trades share one millisecond, as a taker sweeping several price levels does. Trade ids start at the start
time in microseconds, so they keep rising from one run to the next, as Binance's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import orjson

from fake_binance.scenario import Scenario
from fake_binance.server import FakeBinance

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
PRICES_CENTS = {
    "BTCUSDT": 9_700_000,
    "ETHUSDT": 360_000,
    "SOLUSDT": 24_000,
    "BNBUSDT": 65_000,
    "XRPUSDT": 250,
    "ADAUSDT": 100,
    "DOGEUSDT": 40,
}
"""Starting prices in cents; any other symbol starts somewhere between 1.00 and 1,000.00."""
BURST_EVERY = 100
BURST_SIZE = 5


def starting_price_cents(symbol: str) -> int:
    """A plausible starting price for ``symbol``, the same in every run."""
    return PRICES_CENTS.get(symbol) or random.Random(symbol).randint(100, 100_000)


class Simulation:
    """A :class:`FakeBinance` on a free loopback port that makes ``rate`` trades/s per symbol until stopped."""

    def __init__(self, symbols: list[str], rate: float) -> None:
        self.symbols = symbols
        self.rate = rate
        self.fake = FakeBinance(
            symbols,
            first_id=time.time_ns() // 1_000,
            prices_cents={s: starting_price_cents(s) for s in symbols},
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for a subscriber to every symbol, then trade until ``stop`` is set.

        Every trade the ledger records has been sent: a trade is made and sent in one step.
        """
        await self.fake.wait_for_subscribers(len(self.symbols))
        trading = asyncio.create_task(self._trade())
        await stop.wait()
        trading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trading

    async def _trade(self) -> None:
        total_rate = self.rate * len(self.symbols)
        second = Scenario(
            count=max(1, round(total_rate)), rate=total_rate, burst_every=BURST_EVERY, burst_size=BURST_SIZE
        )
        while True:
            await self.fake.play(second)

    def last_ids(self) -> dict[str, int | None]:
        """The id of the last trade sent per symbol (None before the first)."""
        return {s: m.next_id - 1 if m.times else None for s, m in self.fake.ledger.markets.items()}

    def dump_ledger(self, path: Path) -> None:
        """Write the ids sent per symbol as JSON, ``{"BTCUSDT": {"first_id": .., "last_id": .., "count": ..}}``
        (ids are consecutive, so that is every one of them)."""
        ledger = {
            s: {"first_id": m.first_id, "last_id": m.next_id - 1, "count": len(m.times)}
            for s, m in self.fake.ledger.markets.items()
        }
        path.write_bytes(orjson.dumps(ledger, option=orjson.OPT_INDENT_2))
