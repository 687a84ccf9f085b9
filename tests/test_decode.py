"""Decoding Binance frames: good trades pass, everything else is counted by reason and skipped."""

from __future__ import annotations

import orjson
import pytest

from collector.decode import ControlMessage, FrameDecoder, ShutdownEvent, TradeEvent

TRADE = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100", "T": 1672515782136,
         "m": True, "M": True}  # fmt: skip


def frame(data: object, stream: str = "bnbbtc@trade") -> bytes:
    return orjson.dumps({"stream": stream, "data": data})


def test_decodes_the_documented_trade_payload() -> None:
    event = FrameDecoder().decode(frame(TRADE))
    assert event == TradeEvent(s="BNBBTC", t=12345, p="0.001", q="100", T=1672515782136, m=True)


def test_field_order_and_unknown_extra_fields_do_not_matter() -> None:
    data = {"X": 1, **dict(reversed(list(TRADE.items()))), "b": 88, "a": 50}
    assert FrameDecoder().decode(frame(data)) == FrameDecoder().decode(frame(TRADE))


def test_text_frames_decode_too() -> None:
    assert isinstance(FrameDecoder().decode(frame(TRADE).decode()), TradeEvent)


def test_server_shutdown_in_an_envelope_or_bare() -> None:
    decoder = FrameDecoder()
    assert decoder.decode(frame({"e": "serverShutdown", "E": 5}, "!serverShutdown")) == ShutdownEvent(E=5)
    assert decoder.decode(orjson.dumps({"e": "serverShutdown", "E": 6})) == ShutdownEvent(E=6)
    assert not decoder.malformed


def test_control_answers_and_errors() -> None:
    decoder = FrameDecoder()
    assert decoder.decode(b'{"result":null,"id":1}') == ControlMessage(1, None, None)
    assert decoder.decode(b'{"result":["btcusdt@trade"],"id":"x"}') == ControlMessage("x", ["btcusdt@trade"], None)
    assert decoder.decode(b'{"code":2,"msg":"Invalid request","id":3}') == ControlMessage(
        3, None, "code 2: Invalid request"
    )
    nested = b'{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}'  # as the live server sends it
    assert decoder.decode(nested) == ControlMessage(2, None, "code 2: Invalid request: invalid stream")
    assert not decoder.malformed


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"", "bad_json"),
        (b"[1,2]", "not_an_object"),
        (b'{"stream":"x@trade"}', "no_data"),
        (frame([1]), "not_an_object"),
        (frame({**TRADE, "e": "aggTrade"}), "unknown_event"),
        (frame({k: v for k, v in TRADE.items() if k != "e"}), "unknown_event"),
        (frame({k: v for k, v in TRADE.items() if k != "p"}), "missing_field"),
        (frame({**TRADE, "p": 0.001}), "wrong_type"),
        (frame({**TRADE, "t": "12345"}), "wrong_type"),
        (frame({**TRADE, "m": 1}), "wrong_type"),
        (frame({**TRADE, "T": 1.5}), "wrong_type"),
        (orjson.dumps({"data": TRADE}), "no_stream"),
    ],
)
def test_malformed_frames_are_counted_by_reason(raw: bytes, reason: str) -> None:
    decoder = FrameDecoder()
    assert decoder.decode(raw) is None
    assert decoder.malformed == {reason: 1}
