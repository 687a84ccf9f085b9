"""The fake exchange's server: WebSocket trade streams and REST market data on one loopback port, and the SBE
streams on another.

Streams: combined (``/stream?streams=a@trade/b@aggTrade``, each event in a ``{"stream","data"}`` envelope)
and raw (``/ws/<stream>``, bare events), with times in microseconds when the URL says
``timeUnit=MICROSECOND``, carrying ``<symbol>@trade`` and, when the scenario asks for it,
``<symbol>@aggTrade``; server pings every ``ping_interval_s`` and a disconnect when pongs stop (websockets'
keepalive); live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS with Binance's error codes; at most 5 incoming
messages per second, 1,024 streams and a URL of 8,000 characters per connection, 300 connection attempts
per IP in 5 minutes, a close at the connection's 24-hour lifetime. The SBE streams (``sbe_url``) take the
same paths, need an ``X-MBX-APIKEY`` header, and send ``<symbol>@trade`` as binary ``TradesStreamEvent``
frames (:mod:`fake_binance.sbe`); control answers and ``serverShutdown`` stay text frames. Trades go out
as pre-built WebSocket frames written straight to the transport, many per write, so the fake can push
100,000+ trades/s without eating the cores a benchmark measures (frames of the raw, microsecond and SBE
formats are only made while a client of that format is connected).

REST (see :mod:`fake_binance.rest`): exchangeInfo, historicalTrades, trades, aggTrades and ticker/24hr, with
weights, ``X-MBX-USED-WEIGHT-1M``, 429 + ``Retry-After`` and 418 for a client that ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from collector import binance
from fake_binance import archive, sbe
from fake_binance.ledger import Ledger, Trade
from fake_binance.rest import RestApi
from fake_binance.scenario import MALFORMED_FRAMES, Scenario

Frames = dict[str, dict[str, list[bytes]]]
"""The WebSocket frames to send, per wire format (:class:`Subscriber`'s ``wire``) and stream name."""
Tick = tuple[int, Frames]
"""(trades made up to and including this tick, the frames to send)."""
STREAM_SUFFIXES = (binance.TRADE_STREAM_SUFFIX, binance.AGG_TRADE_STREAM_SUFFIX)
COMBINED, RAW, SBE, MICRO = "combined", "raw", "sbe", "/us"
"""Wire formats: JSON on a combined stream (in an envelope) or a raw one (bare), with times in microseconds
(``timeUnit=MICROSECOND``: ``+ MICRO``), or SBE binary frames (any path)."""
DATA_PATH = "/data/spot/"
"""Bulk trade archives, as ``data.binance.vision`` serves them (:mod:`fake_binance.archive`)."""
TEXT, BINARY = 0x81, 0x82
"""The first byte of a final text or binary WebSocket frame."""


def ws_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """``payload`` as one unmasked, final WebSocket text (or binary) frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((opcode, n)) + payload
    if n < 65_536:
        return bytes((opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((opcode, 127)) + n.to_bytes(8, "big") + payload


def trade_payload(trade: Trade, event_ms: int, unit: int = 1) -> bytes:
    """The ``<symbol>@trade`` payload of a trade, as Binance sends it (times in ms, or µs with ``unit`` 1000)."""
    return orjson.dumps(
        {
            "e": binance.EVENT_TRADE,
            "E": event_ms * unit,
            "s": trade.symbol,
            "t": trade.id,
            "p": trade.price,
            "q": trade.qty,
            "T": trade.time_ms * unit,
            "m": trade.buyer_maker,
            "M": True,
        }
    )


def agg_trade_payload(trades: list[Trade], event_ms: int, unit: int = 1) -> bytes:
    """The ``<symbol>@aggTrade`` payload of consecutive trades of one taker order (same time, price and side).

    The aggregate id is the first trade id, as in the fake's REST ``aggTrades``.
    """
    head = trades[0]
    return orjson.dumps(
        {
            "e": binance.EVENT_AGG_TRADE,
            "E": event_ms * unit,
            "s": head.symbol,
            "a": head.id,
            "p": head.price,
            "q": f"{sum(float(t.qty) for t in trades):.8f}",
            "f": head.id,
            "l": trades[-1].id,
            "T": head.time_ms * unit,
            "m": head.buyer_maker,
            "M": True,
        }
    )


def shutdown_payload(event_ms: int, unit: int = 1) -> bytes:
    """The ``serverShutdown`` event."""
    return orjson.dumps({"e": binance.EVENT_SERVER_SHUTDOWN, "E": event_ms * unit})


def json_frame(wire: str, stream: str, payload: Callable[[int], bytes]) -> bytes:
    """The text frame of a JSON event for ``wire``: ``payload(unit)`` (1: ms, 1000: µs), bare on a raw stream,
    wrapped as ``{"stream":...,"data":...}`` on a combined one."""
    data = payload(1000 if wire.endswith(MICRO) else 1)
    return ws_frame(data if wire.startswith(RAW) else envelope(stream, data))


def envelope(stream: str, payload: bytes) -> bytes:
    """A combined stream's wrapping of one event."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def stream_symbol(stream: str) -> str:
    """The symbol of a stream name: ``btcusdt@aggTrade`` -> ``BTCUSDT``."""
    return stream.split("@", 1)[0].upper()


@dataclass(eq=False)
class Subscriber:
    """One client connection and the streams it receives (``btcusdt@trade``, ``btcusdt@aggTrade``), on a raw
    (``/ws/<stream>``) or combined path, in JSON (times in ms or µs) or SBE."""

    ws: ServerConnection
    streams: set[str] = field(default_factory=set)
    stalled: bool = False
    messages: list[float] = field(default_factory=list)
    raw: bool = False
    micro: bool = False
    sbe: bool = False

    @property
    def wire(self) -> str:
        """The format of the frames it gets: SBE, or JSON raw or combined, in ms or µs."""
        if self.sbe:
            return SBE
        return (RAW if self.raw else COMBINED) + (MICRO if self.micro else "")

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
        lifetime_s: float = binance.CONNECTION_LIFETIME_S,
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
        self._lifetime_s = lifetime_s
        self.attempt_limit = binance.MAX_CONNECTION_ATTEMPTS
        """Connection attempts per IP within ``CONNECTION_ATTEMPTS_WINDOW_S`` before the next is refused (429)."""
        self._attempts: dict[str, list[float]] = {}
        self._sbe_server: Server | None = None
        self._sbe_port = 0

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL, like ``wss://stream.binance.com:9443``."""
        return f"ws://127.0.0.1:{self._port}"

    @property
    def data_url(self) -> str:
        """The bulk archives' base URL, like ``https://data.binance.vision``."""
        return self.rest_url

    @property
    def sbe_url(self) -> str:
        """The SBE market-data streams' base URL, like ``wss://stream-sbe.binance.com:9443``."""
        return f"ws://127.0.0.1:{self._sbe_port}"

    @property
    def rest_url(self) -> str:
        """The REST base URL, like ``https://api.binance.com``."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port unless given), and on another free port for the SBE streams."""
        self._server = await self._serve(self._handle, self._process_request, port)
        self._port = self._server.sockets[0].getsockname()[1]
        self._sbe_server = await self._serve(self._handle_sbe, self._process_sbe_request, 0)
        self._sbe_port = self._sbe_server.sockets[0].getsockname()[1]

    async def _serve(
        self,
        handler: Callable[[ServerConnection], Awaitable[None]],
        process_request: Callable[[ServerConnection, Request], Awaitable[Response | None]],
        port: int,
    ) -> Server:
        return await serve(
            handler,
            "127.0.0.1",
            port,
            process_request=process_request,
            compression=None,
            ping_interval=self._ping_interval_s,
            ping_timeout=self._pong_timeout_s,
        )

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for server in (self._server, self._sbe_server):
            if server is not None:
                server.close()
                await server.wait_closed()

    async def __aenter__(self) -> FakeBinance:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # Scripted behaviour

    async def wait_for_subscribers(self, symbols: int, timeout_s: float = 120.0) -> None:
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
        among = frozenset(scenario.symbols)
        while made < scenario.count:
            wires = {sub.wire for sub in self.subscribers} - {COMBINED, SBE}  # combined frames are always made
            outgoing: Frames = {COMBINED: {}, **{wire: {} for wire in wires}}
            combined = outgoing[COMBINED]
            sbe_trades: dict[str, list[Trade]] | None = {} if any(sub.sbe for sub in self.subscribers) else None
            now_ms = int(time.time() * 1000)
            markets = self.ledger.trading(among)  # markets are listed and halted while trading goes on
            for _ in range(min(per_tick, scenario.count - made)):
                made += 1
                if scenario.burst_every and made % scenario.burst_every == 0:
                    burst_left, burst_ms = scenario.burst_size, now_ms
                market = markets[0] if burst_left else markets[scenario.pick(made, len(markets))]
                trade = market.make(burst_ms if burst_left else now_ms)
                burst_left = max(0, burst_left - 1)
                stream = binance.trade_stream(trade.symbol)
                if not scenario.skipped(trade.symbol, trade.id):
                    combined.setdefault(stream, []).append(ws_frame(envelope(stream, trade_payload(trade, now_ms))))
                    for wire in wires:
                        frame = json_frame(wire, stream, partial(trade_payload, trade, now_ms))
                        outgoing[wire].setdefault(stream, []).append(frame)
                    if sbe_trades is not None:
                        sbe_trades.setdefault(stream, []).append(trade)
                    if scenario.agg_trades:
                        self._aggregate(open_aggregates, trade, outgoing, now_ms)
                if scenario.malformed_every and made % scenario.malformed_every == 0:
                    bad = MALFORMED_FRAMES[(made // scenario.malformed_every) % len(MALFORMED_FRAMES)]
                    combined.setdefault(stream, []).append(ws_frame(bad))
            if made >= scenario.count:
                for trades in open_aggregates.values():
                    self._send_aggregate(trades, outgoing, now_ms)
            if sbe_trades is not None:
                outgoing[SBE] = {stream: sbe_frames(trades, now_ms) for stream, trades in sbe_trades.items()}
            yield made, outgoing

    def _aggregate(self, open_aggregates: dict[str, list[Trade]], trade: Trade, outgoing: Frames, now_ms: int) -> None:
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

    def _send_aggregate(self, trades: list[Trade], outgoing: Frames, now_ms: int) -> None:
        """The aggregate's frames for every JSON wire format in use (SBE streams carry no aggregates)."""
        stream = trades[0].symbol.lower() + binance.AGG_TRADE_STREAM_SUFFIX
        for wire, frames in outgoing.items():
            if wire != SBE:
                frames.setdefault(stream, []).append(
                    json_frame(wire, stream, partial(agg_trade_payload, trades, now_ms))
                )
        self.aggregates_made += 1

    def _send(self, outgoing: Frames) -> None:
        for sub in self.subscribers:
            by_stream = outgoing.get(sub.wire, {})
            frames: list[bytes] = []
            for stream in sub.streams:
                frames.extend(by_stream.get(stream, ()))
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
        """Send ``serverShutdown`` on every connection, a text frame even on SBE ones (bare on a raw stream,
        wrapped as ``{"stream":"!serverShutdown","data":...}`` on a combined one, as the live server does) and
        close each ``close_after_s`` later."""
        now_ms = int(time.time() * 1000)
        loop = asyncio.get_running_loop()
        for sub in list(self.subscribers):
            wire = (RAW if sub.raw else COMBINED) + (MICRO if sub.micro or sub.sbe else "")
            sub.push([json_frame(wire, binance.SERVER_SHUTDOWN_STREAM, partial(shutdown_payload, now_ms))])
            loop.call_later(close_after_s, self._close_later, sub.ws, 1001, "server shutdown")

    def _close_later(self, ws: ServerConnection, code: int, reason: str) -> None:
        task = asyncio.ensure_future(ws.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # Protocol

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        if url.path.startswith("/api/"):
            query = dict(urllib.parse.parse_qsl(url.query))
            client, unit = str(connection.remote_address[0]), request.headers.get(binance.TIME_UNIT_HEADER, "")
            status, headers, body = self.rest.answer(
                url.path, query, client, micro=unit.upper() == binance.TIME_UNIT_MICROSECOND
            )
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
        if url.path.startswith(DATA_PATH):
            status, body = archive.answer(self.ledger.markets, urllib.parse.unquote(url.path))
            response = connection.respond(status, "")
            response.body = body
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(body))
            return response
        return self._stream_request(connection, request)

    async def _process_sbe_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The SBE streams' handshake: an API key in ``X-MBX-APIKEY`` is needed (no signature)."""
        if not request.headers.get(binance.API_KEY_HEADER):
            response = connection.respond(401, '{"code":-2014,"msg":"API-key format invalid."}')
            response.headers["Content-Type"] = "application/json;charset=UTF-8"
            return response
        return self._stream_request(connection, request)

    def _stream_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Accept a raw (``/ws/<stream>``) or combined (``/stream?streams=``) stream, within Binance's limits."""
        url = urllib.parse.urlsplit(request.path)
        if url.path != binance.COMBINED_STREAM_PATH and not url.path.startswith(binance.RAW_STREAM_PATH):
            return connection.respond(404, "not found\n")
        now = time.monotonic()
        ip = str(connection.remote_address[0])
        attempts = [t for t in self._attempts.get(ip, []) if t > now - binance.CONNECTION_ATTEMPTS_WINDOW_S]
        self._attempts[ip] = [*attempts, now]
        if len(attempts) >= self.attempt_limit:
            return connection.respond(429, "too many connection attempts\n")
        if now < self._refuse_until:
            return connection.respond(503, "unavailable\n")
        if len(request.path) > binance.MAX_STREAM_URL_CHARS:
            return connection.respond(414, "URI too long\n")
        if len(stream_names(request.path)) > binance.MAX_STREAMS_PER_CONNECTION:
            return connection.respond(400, "too many streams\n")
        return None

    def _subscriber(self, ws: ServerConnection, sbe: bool) -> Subscriber:
        assert ws.request is not None
        url = urllib.parse.urlsplit(ws.request.path)
        micro = dict(urllib.parse.parse_qsl(url.query)).get("timeUnit", "").upper() == binance.TIME_UNIT_MICROSECOND
        streams = known_streams(stream_names(ws.request.path), set(self.ledger.markets))
        return Subscriber(ws, streams=streams, raw=url.path != binance.COMBINED_STREAM_PATH, micro=micro, sbe=sbe)

    async def _handle(self, ws: ServerConnection) -> None:
        await self._connection(ws, self._subscriber(ws, sbe=False))

    async def _handle_sbe(self, ws: ServerConnection) -> None:
        await self._connection(ws, self._subscriber(ws, sbe=True))

    async def _connection(self, ws: ServerConnection, sub: Subscriber) -> None:
        """Serve one connection until it closes: control messages in, and a close at the 24-hour mark."""
        self.subscribers.add(sub)
        self.connections_made += 1
        lifetime = asyncio.get_running_loop().call_later(
            self._lifetime_s, self._close_later, ws, 1000, "connection lifetime"
        )
        try:
            async for message in ws:
                if not self._control(sub, message):
                    await ws.close(1008, "too many messages")
                    break
        except ConnectionClosed:
            pass
        finally:
            lifetime.cancel()
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


def stream_names(path: str) -> list[str]:
    """The stream names of a stream URL's path: ``/ws/<stream>`` or ``/stream?streams=a/b``."""
    url = urllib.parse.urlsplit(path)
    if url.path.startswith(binance.RAW_STREAM_PATH):
        return [urllib.parse.unquote(url.path[len(binance.RAW_STREAM_PATH) :])]
    return dict(urllib.parse.parse_qsl(url.query)).get("streams", "").split("/")


def sbe_frames(trades: list[Trade], event_ms: int) -> list[bytes]:
    """Binary ``TradesStreamEvent`` frames of one stream's trades: one per run of trades at one time."""
    runs: list[list[Trade]] = []
    for trade in trades:
        if runs and runs[-1][-1].time_ms == trade.time_ms:
            runs[-1].append(trade)
        else:
            runs.append([trade])
    return [ws_frame(sbe.trades_event(run, event_ms * 1000), BINARY) for run in runs]


def known_streams(streams: list[str], markets: set[str]) -> set[str]:
    """The trade and aggTrade streams among ``streams`` whose symbol the fake trades."""
    return {s for s in streams if s.endswith(STREAM_SUFFIXES) and stream_symbol(s) in markets}
