"""The fake exchange's server: WebSocket trade streams and REST market data on one loopback port.

Streams: ``/stream?streams=a@trade/b@aggTrade``, the combined envelope (the collector and cryptofeed use no
other, and raw ``/ws/`` streams are not served), carrying ``<symbol>@trade`` and, when the scenario asks for
it, ``<symbol>@aggTrade``; server pings every ``ping_interval_s`` and a disconnect when pongs stop
(websockets' keepalive); live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS with Binance's error codes; at most
5 incoming messages per second. Trades go out as pre-built WebSocket frames written straight to the
transport, many per write, so the fake can push 100,000+ trades/s without eating the cores a benchmark
measures.

REST (see :mod:`fake_binance.rest`): exchangeInfo, historicalTrades, trades and aggTrades, with weights,
``X-MBX-USED-WEIGHT-1M``, 429 + ``Retry-After`` and 418 for a client that ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from collector import binance
from fake_binance.ledger import Ledger, Trade
from fake_binance.rest import RestApi
from fake_binance.scenario import MALFORMED_FRAMES, Scenario

Tick = tuple[int, dict[str, list[bytes]]]
"""(trades made up to and including this tick, the WebSocket frames to send per stream name)."""
STREAM_SUFFIXES = (binance.TRADE_STREAM_SUFFIX, binance.AGG_TRADE_STREAM_SUFFIX)


def ws_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, final WebSocket text frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65_536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def trade_payload(trade: Trade, event_ms: int) -> bytes:
    """The ``<symbol>@trade`` payload of a trade, as Binance sends it."""
    return orjson.dumps(
        {
            "e": binance.EVENT_TRADE,
            "E": event_ms,
            "s": trade.symbol,
            "t": trade.id,
            "p": trade.price,
            "q": trade.qty,
            "T": trade.time_ms,
            "m": trade.buyer_maker,
            "M": True,
        }
    )


def agg_trade_payload(trades: list[Trade], event_ms: int) -> bytes:
    """The ``<symbol>@aggTrade`` payload of consecutive trades of one taker order (same time, price and side).

    The aggregate id is the first trade id, as in the fake's REST ``aggTrades``.
    """
    head = trades[0]
    return orjson.dumps(
        {
            "e": binance.EVENT_AGG_TRADE,
            "E": event_ms,
            "s": head.symbol,
            "a": head.id,
            "p": head.price,
            "q": f"{sum(float(t.qty) for t in trades):.8f}",
            "f": head.id,
            "l": trades[-1].id,
            "T": head.time_ms,
            "m": head.buyer_maker,
            "M": True,
        }
    )


def stream_symbol(stream: str) -> str:
    """The symbol of a stream name: ``btcusdt@aggTrade`` -> ``BTCUSDT``."""
    return stream.split("@", 1)[0].upper()


@dataclass(eq=False)
class Subscriber:
    """One client connection and the streams it receives (``btcusdt@trade``, ``btcusdt@aggTrade``)."""

    ws: ServerConnection
    streams: set[str] = field(default_factory=set)
    stalled: bool = False
    messages: list[float] = field(default_factory=list)

    def push(self, frames: list[bytes]) -> None:
        """Write pre-built frames to the socket at once (dropped while stalled or closing)."""
        transport = self.ws.transport
        if frames and not self.stalled and self.ws.state is State.OPEN and not transport.is_closing():
            transport.write(b"".join(frames))


class FakeBinance:
    """A fake Binance on 127.0.0.1. ``async with FakeBinance([...]) as fake:`` starts and stops it."""

    def __init__(
        self,
        symbols: list[str],
        first_id: int = 1,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 60.0,
        extra_symbols: int = 0,
        prices_cents: Mapping[str, int] | None = None,
        data_api: bool = False,
    ) -> None:
        self.ledger = Ledger(symbols, first_id, prices_cents)
        self.rest = RestApi(self.ledger, extra_symbols, data_api=data_api)
        self.subscribers: set[Subscriber] = set()
        self.connections_made = 0
        self.aggregates_made = 0
        """``@aggTrade`` messages made (each sent to every subscriber of its stream)."""
        self._ping_interval_s = ping_interval_s
        self._pong_timeout_s = pong_timeout_s
        self._server: Server | None = None
        self._port = 0
        self._closing: set[asyncio.Future[None]] = set()
        self.nested_errors = False
        """Send control errors nested, ``{"error": {"code", "msg"}, "id"}``, as the live server has been seen to."""
        self.sent_at: list[tuple[int, float]] = []
        """(trades made so far, wall time) after each tick went out: for latency measurements."""
        self._refuse_until = 0.0

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL, like ``wss://stream.binance.com:9443``."""
        return f"ws://127.0.0.1:{self._port}"

    @property
    def rest_url(self) -> str:
        """The REST base URL, like ``https://api.binance.com``."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port unless given)."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            port,
            process_request=self._process_request,
            compression=None,
            ping_interval=self._ping_interval_s,
            ping_timeout=self._pong_timeout_s,
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeBinance:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # Scripted behaviour

    async def wait_for_subscribers(self, symbols: int, timeout_s: float = 30.0) -> None:
        """Wait until the streams of at least ``symbols`` symbols have a live subscriber."""
        deadline = time.monotonic() + timeout_s
        while len({stream_symbol(s) for sub in self.live() for s in sub.streams}) < symbols:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {symbols} symbols subscribed after {timeout_s} s")
            await asyncio.sleep(0.01)

    def live(self) -> list[Subscriber]:
        """Subscribers whose connection is open and not stalled."""
        return [s for s in self.subscribers if not s.stalled and not s.ws.transport.is_closing()]

    async def play(self, scenario: Scenario) -> None:
        """Make ``scenario.count`` trades at ``scenario.rate`` per second and stream them as they are made."""
        ticks = self._ticks(scenario)
        await self.stream(ticks, scenario.rate, count=scenario.count)

    def prepare(self, scenario: Scenario) -> list[Tick]:
        """Make and record every trade of ``scenario`` now; :meth:`stream` sends them later at no cost."""
        return list(self._ticks(scenario))

    async def stream(self, ticks: Iterable[Tick], rate: float, count: int) -> None:
        """Send ticks of trades so that ``count`` trades go out at ``rate`` per second."""
        started = time.monotonic()
        sent = 0
        for made, outgoing in ticks:
            self._send(outgoing)
            sent = made
            self.sent_at.append((sent, time.time()))
            delay = started + sent / rate - time.monotonic()
            await asyncio.sleep(max(0.0, delay))
        assert sent == count

    def _ticks(self, scenario: Scenario) -> Iterator[Tick]:
        """Trades in ticks of 5 ms worth at the scenario's rate, as frames per stream (made lazily).

        With ``scenario.agg_trades`` an aggregate goes out once the next trade of its symbol ends it (the last
        ones with the last tick), as Binance publishes one when the taker order is done.
        """
        per_tick = max(1, round(scenario.rate * 0.005))
        made = burst_left = burst_ms = 0
        open_aggregates: dict[str, list[Trade]] = {}
        while made < scenario.count:
            outgoing: dict[str, list[bytes]] = {}
            now_ms = int(time.time() * 1000)
            markets = self.ledger.trading(scenario.symbols)  # markets are listed and halted while trading goes on
            for _ in range(min(per_tick, scenario.count - made)):
                made += 1
                if scenario.burst_every and made % scenario.burst_every == 0:
                    burst_left, burst_ms = scenario.burst_size, now_ms
                market = markets[0] if burst_left else markets[scenario.pick(made, len(markets))]
                trade = market.make(burst_ms if burst_left else now_ms)
                burst_left = max(0, burst_left - 1)
                stream = binance.trade_stream(trade.symbol)
                if not scenario.skipped(trade.symbol, trade.id):
                    outgoing.setdefault(stream, []).append(
                        ws_frame(self._envelope(stream, trade_payload(trade, now_ms)))
                    )
                    if scenario.agg_trades:
                        self._aggregate(open_aggregates, trade, outgoing, now_ms)
                if scenario.malformed_every and made % scenario.malformed_every == 0:
                    bad = MALFORMED_FRAMES[(made // scenario.malformed_every) % len(MALFORMED_FRAMES)]
                    outgoing.setdefault(stream, []).append(ws_frame(bad))
            if made >= scenario.count:
                for trades in open_aggregates.values():
                    self._send_aggregate(trades, outgoing, now_ms)
            yield made, outgoing

    def _aggregate(
        self, open_aggregates: dict[str, list[Trade]], trade: Trade, outgoing: dict[str, list[bytes]], now_ms: int
    ) -> None:
        """Add ``trade`` to its symbol's open aggregate, or send that one and open a new one."""
        current = open_aggregates.get(trade.symbol)
        if (
            current
            and trade.id == current[-1].id + 1
            and (current[0].time_ms, current[0].price, current[0].buyer_maker)
            == (trade.time_ms, trade.price, trade.buyer_maker)
        ):
            current.append(trade)
            return
        if current:
            self._send_aggregate(current, outgoing, now_ms)
        open_aggregates[trade.symbol] = [trade]

    def _send_aggregate(self, trades: list[Trade], outgoing: dict[str, list[bytes]], now_ms: int) -> None:
        stream = trades[0].symbol.lower() + binance.AGG_TRADE_STREAM_SUFFIX
        outgoing.setdefault(stream, []).append(ws_frame(self._envelope(stream, agg_trade_payload(trades, now_ms))))
        self.aggregates_made += 1

    @staticmethod
    def _envelope(stream: str, payload: bytes) -> bytes:
        return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"

    def _send(self, outgoing: dict[str, list[bytes]]) -> None:
        for sub in self.subscribers:
            frames: list[bytes] = []
            for stream in sub.streams:
                frames.extend(outgoing.get(stream, ()))
            sub.push(frames)

    def drop_connections(self, refuse_for_s: float = 0.0) -> None:
        """Cut every connection at once, mid-stream, without a close frame; new connections are refused (HTTP
        503) for ``refuse_for_s``, as during a network blip."""
        self._refuse_until = time.monotonic() + refuse_for_s
        for sub in list(self.subscribers):
            sub.ws.transport.abort()

    def stall(self) -> None:
        """Keep every connection open but silent: no trades, no pongs (reading stops), as a hung server would."""
        for sub in self.subscribers:
            sub.stalled = True
            sub.ws.transport.pause_reading()

    def silence(self, symbol: str) -> int:
        """Stop the data of the connections carrying ``symbol`` while they go on answering pings (a silent
        stall); other connections, and connections opened later, go on. Returns how many were silenced."""
        silenced = [sub for sub in self.subscribers if any(stream_symbol(s) == symbol for s in sub.streams)]
        for sub in silenced:
            sub.stalled = True
        return len(silenced)

    def server_shutdown(self, close_after_s: float = 1.0) -> None:
        """Send ``serverShutdown`` on every connection (wrapped as ``{"stream":"!serverShutdown","data":...}``,
        as the live server does on combined streams) and close each ``close_after_s`` later."""
        data = orjson.dumps({"e": binance.EVENT_SERVER_SHUTDOWN, "E": int(time.time() * 1000)})
        event = self._envelope(binance.SERVER_SHUTDOWN_STREAM, data)  # combined streams wrap it, as live
        loop = asyncio.get_running_loop()
        for sub in list(self.subscribers):
            sub.push([ws_frame(event)])
            loop.call_later(close_after_s, self._close_later, sub.ws)

    def _close_later(self, ws: ServerConnection) -> None:
        task = asyncio.ensure_future(ws.close(1001, "server shutdown"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # Protocol

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        if url.path.startswith("/api/"):
            query = dict(urllib.parse.parse_qsl(url.query))
            status, headers, body = self.rest.answer(url.path, query, str(connection.remote_address[0]))
            if self.rest.latency_s:
                await asyncio.sleep(self.rest.latency_s)  # counted on arrival, answered later, as on Binance
            response = connection.respond(status, "")
            response.body = body
            response.headers["Content-Type"] = headers.pop("Content-Type", "application/json")
            for name, value in headers.items():
                response.headers[name] = value
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(body))
            return response
        if url.path == binance.COMBINED_STREAM_PATH:
            if time.monotonic() < self._refuse_until:
                return connection.respond(503, "unavailable\n")
            if len(request.path) > binance.MAX_STREAM_URL_CHARS:
                return connection.respond(414, "URI too long\n")
            streams = dict(urllib.parse.parse_qsl(url.query)).get("streams", "")
            if len(streams.split("/")) > binance.MAX_STREAMS_PER_CONNECTION:
                return connection.respond(400, "too many streams\n")
            return None
        return connection.respond(404, "not found\n")

    def _subscriber(self, ws: ServerConnection) -> Subscriber:
        assert ws.request is not None
        streams = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ws.request.path).query)).get("streams", "")
        return Subscriber(ws, streams=known_streams(streams.split("/"), set(self.ledger.markets)))

    async def _handle(self, ws: ServerConnection) -> None:
        sub = self._subscriber(ws)
        self.subscribers.add(sub)
        self.connections_made += 1
        try:
            async for message in ws:
                if not self._control(sub, message):
                    await ws.close(1008, "too many messages")
                    break
        except ConnectionClosed:
            pass
        finally:
            self.subscribers.discard(sub)

    def _control(self, sub: Subscriber, message: str | bytes) -> bool:
        """Answer one control message; False when the client is over 5 messages per second."""
        now = time.monotonic()
        sub.messages = [t for t in sub.messages if t > now - 1] + [now]
        if len(sub.messages) > binance.MAX_INCOMING_MESSAGES_PER_SECOND:
            return False
        answer = control_answer(sub, message, set(self.ledger.markets))
        if self.nested_errors and "code" in answer:
            answer = {"error": {"code": answer.pop("code"), "msg": answer.pop("msg")}, **answer}
        with contextlib.suppress(Exception):
            sub.push([ws_frame(orjson.dumps(answer))])
        return True


