"""The fake exchange's REST market data, without I/O: ``answer(path, query)`` -> status, headers, body."""

from __future__ import annotations

import bisect
import math
import operator
import time
from dataclasses import dataclass
from typing import Any

import orjson

from collector import binance
from fake_binance.ledger import Ledger, Market

Answer = tuple[int, dict[str, str], bytes]
SYMBOL_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
    {"filterType": "LOT_SIZE", "minQty": "0.00000001", "maxQty": "9000.00000000", "stepSize": "0.00000001"},
]
"""Every fake symbol's exchangeInfo filters, PRICE_FILTER first as on Binance: prices in cents, 8-decimal qtys."""
LOCAL_CLIENT = "127.0.0.1"


BAN_FIRST_S = 120
BAN_LONGEST_S = 3 * 86_400
"""An IP that ignores a 429 is banned (418) for 2 minutes, twice as long at each ban again, up to 3 days."""


@dataclass
class IpWeight:
    """One client IP's request weight in the current minute, until when a request earns a ban (a 429's
    ``Retry-After``), and its bans (418)."""

    minute: int = 0
    used: int = 0
    blocked_until: float = 0.0
    banned_until: float = 0.0
    bans: int = 0

    def ban(self, now: float) -> int:
        """Seconds left of the IP's ban, which a request during a 429's ``Retry-After`` starts (or 0)."""
        if now < self.blocked_until and now >= self.banned_until:
            self.bans += 1
            self.banned_until = now + min(BAN_LONGEST_S, BAN_FIRST_S * 2 ** (self.bans - 1))
        return math.ceil(self.banned_until - now) if now < self.banned_until else 0


