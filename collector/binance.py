"""Facts of Binance's public spot API that the collector relies on, in one place.

Where the live API changes, this module is the one edit. Source: Binance's spot API documentation
(WebSocket streams, connection limits, REST market-data endpoints and limits), snapshot of 2026-07.
"""

from __future__ import annotations

import urllib.parse
from typing import Final

# WebSocket streams
WS_BASE_URLS: Final = {
    "production": "wss://stream.binance.com:9443",
    "data": "wss://data-stream.binance.vision",
    "testnet": "wss://stream.testnet.binance.vision",
}
COMBINED_STREAM_PATH: Final = "/stream"
"""``/stream?streams=a@trade/b@trade``: every message is wrapped as ``{"stream": ..., "data": {...}}``."""
RAW_STREAM_PATH: Final = "/ws/"
TRADE_STREAM_SUFFIX: Final = "@trade"
AGG_TRADE_STREAM_SUFFIX: Final = "@aggTrade"
"""``<symbol>@aggTrade``: the fills of one taker order at one price merged (ids ``f`` to ``l``); not collected,
since only the raw ``@trade`` stream carries every trade id, but served by the fake for other clients."""
MAX_STREAMS_PER_CONNECTION: Final = 1024
MAX_STREAM_URL_CHARS: Final = 8000
"""Combined-stream URLs of about 8,000 characters are refused (reached near 550 streams): larger connections
SUBSCRIBE the rest of their streams on the open connection."""
MAX_INCOMING_MESSAGES_PER_SECOND: Final = 5
"""Client-to-server messages (pings, pongs, control JSON) per second per connection before a disconnect."""
MAX_CONNECTION_ATTEMPTS: Final = 300
CONNECTION_ATTEMPTS_WINDOW_S: Final = 300.0
SERVER_PING_INTERVAL_S: Final = 20.0
PONG_TIMEOUT_S: Final = 60.0
CONNECTION_LIFETIME_S: Final = 24 * 3600.0

API_KEY_HEADER: Final = "X-MBX-APIKEY"
"""The SBE market-data streams (``wss://stream-sbe.binance.com:9443``, not used by pricecap: the same paths,
binary ``TradesStreamEvent`` frames) need an Ed25519 API key in this header to connect."""

# Trade payload of <symbol>@trade (the fields "b"/"a" were removed on 2024-06-18 and are not required).
EVENT_TRADE: Final = "trade"
EVENT_AGG_TRADE: Final = "aggTrade"
EVENT_SERVER_SHUTDOWN: Final = "serverShutdown"
SERVER_SHUTDOWN_STREAM: Final = "!serverShutdown"
"""The stream name that wraps ``serverShutdown`` on a combined stream."""

# Live control messages (JSON over the open connection)
METHOD_SUBSCRIBE: Final = "SUBSCRIBE"
METHOD_UNSUBSCRIBE: Final = "UNSUBSCRIBE"
METHOD_LIST_SUBSCRIPTIONS: Final = "LIST_SUBSCRIPTIONS"

