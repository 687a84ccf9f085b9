"""The source: one combined-stream WebSocket connection per group of symbols, kept open for good.

The WebSocket client is picows's websockets-compatible asyncio API (``picows.websockets``): the same
``connect``/``recv``/``close`` and exceptions as websockets, with its frame parser and connection in Cython,
about a sixth of websockets' CPU per received frame (docs/performance/collector.md). Pings from Binance are
answered by the client itself. The client's own keepalive pings detect a stalled
socket (open but silent): no pong within ``ping_timeout_s`` closes it. A connection that answers pings while
its data stops is found by the data watchdog (``collector/watchdog.py``), which replaces it with
:meth:`Connection.recycle`. Every close is followed by a reconnection, paced by
:class:`~collector.backoff.Backoff` and the shared :class:`~collector.backoff.AttemptLimiter`; a
``serverShutdown`` notice, or a connection nearing Binance's 24-hour limit, is replaced at once by a new
connection opened *before* the old one is closed (the pipeline drops the trades both deliver). After any
other reconnection, ``on_reconnect`` tells the pipeline that trades of the connection's symbols may have gone by
unseen, and the repairer catches them up from REST.

Streams whose combined-stream URL would pass Binance's ~8,000 characters (a connection of more than about 550
symbols), and symbols added or removed while the connection is open (``--all-symbols`` refreshes), are
SUBSCRIBEd/UNSUBSCRIBEd with control messages, at most :data:`CONTROL_MESSAGES_PER_S` a second (Binance closes a
connection over 5 incoming messages a second, pongs included), until ``LIST_SUBSCRIPTIONS`` shows exactly the
connection's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import cast

import orjson
from picows.websockets.asyncio.client import ClientConnection, connect
from picows.websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from collector import binance
from collector.backoff import AttemptLimiter, Backoff
from collector.stats import Stats

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes], bool]
"""Takes one frame; returns False when the server announced a shutdown (the connection is replaced)."""
HANDOVER_CAUSES = frozenset({"server_shutdown", "lifetime"})
CONTROL_MESSAGES_PER_S = 2
"""Our SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS pace: with the pongs and keepalive pings, well within 5 a second."""
STREAMS_PER_MESSAGE = 200
CONTROL_ANSWER_TIMEOUT_S = 10.0
_COMBINED_FRAME = b'{"stream"'


@dataclass(frozen=True)
class StreamOptions:
    """Connection tuning (docs/guides/collector.md)."""

    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    open_timeout_s: float = 10.0
    lifetime_s: float = binance.CONNECTION_LIFETIME_S - 600.0
    backoff_cap_s: float = 60.0
    stable_s: float = 60.0


class Connection:
    """Keeps one combined stream of ``symbols`` flowing into ``handle`` until :meth:`stop`."""

    def __init__(
        self,
        index: int,
        symbols: list[str],
        handle: FrameHandler,
        stats: Stats,
        limiter: AttemptLimiter,
        options: StreamOptions,
        room: Callable[[], Awaitable[None]],
        on_reconnect: Callable[[list[str]], None],
        base_url: str,
    ) -> None:
        self.index = index
        self.symbols = list(symbols)
        self.unconfirmed = 0
        """Streams that ``LIST_SUBSCRIPTIONS`` has not shown yet on the open socket."""
        self._base_url = base_url
        self._watchers: set[asyncio.Event] = set()
        """One per open socket: set when its subscriptions may differ from the connection's streams."""
        self._answers: dict[int, asyncio.Future[object]] = {}
        self._ids = itertools.count(1)
        self._on_reconnect = on_reconnect
        self._handle = handle
        self._stats = stats
        self._limiter = limiter
        self._options = options
        self._room = room
        self._backoff = Backoff(cap_s=options.backoff_cap_s, stable_s=options.stable_s)
        self._stopping = asyncio.Event()
        self._handover = asyncio.Event()
        self._handover_cause = ""
        self._sockets: set[ClientConnection] = set()
        self._close_cause = ""
        self._runs = 0
        self.frames = 0
        """Frames read on this connection's sockets, for the data watchdog."""
        self.connected_at: float | None = None
        """When the newest open connection opened (monotonic); None while none is open."""
        self._tasks: set[asyncio.Task[str | None]] = set()

    async def run(self) -> None:
        """Connect, read, and reconnect after every close, until :meth:`stop`. Run again after a failure (the
        supervisor does), the connection's symbols are caught up as after a reconnection."""
        cause = "restarted" if self._runs else ""
        self._runs += 1
        retiring: ClientConnection | None = None
        while not self._stopping.is_set():
            try:
                ws = await self._open(cause)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
                cause = "connect_failed"
                log.warning(
                    "stream connect failed", extra={"connection": self.index, "error": f"{type(e).__name__}: {e}"}
                )
                self._stats.reconnects[cause] += 1
                await self._sleep(self._backoff.next_delay())
                continue
            if cause and cause not in HANDOVER_CAUSES:
                self._on_reconnect(self.symbols)
            first_frame = asyncio.Event()
            subscriber = self._spawn(self._keep_subscribed(ws))
            reader = self._spawn(self._read(ws, first_frame, subscriber))
            if retiring is not None:
                self._spawn(self._retire(retiring, first_frame))
            handover = asyncio.create_task(self._handover.wait())
            await asyncio.wait({reader, handover}, return_when=asyncio.FIRST_COMPLETED)
            handover.cancel()
            if self._handover.is_set():
                self._handover.clear()
                cause, retiring = self._handover_cause, ws
            else:
                cause, retiring = reader.result() or "closed", None
                if not self._stopping.is_set():
                    await self._sleep(self._backoff.next_delay())
            if not self._stopping.is_set():
                self._stats.reconnects[cause] += 1
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[None, None, str | None]) -> asyncio.Task[str | None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def add(self, symbols: list[str]) -> None:
        """Receive ``symbols`` too (subscribed on the open connection)."""
        self.symbols += [s for s in symbols if s not in self.symbols]
        for changed in self._watchers:
            changed.set()

    def remove(self, symbols: list[str]) -> None:
        """Stop receiving ``symbols`` (unsubscribed on the open connection)."""
        self.symbols = [s for s in self.symbols if s not in symbols]
        for changed in self._watchers:
            changed.set()

    async def _open(self, cause: str) -> ClientConnection:
        while (wait := self._limiter.wait_s(time.monotonic())) > 0:
            await self._sleep(wait)
        self._limiter.record(time.monotonic())
        url, rest = binance.url_and_rest(self._base_url, self.symbols)
        self.unconfirmed = len(rest)
        # the client's open timeout covers the handshake; this one covers the TCP connection too, as websockets' did
        async with asyncio.timeout(self._options.open_timeout_s):
            ws = await connect(
                url,
                compression=None,
                ping_interval=self._options.ping_interval_s,
                ping_timeout=self._options.ping_timeout_s,
                open_timeout=self._options.open_timeout_s,
                close_timeout=2,
                max_size=2**20,
                max_queue=256,
            )
        self._sockets.add(ws)
        self._close_cause = ""
        self.connected_at = time.monotonic()
        self._stats.connections_up += 1
        self._backoff.connected(time.monotonic())
        log.info("stream connected", extra={"connection": self.index, "after": cause or "start"})
        return ws

    async def _read(
        self, ws: ClientConnection, first_frame: asyncio.Event, subscriber: asyncio.Task[str | None]
    ) -> str:
        """Read until the connection ends; return why. Asks for a replacement when the server says so."""
        deadline = time.monotonic() + self._options.lifetime_s
        handle, room = self._handle, self._room
        cause = "closed"
        try:
            frame = cast(bytes, await ws.recv(decode=False))  # decode=False: always bytes
            first_frame.set()
            while True:
                self.frames += 1
                await room()
                if not frame.startswith(_COMBINED_FRAME) and self._answered(frame):
                    pass
                elif not handle(frame) and not self._handover.is_set():
                    self._ask_handover("server_shutdown")
                if time.monotonic() > deadline:
                    deadline = float("inf")
                    self._ask_handover("lifetime")
                frame = cast(bytes, await ws.recv(decode=False))
        except ConnectionClosed as e:
            cause = self._close_cause or ("stalled" if _ping_timeout(e) else "closed")
            if not self._stopping.is_set() and ws in self._sockets:
                log.warning("stream closed", extra={"connection": self.index, "cause": cause, "code": _close_code(e)})
        except Exception:
            await ws.close()  # the frame handler failed: leave no connection open and unread
            raise
        finally:
            subscriber.cancel()
            if ws in self._sockets:
                self._sockets.discard(ws)
                if not self._sockets:
                    self.connected_at = None
                self._stats.connections_up -= 1
                self._backoff.disconnected(time.monotonic())
        return cause

    def _answered(self, frame: bytes) -> bool:
        """True when ``frame`` answers one of this connection's control messages (flat or nested error forms)."""
        with contextlib.suppress(orjson.JSONDecodeError):
            answer = orjson.loads(frame)
            request_id = answer.get("id") if isinstance(answer, dict) else None
            if isinstance(request_id, int) and (waiting := self._answers.pop(request_id, None)) is not None:
                error = answer.get("error", answer if "code" in answer else None)
                if not waiting.done():
                    waiting.set_result(ControlError(str(error)) if error is not None else answer.get("result"))
                return True
        return False

    async def _keep_subscribed(self, ws: ClientConnection) -> None:
        """While ``ws`` is open (the reader cancels this when it closes): make its subscriptions the connection's
        streams, at the start and whenever the connection's symbols change."""
        changed = asyncio.Event()
        changed.set()
        self._watchers.add(changed)
        try:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await changed.wait()
                    changed.clear()
                    if not await self._reconcile(ws, changed):
                        await asyncio.sleep(CONTROL_ANSWER_TIMEOUT_S)  # not confirmed: try again in a while
                        changed.set()
        finally:
            self._watchers.discard(changed)

    async def _reconcile(self, ws: ClientConnection, changed: asyncio.Event) -> bool:
        """Ask for the open subscriptions, SUBSCRIBE the missing streams and UNSUBSCRIBE the extra ones, then
        ask again; True when the server confirms exactly the connection's streams."""
        wanted = {binance.trade_stream(s) for s in self.symbols}
        listed = await self._ask(ws, binance.METHOD_LIST_SUBSCRIPTIONS)
        if not isinstance(listed, list):
            log.warning("stream subscriptions not listed", extra={"connection": self.index, "answer": str(listed)})
            return False
        missing, extra = sorted(wanted - set(listed)), sorted(set(listed) - wanted)
        self.unconfirmed = len(missing)
        if not missing and not extra:
            return True
        for method, streams in ((binance.METHOD_UNSUBSCRIBE, extra), (binance.METHOD_SUBSCRIBE, missing)):
            for i in range(0, len(streams), STREAMS_PER_MESSAGE):
                answer = await self._ask(ws, method, streams[i : i + STREAMS_PER_MESSAGE])
                if isinstance(answer, ControlError):
                    log.warning("stream subscription refused", extra={"connection": self.index, "error": str(answer)})
        log.info(
            "stream subscriptions sent", extra={"connection": self.index, "added": len(missing), "removed": len(extra)}
        )
        changed.set()  # confirm with LIST_SUBSCRIPTIONS
        return True

    async def _ask(self, ws: ClientConnection, method: str, params: list[str] | None = None) -> object:
        """Send one control message at the paced rate; its answer (a :class:`ControlError` for an error)."""
        await asyncio.sleep(1 / CONTROL_MESSAGES_PER_S)
        request_id = next(self._ids)
        answer = self._answers[request_id] = asyncio.get_running_loop().create_future()
        message: dict[str, object] = {"method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        await ws.send(orjson.dumps(message).decode())
        try:
            return await asyncio.wait_for(answer, CONTROL_ANSWER_TIMEOUT_S)
        except TimeoutError:
            self._answers.pop(request_id, None)
            return ControlError(f"no answer to {method} in {CONTROL_ANSWER_TIMEOUT_S} s")

    def _ask_handover(self, cause: str) -> None:
        log.info("stream handover", extra={"connection": self.index, "cause": cause})
        self._handover_cause = cause
        self._handover.set()

    async def _retire(self, old: ClientConnection, replacement_ready: asyncio.Event) -> None:
        """Close ``old`` once its replacement delivers (or after the open timeout)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(replacement_ready.wait(), self._options.open_timeout_s)
        await old.close()

    async def recycle(self, cause: str) -> None:
        """Close the open connection so that a new one replaces it; the trades of the connection's symbols that
        went by meanwhile are caught up from REST (the data watchdog's cure for a silent connection)."""
        self._close_cause = cause
        await asyncio.gather(*(ws.close() for ws in list(self._sockets)), return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def stop(self) -> None:
        """Stop reading: close its sockets."""
        self._stopping.set()
        await asyncio.gather(*(ws.close() for ws in list(self._sockets)), return_exceptions=True)


class ControlError(str):
    """The server's error answer to a control message (or the lack of one), as text."""


def _ping_timeout(error: ConnectionClosed) -> bool:
    """True when our keepalive closed the connection: we sent 1011 first. The client waits up to its close
    timeout for the peer's answer, so a stalled peer's own keepalive may close its side meanwhile (1011 back)."""
    return error.sent is not None and error.sent.code == 1011 and not error.rcvd_then_sent


def _close_code(error: ConnectionClosed) -> int | None:
    frame = error.rcvd or error.sent
    return int(frame.code) if frame else None
