"""The live status line of ``pricecap up``: trades/s and last price per symbol, write lag, totals."""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from collector.stats import Stats


class StatusLine:
    """Renders the collector's counters; rates are per second since the previous render."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._received: dict[str, int] = {}
        self._at = time.monotonic()

    def render(self) -> str:
        """``BTCUSDT 50/s 97012.5 | ETHUSDT 50/s 3601.02 | written 1,234 | lag 0.21 s``."""
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-9)
        parts = []
        for symbol, state in list(self.stats.symbols.items()):
            rate = (state.received - self._received.get(symbol, 0)) / elapsed
            self._received[symbol] = state.received
            price = state.last_price.rstrip("0").rstrip(".") if "." in state.last_price else state.last_price
            parts.append(f"{symbol} {rate:,.0f}/s {price or '-'}")
        self._at = now
        s = self.stats
        parts.append(f"written {s.written_total():,}")
        parts.append(f"lag {s.last_write_lag_s:.2f} s")
        if s.lost:
            parts.append(f"lost {s.lost:,}")
        if s.connections_up < s.connections_total:
            parts.append(f"connections {s.connections_up}/{s.connections_total}")
        return " | ".join(parts)


async def show_status(stats: Stats, out: TextIO, interval_s: float) -> None:
    """Print the status line every ``interval_s`` until cancelled: rewritten in place on a terminal, one
    line each time otherwise (a log file)."""
    line = StatusLine(stats)
    terminal = out.isatty()
    try:
        while True:
            await asyncio.sleep(interval_s)
            text = line.render()
            out.write(f"\r\x1b[K{text}" if terminal else f"{text}\n")
            out.flush()
    finally:
        if terminal:
            out.write("\n")
            out.flush()
