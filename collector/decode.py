"""Decode and validate Binance WebSocket frames, without I/O.

The fast path decodes a combined-stream frame straight into typed structs with msgspec (strict types: a
price must be a string, an id an integer, unknown event types are refused). Only a frame the fast path
rejects takes the slow path, which finds out why, so malformed input is counted by reason at no cost to
good frames. The choice of msgspec over pydantic is measured in ``bench/decode.py`` (docs/guides/collector.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import msgspec
import orjson

from collector import binance
from pricecap import model


class TradeEvent(msgspec.Struct, tag_field="e", tag=binance.EVENT_TRADE, gc=False):
    """The payload of ``<symbol>@trade`` (the fields the collector uses; others are ignored)."""

    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


def rest_lines(prefix: str, trades: list[TradeEvent]) -> list[str]:
    """Line protocol of trades read from REST (``prefix`` from :func:`pricecap.model.series_prefix`); a trade whose
    price or quantity is not a plain positive decimal is left out, as the stream's pipeline leaves it out."""
    return [
        model.encode_line(prefix, t.t, t.p, t.q, t.T, t.m)
        for t in trades
        if model.decimal_ok(t.p) and model.decimal_ok(t.q)
    ]


class ShutdownEvent(msgspec.Struct, tag_field="e", tag=binance.EVENT_SERVER_SHUTDOWN, gc=False):
    """Binance is about to close the connection for maintenance: reconnect at once."""

    E: int = 0


class _Envelope(msgspec.Struct, gc=False):
    stream: str
    data: TradeEvent | ShutdownEvent


class _ControlError(msgspec.Struct, gc=False):
    code: int | None = None
    msg: str | None = None


class _Control(msgspec.Struct, gc=False):
    """An answer to SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, or a control error: flat ``{"code", "msg",
    "id"}`` as the docs show it, or nested ``{"error": {"code", "msg"}, "id"}`` as the live server sends it."""

    id: int | str | None = None
    result: object = None
    code: int | None = None
    msg: str | None = None
    error: _ControlError | None = None


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """A control answer from the server; ``error`` is set for ``{"code": N, "msg": ...}`` answers."""

    id: int | str | None
    result: object
    error: str | None


Decoded = TradeEvent | ShutdownEvent | ControlMessage | None


class FrameDecoder:
    """Turns frames into events; counts every frame it rejects in ``malformed`` by reason."""

    def __init__(self) -> None:
        self.malformed: Counter[str] = Counter()
        self._envelope = msgspec.json.Decoder(_Envelope)

    def decode(self, frame: bytes | str) -> Decoded:
        """The event in ``frame``, or None (counted in ``malformed``) when it cannot be used."""
        try:
            return self._envelope.decode(frame).data
        except msgspec.DecodeError:
            return self._slow_path(frame)

    def _slow_path(self, frame: bytes | str) -> Decoded:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return self._reject("bad_json")
        if not isinstance(message, dict):
            return self._reject("not_an_object")
        if "data" not in message:
            if message.get("e") == binance.EVENT_SERVER_SHUTDOWN:
                return ShutdownEvent(E=message.get("E", 0) if isinstance(message.get("E"), int) else 0)
            if "result" in message or "code" in message or "error" in message:
                return self._control(frame)
            return self._reject("no_data")
        data = message["data"]
        if not isinstance(data, dict):
            return self._reject("not_an_object")
        if data.get("e") not in (binance.EVENT_TRADE, binance.EVENT_SERVER_SHUTDOWN):
            return self._reject("unknown_event")
        if not isinstance(message.get("stream"), str):
            return self._reject("no_stream")
        if any(key not in data for key in ("s", "t", "p", "q", "T", "m")):
            return self._reject("missing_field")
        return self._reject("wrong_type")

    def _control(self, frame: bytes | str) -> Decoded:
        try:
            control = msgspec.json.decode(frame, type=_Control)
        except msgspec.DecodeError:
            return self._reject("bad_control")
        nested = control.error
        code, msg = (nested.code, nested.msg) if nested is not None else (control.code, control.msg)
        error = f"code {code}: {msg}" if code is not None or nested is not None else None
        return ControlMessage(control.id, control.result, error)

    def _reject(self, reason: str) -> Decoded:
        self.malformed[reason] += 1
        return None
