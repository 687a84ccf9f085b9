"""Binance REST market data: the symbol list, and trades by id for gap repair, within the weight budget.

Every request first takes its weight from a :class:`WeightBudget` (a share of Binance's 6,000 per minute,
corrected by the ``X-MBX-USED-WEIGHT-1M`` header of each answer). A 429 stops every request until its
``Retry-After`` has passed, so the client never goes on to earn a 418 ban.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3

from collector import binance
from collector.decode import TradeEvent
from pricecap.errors import PricecapError

log = logging.getLogger(__name__)


class RestError(PricecapError):
    """Binance answered with an error, or could not be reached."""


@dataclass
class WeightBudget:
    """Request weight used in the current minute, and how long to wait before spending more (no I/O)."""

    limit: int = binance.REQUEST_WEIGHT_PER_MINUTE // 2
    used: int = 0
    minute: int = 0
    blocked_until: float = 0.0

    def wait_s(self, weight: int, now: float) -> float:
        """Seconds to wait from ``now`` before ``weight`` can be spent (0: spend it now)."""
        if now < self.blocked_until:
            return self.blocked_until - now
        if int(now // 60) != self.minute:
            self.minute, self.used = int(now // 60), 0
        if self.used + weight <= self.limit:
            return 0.0
        return 60 - now % 60 + 0.05

    def spend(self, weight: int) -> None:
        """Count ``weight`` as used."""
        self.used += weight

    def observe(self, used_header: str | None, now: float) -> None:
        """Take the server's count of the minute's weight (it also counts other clients on this IP)."""
        if used_header and used_header.isdigit() and int(now // 60) == self.minute:
            self.used = max(self.used, int(used_header))

    def block(self, seconds: float, now: float) -> None:
        """Spend nothing for ``seconds`` (after a 429 or 418)."""
        self.blocked_until = max(self.blocked_until, now + seconds)


@dataclass
class BinanceRest:
    """A small client for the public market-data endpoints (blocking I/O runs in a worker thread)."""

    base_url: str
    budget: WeightBudget = field(default_factory=WeightBudget)
    timeout_s: float = 10.0
    rate_limited: int = 0
    _pool: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False))
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, path: str, params: dict[str, str]) -> Any:
        """GET ``path`` within the weight budget; retries after 429/418 and transient errors, up to 5 times."""
        weight = binance.WEIGHTS.get(path, 1)
        for attempt in range(6):
            async with self._lock:
                while (wait := self.budget.wait_s(weight, time.time())) > 0:
                    await asyncio.sleep(wait)
                self.budget.spend(weight)
            try:
                response = await asyncio.to_thread(
                    self._pool.request,
                    "GET",
                    self.base_url.rstrip("/") + path,
                    fields=params,
                    timeout=self.timeout_s,
                )
            except urllib3.exceptions.HTTPError as e:
                log.warning("binance rest unreachable", extra={"path": path, "error": str(e), "attempt": attempt})
                await asyncio.sleep(min(30.0, 2.0**attempt))
                continue
            now = time.time()
            self.budget.observe(response.headers.get(binance.USED_WEIGHT_HEADER), now)
            if response.status in (binance.HTTP_TOO_MANY_REQUESTS, binance.HTTP_IP_BANNED):
                retry_after = response.headers.get(binance.RETRY_AFTER_HEADER, "60")
                seconds = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 60.0
                self.budget.block(seconds, now)
                self.rate_limited += 1
                log.warning("binance rate limit", extra={"status": response.status, "retry_after_s": seconds})
                continue
            body = orjson.loads(response.data) if response.data else None
            if response.status >= 400:
                message = body.get("msg") if isinstance(body, dict) else response.data[:200].decode(errors="replace")
                raise RestError(f"Binance {path} answered HTTP {response.status}: {message}")
            return body
        raise RestError(f"Binance {path}: no answer after 6 attempts")

    async def trading_symbols(self) -> list[str]:
        """Every spot symbol that is trading now, from ``exchangeInfo``."""
        statuses = await self.symbol_statuses()
        return sorted(s for s, status in statuses.items() if status == binance.STATUS_TRADING)

    async def symbol_statuses(self) -> dict[str, str]:
        """Every spot symbol's status (TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY...), from ``exchangeInfo``.

        Names are taken as they come (since 2025-12 they may be Unicode); an unknown status is logged once per
        answer and treated as not trading."""
        info = await self.get(binance.EXCHANGE_INFO_PATH, {"permissions": "SPOT"})
        statuses = {str(s["symbol"]): str(s.get("status")) for s in info["symbols"]}
        unknown = set(statuses.values()) - binance.SYMBOL_STATUSES
        if unknown:
            log.warning("unknown symbol status in exchangeInfo", extra={"statuses": sorted(unknown)})
        return statuses

    async def first_id(self, symbol: str) -> int | None:
        """The id of the first trade ``symbol`` ever made (its oldest aggregate), None before its first trade."""
        rows = await self.get(binance.AGG_TRADES_PATH, {"symbol": symbol, "fromId": "0", "limit": "1"})
        return int(rows[0]["f"]) if rows else None

    async def trades_from(
        self, symbol: str, from_id: int, limit: int = binance.MAX_TRADES_PER_REQUEST
    ) -> list[TradeEvent]:
        """Up to ``limit`` trades of ``symbol`` from id ``from_id`` on (``historicalTrades``)."""
        rows = await self.get(
            binance.HISTORICAL_TRADES_PATH, {"symbol": symbol, "fromId": str(from_id), "limit": str(limit)}
        )
        return [TradeEvent(symbol, r["id"], r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rows]

    async def latest_id(self, symbol: str) -> int | None:
        """The id of the newest trade of ``symbol``, None if it has none: the last trade id of its newest
        ``aggTrades`` aggregate (weight 4, where ``historicalTrades`` costs 25)."""
        rows = await self.get(binance.AGG_TRADES_PATH, {"symbol": symbol, "limit": "1"})
        return int(rows[-1]["l"]) if rows else None

    async def first_id_at(self, symbol: str, time_ms: int) -> int | None:
        """The id of the first trade of ``symbol`` at or after ``time_ms`` (``aggTrades``), None if none yet."""
        rows = await self.get(binance.AGG_TRADES_PATH, {"symbol": symbol, "startTime": str(time_ms), "limit": "1"})
        return int(rows[0]["f"]) if rows else None

    def close(self) -> None:
        """Release the connection pool."""
        self._pool.clear()