# REST
REST_BASE_URLS: Final = {
    "production": "https://api.binance.com",
    "data": "https://data-api.binance.vision",
    "testnet": "https://testnet.binance.vision",
}
EXCHANGE_INFO_PATH: Final = "/api/v3/exchangeInfo"
HISTORICAL_TRADES_PATH: Final = "/api/v3/historicalTrades"
RECENT_TRADES_PATH: Final = "/api/v3/trades"
AGG_TRADES_PATH: Final = "/api/v3/aggTrades"
TICKER_24H_PATH: Final = "/api/v3/ticker/24hr"
"""24-hour rolling-window statistics of one symbol (``symbol=``), some (``symbols=["A","B"]``) or, without
either, every symbol; among them ``firstId``, ``lastId`` (-1: no trade in 24 h) and ``count``. "Data Source:
Memory": it does not lag the stream as the trade endpoints do."""
WEIGHTS: Final = {
    EXCHANGE_INFO_PATH: 20,
    HISTORICAL_TRADES_PATH: 25,
    RECENT_TRADES_PATH: 25,
    AGG_TRADES_PATH: 4,
    TICKER_24H_PATH: 80,
}
"""Request weights; ticker/24hr's is that of every symbol (see :func:`ticker_weight`)."""
TICKER_SYMBOLS_WEIGHTS: Final = ((20, 2), (100, 40))
"""ticker/24hr with ``symbol`` or ``symbols``: weight 2 up to 20 symbols, 40 up to 100, else 80 (as all)."""
DATA_API_PATHS_MISSING: Final = frozenset({HISTORICAL_TRADES_PATH})
"""What ``data-api.binance.vision`` does not serve (it has aggTrades, trades, ticker, exchangeInfo...)."""
STATUS_TRADING: Final = "TRADING"
SYMBOL_STATUSES: Final = frozenset({STATUS_TRADING, "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY"})
"""exchangeInfo symbol statuses; only TRADING symbols make trades for the public (CANCEL_ONLY: orders can only
be cancelled)."""
TIME_UNIT_HEADER: Final = "X-MBX-TIME-UNIT"
TIME_UNIT_MICROSECOND: Final = "MICROSECOND"
"""``X-MBX-TIME-UNIT: MICROSECOND`` (REST) or ``timeUnit=MICROSECOND`` (stream URLs): times in microseconds."""
MAX_TRADES_PER_REQUEST: Final = 1000
REQUEST_WEIGHT_PER_MINUTE: Final = 6000
USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"
RETRY_AFTER_HEADER: Final = "Retry-After"
HTTP_TOO_MANY_REQUESTS: Final = 429
HTTP_IP_BANNED: Final = 418
HTTP_WAF_REFUSED: Final = 403
"""A WAF rule of Binance's front end was violated: no body format promised (often an HTML page)."""
HTTP_NOT_FOUND: Final = 404
HTTP_GONE: Final = 410
"""Seen from Binance's nginx front end with an HTML page: a transient error, retried."""
HTTP_RESTRICTED_LOCATION: Final = 451
HTTP_PAUSE_STATUSES: Final = frozenset({HTTP_TOO_MANY_REQUESTS, HTTP_IP_BANNED, HTTP_WAF_REFUSED})
"""Answers after which no request is sent until ``Retry-After`` (60 s when absent) has passed."""


def ticker_weight(symbols: int | None) -> int:
    """The weight of a ticker/24hr request for ``symbols`` symbols (None: every symbol)."""
    for most, weight in TICKER_SYMBOLS_WEIGHTS:
        if symbols is not None and symbols <= most:
            return weight
    return WEIGHTS[TICKER_24H_PATH]


def trade_stream(symbol: str) -> str:
    """The raw trade stream name of a symbol, e.g. ``btcusdt@trade``."""
    return symbol.lower() + TRADE_STREAM_SUFFIX


def combined_stream_url(base_url: str, symbols: list[str]) -> str:
    """The combined-stream URL that carries the raw trade streams of ``symbols`` (names percent-encoded, so a
    Unicode symbol makes a valid URL)."""
    if len(symbols) > MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"{len(symbols)} streams exceed Binance's {MAX_STREAMS_PER_CONNECTION} per connection")
    streams = "/".join(urllib.parse.quote(trade_stream(s), safe="@") for s in symbols)
    return f"{base_url.rstrip('/')}{COMBINED_STREAM_PATH}?streams={streams}"


def url_and_rest(base_url: str, symbols: list[str]) -> tuple[str, list[str]]:
    """The longest combined-stream URL within :data:`MAX_STREAM_URL_CHARS` for a prefix of ``symbols`` (at least
    one), and the symbols left to SUBSCRIBE on the open connection."""
    head, length = 1, len(combined_stream_url(base_url, symbols[:1]))
    while head < len(symbols):
        length += 1 + len(urllib.parse.quote(trade_stream(symbols[head]), safe="@"))
        if length > MAX_STREAM_URL_CHARS:
            break
        head += 1
    return combined_stream_url(base_url, symbols[:head]), symbols[head:]
