"""Binance REST market data: the symbol list, and trades by id for gap repair, within the weight budget.

Every request first takes its weight from a :class:`WeightBudget` (a share of Binance's 6,000 per minute for
this collector, and a ceiling for the IP's total that the ``X-MBX-USED-WEIGHT-1M`` header of each answer
reports, shared with every other client behind the IP). A 429, 418 or 403 (Binance's WAF) stops
every request until its ``Retry-After`` has passed, so the client never goes on to earn a 418 ban. Any other
answer that is not the JSON expected (HTML or empty bodies, 5xx, 410, timeouts, resets) is logged and retried
with backoff; 451 (restricted location) is logged once as the error it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3

from collector import binance
from collector.decode import TradeEvent
from pricecap.errors import PricecapError, UnreachableError

log = logging.getLogger(__name__)
ATTEMPTS = 6
CONCURRENT_REQUESTS = 8
"""Requests in flight at once (the repairer's): REST answers take tens to hundreds of ms each."""


class RestError(PricecapError):
    """Binance answered with an error, or could not be reached."""


class RestUnreachableError(RestError, UnreachableError):
    """No request to the REST base has had an answer at all: a wrong URL, a name that does not resolve, no route."""


class NotServedError(RestError):
    """HTTP 404: this REST base does not serve the endpoint (``data-api.binance.vision`` and historicalTrades)."""


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One ``aggTrades`` row: aggregate id ``a``, trade ids ``f..l`` at one price, time and side; ``f == l`` is
    exactly one trade."""

    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 (Binance's field name)
    T: int
    m: bool

    def trade(self, symbol: str) -> TradeEvent:
        """The one trade of a single-trade aggregate."""
        return TradeEvent(symbol, self.f, self.p, self.q, self.T, self.m)


DEFAULT_WEIGHT_SHARE = 0.5
BACKLOG_WEIGHT_SHARE = 0.9
"""The share of the IP's weight a repair backlog may use while no other client on the IP spends any."""
IP_CEILING_SHARE = 0.95
"""The IP's weight this minute (``X-MBX-USED-WEIGHT-1M``, every client behind the IP) is kept at or under this
share of 6,000, whatever the collectors' shares add up to: the rest is room for requests in flight."""
ONE_AT_A_TIME_SHARE = 0.8
"""Above this share of the IP's weight, requests go one at a time, each after the answer to the one before has
told the IP's count: other clients' requests in flight are then the only weight not known."""
ANSWER_POLL_S = 0.02


@dataclass
class WeightBudget:
    """Request weight of the current minute, and how long to wait before spending more (no I/O).

    Two counts, two limits. ``own``, this collector's spend this minute, stays within ``limit`` (its share of
    the IP's 6,000 a minute), or ``backlog_limit`` while ``backlog`` is set (repairs wait) and no other client
    on the IP spent weight this minute or the last (the ``X-MBX-USED-WEIGHT-1M`` header counted more than this
    collector spent). ``ip``, the IP's total as the header last reported it (the truth: every collector and bot
    behind the IP) plus this collector's requests sent since, stays within ``ip_ceiling``; above
    ``one_at_a_time`` a request waits until none of this collector's is in flight. So collectors sharing an IP
    never earn a 429 together, whatever their shares add up to.
    """

    limit: int = int(binance.REQUEST_WEIGHT_PER_MINUTE * DEFAULT_WEIGHT_SHARE)
    backlog_limit: int = int(binance.REQUEST_WEIGHT_PER_MINUTE * BACKLOG_WEIGHT_SHARE)
    ip_ceiling: int = int(binance.REQUEST_WEIGHT_PER_MINUTE * IP_CEILING_SHARE)
    one_at_a_time: int = int(binance.REQUEST_WEIGHT_PER_MINUTE * ONE_AT_A_TIME_SHARE)
    minute: int = 0
    own: int = 0
    """Weight this collector sent this minute (answered or not)."""
    ip: int = 0
    """The IP's weight this minute as far as known: the highest header of the minute, plus what is in flight."""
    in_flight: int = 0
    """Weight of this collector's requests sent and not answered yet."""
    blocked_until: float = 0.0
    backlog: bool = False
    others_minute: int = -10
    """The last minute in which another client on the IP spent weight."""

    @classmethod
    def share(cls, share: float) -> WeightBudget:
        """A budget of ``share`` (0..1] of Binance's weight per minute; a backlog may use up to 90 %."""
        limit = int(binance.REQUEST_WEIGHT_PER_MINUTE * share)
        return cls(limit=limit, backlog_limit=max(limit, int(binance.REQUEST_WEIGHT_PER_MINUTE * BACKLOG_WEIGHT_SHARE)))

    def current_limit(self) -> int:
        """The weight this collector may spend this minute: the backlog's larger share only while nobody else
        on the IP spends."""
        alone = self.minute - self.others_minute >= 2
        return self.backlog_limit if self.backlog and alone else self.limit

    def _roll(self, now: float) -> None:
        if int(now // 60) != self.minute:
            self.minute, self.own, self.ip = int(now // 60), 0, self.in_flight

    def wait_s(self, weight: int, now: float) -> float:
        """Seconds to wait from ``now`` before ``weight`` can be spent (0: spend it now)."""
        if now < self.blocked_until:
            return self.blocked_until - now
        self._roll(now)
        if self.in_flight and self.ip + weight > self.one_at_a_time:
            return ANSWER_POLL_S  # the answer in flight tells the IP's count first
        if self.own + weight <= self.current_limit() and self.ip + weight <= self.ip_ceiling:
            return 0.0
        return 60 - now % 60 + 0.05

    def spend(self, weight: int, now: float) -> int:
        """Count ``weight`` as sent; the minute it counts in, to give :meth:`settle` with its answer."""
        self._roll(now)
        self.own += weight
        self.ip += weight
        self.in_flight += weight
        return self.minute

    def settle(self, weight: int, sent_minute: int, used_header: str | None, now: float) -> None:
        """A request of ``weight`` sent in ``sent_minute`` is answered (``used_header``: its
        ``X-MBX-USED-WEIGHT-1M``, None when there was no answer)."""
        self.in_flight = max(0, self.in_flight - weight)
        self._roll(now)
        if sent_minute != self.minute or not used_header or not used_header.isdigit():
            return  # a count of another minute says nothing of this one
        reported = int(used_header)
        if reported > self.own:
            self.others_minute = self.minute
        self.ip = max(self.ip, reported + self.in_flight)

    def block(self, seconds: float, now: float) -> None:
        """Spend nothing for ``seconds`` (after a 429 or 418)."""
        self.blocked_until = max(self.blocked_until, now + seconds)


@dataclass
class BinanceRest:
    """A small client for the public market-data endpoints (blocking I/O runs in a worker thread)."""

    base_url: str
    budget: WeightBudget = field(default_factory=WeightBudget)
    timeout_s: float = 10.0
    rate_limited: Counter[int] = field(default_factory=Counter)
    """Answers that paused every request, by HTTP status (429, 418, 403)."""
    errors: int = 0
    """Failed attempts that were retried (5xx, 410, bodies that are not the JSON expected, timeouts, resets)."""
    restricted: bool = False
    """Binance answered 451 (restricted location); logged once."""
    attempts_unanswered: int = ATTEMPTS
    """Attempts at a request while the REST base has never answered: a user command gives up sooner on a base
    it never reached (a wrong URL, no network) than on one that answered before."""
    answered: bool = False
    """Some request has had an HTTP answer, whatever its status."""
    _pauses: int = 0
    """Pausing answers in a row: sets the pause when one carries no ``Retry-After``."""
    _pool: urllib3.PoolManager = field(
        default_factory=lambda: urllib3.PoolManager(retries=False, maxsize=CONCURRENT_REQUESTS)
    )
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, path: str, params: dict[str, str], expect: type = list) -> Any:
        """GET ``path`` within the weight budget: a JSON ``expect`` (list or dict), or :class:`RestError`.

        Every answer that is not that is handled: 429/418 and 403 (Binance's WAF) pause every request for
        ``Retry-After`` (:func:`_retry_after_s` when it is absent); 5xx, 410, HTML or empty bodies, timeouts
        and resets are retried with backoff, up to ``ATTEMPTS`` times (``attempts_unanswered`` while the base
        has never answered: then :class:`RestUnreachableError`); 451 (restricted location) and other 4xx with a
        JSON error fail at once.
        """
        weight = binance.WEIGHTS.get(path, 1)
        for attempt in range(ATTEMPTS):
            try:
                response = await self._request(path, params, weight)
            except urllib3.exceptions.HTTPError as e:
                self.errors += 1
                log.warning("binance rest unreachable", extra={"path": path, "error": str(e), "attempt": attempt})
                if not self.answered and attempt + 1 >= self.attempts_unanswered:
                    raise RestUnreachableError(
                        f"Binance's REST API at {self.base_url} does not answer: {_failure(e)}"
                    ) from e
                await asyncio.sleep(retry_delay_s(attempt))
                continue
            self.answered = True
            now = time.time()
            status, body = response.status, _json(response.data)
            if status in binance.HTTP_PAUSE_STATUSES:
                seconds = _retry_after_s(response.headers.get(binance.RETRY_AFTER_HEADER), self._pauses)
                self.budget.block(seconds, now)
                self.rate_limited[status] += 1
                self._pauses += 1
                log.warning(
                    "binance rate limit",
                    extra={"status": status, "retry_after_s": seconds, "answer": _describe(body, response.data)},
                )
                continue
            if status == binance.HTTP_RESTRICTED_LOCATION:
                self._restricted(path, _describe(body, response.data))
            if status == binance.HTTP_NOT_FOUND:
                raise NotServedError(f"{self.base_url} does not serve {path} (HTTP 404)")
            if 400 <= status < 500 and status != binance.HTTP_GONE and isinstance(body, dict):
                raise RestError(f"Binance {path} answered HTTP {status}: {_describe(body, response.data)}")
            if status == 200 and isinstance(body, expect):
                self._pauses = 0
                return body
            self.errors += 1
            log.warning(
                "binance rest error, will retry",
                extra={"path": path, "status": status, "answer": _describe(body, response.data), "attempt": attempt},
            )
            await asyncio.sleep(retry_delay_s(attempt))
        raise RestError(f"Binance {path}: no usable answer after {ATTEMPTS} attempts")

    async def _request(self, path: str, params: dict[str, str], weight: int) -> urllib3.BaseHTTPResponse:
        """One GET once the budget has room for ``weight``; its answer settles the budget, whatever happens."""
        async with self._lock:
            while (wait := self.budget.wait_s(weight, time.time())) > 0:
                await asyncio.sleep(wait)
            sent_minute = self.budget.spend(weight, time.time())
        used: str | None = None
        try:
            response = await asyncio.to_thread(
                self._pool.request, "GET", self.base_url.rstrip("/") + path, fields=params, timeout=self.timeout_s
            )
            used = response.headers.get(binance.USED_WEIGHT_HEADER)
            return response
        finally:
            self.budget.settle(weight, sent_minute, used, time.time())

    def _restricted(self, path: str, answer: str) -> None:
        """HTTP 451: Binance refuses this machine's location; said once as an error, then raised each time."""
        if not self.restricted:
            self.restricted = True
            log.error(
                "binance refuses requests from this location (HTTP 451): use an endpoint allowed where the "
                "collector runs (--source, --rest-url)",
                extra={"path": path, "answer": answer},
            )
        raise RestError(f"Binance {path} answered HTTP 451, restricted location: {answer}")

    async def trading_symbols(self) -> list[str]:
        """Every spot symbol that is trading now, from ``exchangeInfo``."""
        statuses = await self.symbol_statuses()
        return sorted(s for s, status in statuses.items() if status == binance.STATUS_TRADING)

    async def symbol_statuses(self) -> dict[str, str]:
        """Every spot symbol's status (TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY...), from ``exchangeInfo``.

        Names are taken as they come (since 2025-12 they may be Unicode); an unknown status is logged once per
        answer and treated as not trading."""
        info = await self.get(binance.EXCHANGE_INFO_PATH, {"permissions": "SPOT"}, expect=dict)
        with _shape(binance.EXCHANGE_INFO_PATH):
            statuses = {str(s["symbol"]): str(s.get("status")) for s in info["symbols"]}
        unknown = set(statuses.values()) - binance.SYMBOL_STATUSES
        if unknown:
            log.warning("unknown symbol status in exchangeInfo", extra={"statuses": sorted(unknown)})
        return statuses

    async def trades_from(
        self, symbol: str, from_id: int, limit: int = binance.MAX_TRADES_PER_REQUEST
    ) -> list[TradeEvent]:
        """Up to ``limit`` trades of ``symbol`` from id ``from_id`` on (``historicalTrades``)."""
        rows = await self.get(
            binance.HISTORICAL_TRADES_PATH, {"symbol": symbol, "fromId": str(from_id), "limit": str(limit)}
        )
        return _trades(symbol, binance.HISTORICAL_TRADES_PATH, rows)

    async def agg_trades(
        self, symbol: str, *, from_agg: int | None = None, start_ms: int | None = None
    ) -> list[Aggregate]:
        """Up to 1,000 aggregates of ``symbol`` from aggregate id ``from_agg``, or from time ``start_ms`` on."""
        params = {"symbol": symbol, "limit": str(binance.MAX_TRADES_PER_REQUEST)}
        if from_agg is not None:
            params["fromId"] = str(from_agg)
        elif start_ms is not None:
            params["startTime"] = str(start_ms)
        rows = await self.get(binance.AGG_TRADES_PATH, params)
        with _shape(binance.AGG_TRADES_PATH):
            return [
                Aggregate(int(r["a"]), r["p"], r["q"], int(r["f"]), int(r["l"]), int(r["T"]), bool(r["m"]))
                for r in rows
            ]

    async def recent_trades(self, symbol: str) -> list[TradeEvent]:
        """The newest 1,000 trades of ``symbol`` (``trades``, which data-api serves too)."""
        rows = await self.get(
            binance.RECENT_TRADES_PATH, {"symbol": symbol, "limit": str(binance.MAX_TRADES_PER_REQUEST)}
        )
        return _trades(symbol, binance.RECENT_TRADES_PATH, rows)

    async def latest_ids(self) -> dict[str, int]:
        """Every symbol's newest trade id of the last 24 hours, in one ``ticker/24hr`` request (weight 80);
        symbols without a trade in 24 hours are left out."""
        rows = await self.get(binance.TICKER_24H_PATH, {})
        with _shape(binance.TICKER_24H_PATH):
            return {str(r["symbol"]): int(r["lastId"]) for r in rows if int(r["lastId"]) >= 0}

    async def latest_id(self, symbol: str) -> int | None:
        """The id of the newest trade of ``symbol``, None if it has none: the last trade id of its newest
        ``aggTrades`` aggregate (weight 4, where ``historicalTrades`` costs 25)."""
        rows = await self.get(binance.AGG_TRADES_PATH, {"symbol": symbol, "limit": "1"})
        with _shape(binance.AGG_TRADES_PATH):
            return int(rows[-1]["l"]) if rows else None

    async def first_id_at(self, symbol: str, time_ms: int) -> int | None:
        """The id of the first trade of ``symbol`` at or after ``time_ms`` (``aggTrades``), None if none yet."""
        rows = await self.get(binance.AGG_TRADES_PATH, {"symbol": symbol, "startTime": str(time_ms), "limit": "1"})
        with _shape(binance.AGG_TRADES_PATH):
            return int(rows[0]["f"]) if rows else None

    def close(self) -> None:
        """Release the connection pool."""
        self._pool.clear()


def retry_delay_s(attempt: int) -> float:
    """Backoff after the ``attempt``-th failed try (from 0): 1 s, 2 s, 4 s ... up to 30 s."""
    return min(30.0, 2.0**attempt)


def _retry_after_s(header: str | None, in_a_row: int) -> float:
    """Seconds from a ``Retry-After`` header; when it is absent or not a number (a 403 from the WAF), 2 s
    doubling with each pausing answer in a row, up to 120 s."""
    if header and header.replace(".", "", 1).isdigit():
        return float(header)
    return min(120.0, 2.0 * 2.0**in_a_row)


def _trades(symbol: str, path: str, rows: Any) -> list[TradeEvent]:
    """The trades of a ``historicalTrades`` or ``trades`` answer (the same row shape)."""
    with _shape(path):
        return [TradeEvent(symbol, r["id"], r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rows]


def _failure(error: urllib3.exceptions.HTTPError) -> str:
    """What a request that had no answer ran into, without urllib3's wrapping: "Connection refused",
    "Connection reset by peer", "Failed to resolve 'host' (...)", "Read timed out. (read timeout=10)"."""
    cause: Any = error.args[-1] if error.args else error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause).split("): ", 1)[-1]  # urllib3 starts with "HTTPConnection(host=..., port=...): "


def _json(data: bytes) -> Any:
    """The JSON in a body; None for an empty body or one that is not JSON (an HTML error page)."""
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None


def _describe(body: Any, data: bytes) -> str:
    """A short account of an answer for a log line: Binance's ``msg``, else the body's start."""
    if isinstance(body, dict) and "msg" in body:
        return f"{body.get('code')}: {body['msg']}"
    if not data:
        return "empty body"
    return " ".join(data[:120].decode(errors="replace").split())


@contextlib.contextmanager
def _shape(path: str) -> Iterator[None]:
    """Turn rows of an unexpected shape into a :class:`RestError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise RestError(f"Binance {path} answered rows of an unexpected shape: {type(e).__name__}: {e}") from e