def control_answer(sub: Subscriber, message: str | bytes, markets: set[str]) -> dict[str, object]:
    """Binance's answer to a live control message (errors: 0 unknown property, 1 bad type, 2 bad request,
    3 bad JSON)."""
    try:
        request = orjson.loads(message)
    except orjson.JSONDecodeError:
        return {"code": 3, "msg": "Invalid JSON"}
    if not isinstance(request, dict):
        return {"code": 2, "msg": "Invalid request"}
    unknown = set(request) - {"method", "params", "id"}
    if unknown:
        return {"code": 0, "msg": f"Unknown property {sorted(unknown)[0]}", "id": request.get("id")}
    method, params, rid = request.get("method"), request.get("params", []), request.get("id")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return {"code": 1, "msg": "Invalid value type: expected array of strings", "id": rid}
    if method == "SUBSCRIBE":
        if len(sub.streams | set(params)) > binance.MAX_STREAMS_PER_CONNECTION:
            return {"code": 2, "msg": "Invalid request: too many streams", "id": rid}
        sub.streams |= known_streams(params, markets)
    elif method == "UNSUBSCRIBE":
        sub.streams -= set(params)
    elif method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(sub.streams), "id": rid}
    else:
        return {"code": 2, "msg": "Invalid request", "id": rid}
    return {"result": None, "id": rid}


def known_streams(streams: list[str], markets: set[str]) -> set[str]:
    """The trade and aggTrade streams among ``streams`` whose symbol the fake trades."""
    return {s for s in streams if s.endswith(STREAM_SUFFIXES) and stream_symbol(s) in markets}