class RestApi:
    """exchangeInfo, historicalTrades, trades, aggTrades and ticker/24hr from the ledger, with Binance's weight
    rules; times in microseconds on request (``X-MBX-TIME-UNIT: MICROSECOND``).

    ``weight_limit`` per minute and per client IP (6,000 as on Binance), counted across every connection of that
    IP, as ``X-MBX-USED-WEIGHT-1M`` reports it; over it, 429 with ``Retry-After`` (the seconds to the next
    minute); a request from that IP during the Retry-After period earns a 418 ban (2 minutes, doubling with
    each ban, up to 3 days: every request is answered 418 meanwhile). ``force_429(n)`` makes the next ``n``
    requests answer 429 (for tests).
    With ``data_api`` it plays ``data-api.binance.vision``: no historicalTrades (404).

    Faults of Binance's front end and database: ``html_errors(every)`` answers every Nth request with an
    HTML error page (403 and 502 in turn by default), ``html_stretch(seconds)`` answers every request with
    one for a while, ``latency_s`` delays every answer, and ``lag_s`` hides the trades made in the last
    ``lag_s`` seconds (by trade time) from every trades endpoint, as the slow "Data Source: Database" lags
    the stream (ticker/24hr, "Data Source: Memory", does not lag).
    """

    def __init__(
        self,
        ledger: Ledger,
        extra_symbols: int = 0,
        weight_limit: int = binance.REQUEST_WEIGHT_PER_MINUTE,
        data_api: bool = False,
    ) -> None:
        self.ledger = ledger
        self.data_api = data_api
        self.weight_spent = 0
        """Request weight spent since the start, all minutes and IPs."""
        self.ips: dict[str, IpWeight] = {}
        self.extra_symbols = [f"SYM{i:04d}USDT" for i in range(extra_symbols)]
        self.weight_limit = weight_limit
        self.retry_after_s = 1
        self.requests: list[str] = []
        self.status_counts: dict[int, int] = {}
        self._forced_429 = 0
        self.lag_s = 0.0
        self.latency_s = 0.0
        """Seconds each answer takes to go out (the weight counts on arrival): Binance's trade endpoints take
        tens to hundreds of milliseconds, so a client has several requests in flight."""
        self.restricted = False
        """Answer every request with 451, as Binance does for a restricted location."""
        self._html_every = 0
        self._html_statuses: tuple[int, ...] = ()
        self._html_until = 0.0
        self._html_seen = 0

    def force_429(self, requests: int, retry_after_s: int = 1) -> None:
        """Answer the next ``requests`` requests with 429 and ``Retry-After: retry_after_s``."""
        self._forced_429 = requests
        self.retry_after_s = retry_after_s

    def html_errors(self, every: int, statuses: tuple[int, ...] = (403, 502)) -> None:
        """Answer every ``every``-th request (0: none) with an HTML error page, ``statuses`` in turn."""
        self._html_every, self._html_statuses, self._html_seen = every, statuses, 0

    def html_stretch(self, seconds: float, status: int = 502) -> None:
        """Answer every request with an HTML error page of ``status`` for ``seconds`` from now."""
        self._html_until, self._html_statuses = time.time() + seconds, (status,)

    def answer(self, path: str, query: dict[str, str], client: str = LOCAL_CLIENT, micro: bool = False) -> Answer:
        """The HTTP answer to ``GET path?query`` from the IP ``client`` (times in microseconds with ``micro``,
        as ``X-MBX-TIME-UNIT: MICROSECOND`` asks)."""
        self.requests.append(path)
        ip = self.ips.setdefault(client, IpWeight())
        status, headers, body = self._answer(path, query, ip, 1000 if micro else 1)
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        headers[binance.USED_WEIGHT_HEADER] = str(ip.used)
        return status, headers, body

    def _answer(self, path: str, query: dict[str, str], ip: IpWeight, unit: int) -> Answer:
        now = time.time()
        banned_s = ip.ban(now)
        if banned_s:
            until_ms = int(ip.banned_until * 1000)
            return 418, {binance.RETRY_AFTER_HEADER: str(banned_s)}, _error(-1003, f"IP banned until {until_ms}.")
        if self.restricted:
            return 451, {}, _error(0, "Service unavailable from a restricted location according to 'b. Eligibility'.")
        page = self._html_page(now)
        if page is not None:
            return page
        if int(now // 60) != ip.minute:
            ip.minute, ip.used = int(now // 60), 0
        weight = _weight(path, query)
        ip.used += weight
        self.weight_spent += weight
        if self._forced_429 > 0 or ip.used > self.weight_limit:
            # over the limit, the wait is until the next minute; forced 429s say retry_after_s
            retry_s = self.retry_after_s if self._forced_429 else math.ceil(60 - now % 60)
            self._forced_429 = max(0, self._forced_429 - 1)
            ip.blocked_until = now + retry_s - 0.05 if self._forced_429 == 0 else 0.0
            return 429, {binance.RETRY_AFTER_HEADER: str(retry_s)}, _error(-1003, "Too many requests.")
        handlers = {
            binance.EXCHANGE_INFO_PATH: self._exchange_info,
            binance.HISTORICAL_TRADES_PATH: self._historical_trades,
            binance.RECENT_TRADES_PATH: self._recent_trades,
            binance.AGG_TRADES_PATH: self._agg_trades,
            binance.TICKER_24H_PATH: self._tickers,
        }
        handler = handlers.get(path)
        if handler is None or (self.data_api and path in binance.DATA_API_PATHS_MISSING):
            return 404, {}, _error(-1, "Not found.")
        try:
            return 200, {}, orjson.dumps(_in_unit(handler(query), unit))
        except _BadRequest as e:
            return 400, {}, _error(e.code, str(e))

    def _html_page(self, now: float) -> Answer | None:
        """The HTML error page this request gets from the front end, if any (it costs no weight)."""
        self._html_seen += 1
        if now < self._html_until:
            status = self._html_statuses[0]
        elif self._html_every and self._html_seen % self._html_every == 0:
            status = self._html_statuses[(self._html_seen // self._html_every - 1) % len(self._html_statuses)]
        else:
            return None
        body = f"<html><head><title>{status}</title></head><body><h1>{status}</h1><hr>nginx</body></html>"
        return status, {"Content-Type": "text/html"}, body.encode()

    def _visible_end(self, market: Market) -> int:
        """One past the newest id REST shows: trades of the last ``lag_s`` seconds are not there yet."""
        if self.lag_s <= 0:
            return market.next_id
        return market.first_id + bisect.bisect_right(market.times, int((time.time() - self.lag_s) * 1000))

    def _market(self, query: dict[str, str]) -> Market:
        market = self.ledger.markets.get(query.get("symbol", ""))
        if market is None:
            raise _BadRequest(-1121, "Invalid symbol.")
        return market

    def _exchange_info(self, query: dict[str, str]) -> Any:
        statuses = {s: m.status for s, m in self.ledger.markets.items()}
        statuses.update(dict.fromkeys(self.extra_symbols, binance.STATUS_TRADING))
        wanted = query.get("symbolStatus")
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "symbols": [
                {
                    "symbol": s,
                    "status": status,
                    "baseAsset": s[:-4],
                    "quoteAsset": s[-4:],
                    "permissionSets": [["SPOT"]],
                    "filters": SYMBOL_FILTERS,
                }
                for s, status in statuses.items()
                if wanted is None or status == wanted
            ],
        }

    def _tickers(self, query: dict[str, str]) -> Any:
        """24-hour rolling-window statistics of ``symbol`` (an object), of ``symbols`` (a JSON array of names) or
        of every symbol (a list), from the ledger as it is now: the ticker does not lag as trade pages do."""
        if "symbol" in query and "symbols" in query:
            raise _BadRequest(-1128, "Combination of optional parameters invalid.")
        if "symbol" in query:
            return _ticker(self._market(query))
        if "symbols" not in query:
            return [_ticker(m) for m in self.ledger.markets.values()]
        return [_ticker(self._market({"symbol": name})) for name in _names(query["symbols"])]

    def _historical_trades(self, query: dict[str, str]) -> Any:
        market = self._market(query)
        limit = _limit(query, default=500)
        end = self._visible_end(market)
        first = _int(query, "fromId", default=end - limit)
        first = max(first, market.first_id)
        return [market.trade(i).rest() for i in range(first, min(first + limit, end))]

    def _recent_trades(self, query: dict[str, str]) -> Any:
        return self._historical_trades({k: v for k, v in query.items() if k != "fromId"})

    def _agg_trades(self, query: dict[str, str]) -> Any:
        """Consecutive trades with the same time, side and price merged, as Binance aggregates taker orders:
        from aggregate ``fromId`` (inclusive), else from ``startTime``, else the most recent ``limit``; up to
        ``endTime``. startTime and endTime together must be less than an hour apart."""
        market = self._market(query)
        limit = _limit(query, default=500)
        end = self._visible_end(market)
        start_time, end_time = _int(query, "startTime", default=-1), _int(query, "endTime", default=2**62)
        if "startTime" in query and "endTime" in query and end_time - start_time >= 3_600_000:
            raise _BadRequest(-1127, "More than 1 hours between startTime and endTime.")
        if "fromId" in query:
            # the fake's aggregate ids are the first trade id of each aggregate
            first = max(market.first_id, _int(query, "fromId", default=0))
        elif "startTime" in query:
            first = market.first_id + bisect.bisect_left(market.times, start_time)
        else:
            first = _recent_start(market, end, limit)
        aggregates: list[dict[str, Any]] = []
        trade_id = first
        while trade_id < end and len(aggregates) < limit and market.times[trade_id - market.first_id] <= end_time:
            last = trade_id
            while last + 1 < end and _same_order(market, last, last + 1):
                last += 1
            head = market.trade(trade_id)
            qty = sum(float(market.trade(i).qty) for i in range(trade_id, last + 1))
            aggregates.append(
                {"a": trade_id, "p": head.price, "q": f"{qty:.8f}", "f": trade_id, "l": last, "T": head.time_ms,
                 "m": head.buyer_maker, "M": True}
            )  # fmt: skip
            trade_id = last + 1
        return aggregates


def _same_order(market: Market, before: int, trade_id: int) -> bool:
    """True when trade ``trade_id`` joins the aggregate of the one before it (same time, price and side)."""
    i, j = before - market.first_id, trade_id - market.first_id
    return (market.times[i], market.prices[i], market.makers[i]) == (
        market.times[j],
        market.prices[j],
        market.makers[j],
    )


def _recent_start(market: Market, end: int, limit: int) -> int:
    """The first trade id of the ``limit``-th aggregate back from ``end`` (the newest ``limit`` aggregates)."""
    start = end
    for _ in range(limit):
        if start <= market.first_id:
            break
        start -= 1
        while start > market.first_id and _same_order(market, start - 1, start):
            start -= 1
    return start


DAY_MS = 86_400_000
TIME_FIELDS = frozenset({"time", "T", "openTime", "closeTime", "serverTime"})


def _in_unit(body: Any, unit: int) -> Any:
    """An answer's times (ms) multiplied by ``unit`` (1000: microseconds)."""
    if unit == 1:
        return body
    if isinstance(body, list):
        return [_in_unit(row, unit) for row in body]
    if isinstance(body, dict):
        return {k: v * unit if k in TIME_FIELDS else _in_unit(v, unit) for k, v in body.items()}
    return body


def _ticker(market: Market) -> dict[str, Any]:
    """One symbol's ticker/24hr row over its trades of the last 24 hours (the fake has no order book: bid and
    ask are the last price, with no quantity)."""
    now_ms = int(time.time() * 1000)
    first = bisect.bisect_left(market.times, now_ms - DAY_MS)
    prices, qtys = market.prices[first:], market.qtys[first:]
    last = market.trade(market.next_id - 1) if market.times else None
    volume = sum(qtys)
    quote = sum(map(operator.mul, prices, qtys))  # cents x 1e-8 units
    open_cents = prices[0] if prices else 0
    close_cents = market.prices[-1] if market.times else 0
    previous = market.prices[first - 1] if first else 0
    return {
        "symbol": market.symbol,
        "priceChange": _decimal(close_cents - open_cents if prices else 0, 2),
        "priceChangePercent": f"{(close_cents - open_cents) / open_cents * 100 if open_cents else 0:.3f}",
        "weightedAvgPrice": _decimal(round(quote / volume) if volume else 0, 2),
        "prevClosePrice": _decimal(previous, 2),
        "lastPrice": last.price if last else _decimal(0, 2),
        "lastQty": last.qty if last else _decimal(0, 8),
        "bidPrice": last.price if last else _decimal(0, 2),
        "bidQty": _decimal(0, 8),
        "askPrice": last.price if last else _decimal(0, 2),
        "askQty": _decimal(0, 8),
        "openPrice": _decimal(open_cents, 2),
        "highPrice": _decimal(max(prices, default=0), 2),
        "lowPrice": _decimal(min(prices, default=0), 2),
        "volume": _decimal(volume, 8),
        "quoteVolume": _decimal(round(quote / 10**8), 2),
        "openTime": now_ms - DAY_MS,
        "closeTime": now_ms,
        "firstId": market.first_id + first if prices else -1,
        "lastId": market.next_id - 1 if prices else -1,
        "count": len(prices),
    }


def _decimal(units: int, places: int) -> str:
    """``units`` of ``10**-places`` as Binance's 8-decimal string."""
    whole, fraction = divmod(abs(units), 10**places)
    return f"{'-' if units < 0 else ''}{whole}.{fraction:0{places}d}{'0' * (8 - places)}"


def _weight(path: str, query: dict[str, str]) -> int:
    """The request weight of ``GET path?query`` (ticker/24hr's depends on how many symbols it asks for)."""
    if path != binance.TICKER_24H_PATH:
        return binance.WEIGHTS.get(path, 1)
    if "symbol" in query:
        return binance.ticker_weight(1)
    if "symbols" in query:
        try:
            return binance.ticker_weight(len(_names(query["symbols"])))
        except _BadRequest:
            return binance.ticker_weight(1)
    return binance.ticker_weight(None)


def _names(value: str) -> list[str]:
    """The symbol names of a ``symbols`` parameter, a JSON array of strings."""
    try:
        names = orjson.loads(value)
    except orjson.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _BadRequest(-1100, "Illegal characters found in parameter 'symbols'.")
    return names


class _BadRequest(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error(code: int, message: str) -> bytes:
    return orjson.dumps({"code": code, "msg": message})


def _int(query: dict[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.lstrip("-").isdigit():
        raise _BadRequest(-1100, f"Illegal characters found in parameter '{name}'.")
    return int(value)


def _limit(query: dict[str, str], default: int) -> int:
    limit = _int(query, "limit", default)
    if not 1 <= limit <= binance.MAX_TRADES_PER_REQUEST:
        raise _BadRequest(-1100, "limit must be between 1 and 1000.")
    return limit
