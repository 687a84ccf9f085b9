"""Decoder benchmark: why the collector decodes frames with msgspec.

    python -m bench.decode [--frames 200000]

Decodes the same pre-encoded combined-stream trade frames with the collector's FrameDecoder (msgspec), with
an equally strict pydantic v2 model (``validate_json``), and with bare ``orjson.loads`` (no validation at
all), then runs the whole per-trade path (decode, validate, encode, chunk). Prints frames per second of this
process's CPU time (``time.process_time``), so that other work on a shared machine moves the figures little;
on a quiet machine they equal the wall-clock rates.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter

from collector.decode import FrameDecoder
from collector.pipeline import TradePipeline


class _PydanticTrade(BaseModel):
    model_config = ConfigDict(strict=True)
    e: Literal["trade"]
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class _PydanticEnvelope(BaseModel):
    model_config = ConfigDict(strict=True)
    stream: str
    data: _PydanticTrade


def frames(count: int) -> list[bytes]:
    """Realistic combined-stream frames, 10 trades per millisecond."""
    return [
        orjson.dumps(
            {
                "stream": "btcusdt@trade",
                "data": {
                    "e": "trade",
                    "E": 1732500000123 + i // 10,
                    "s": "BTCUSDT",
                    "t": 4_000_000_000 + i,
                    "p": "97012.45000000",
                    "q": "0.00120000",
                    "T": 1732500000123 + i // 10,
                    "m": bool(i % 2),
                    "M": True,
                },
            }
        )
        for i in range(count)
    ]


def rate(work: Callable[[bytes], object], data: list[bytes]) -> float:
    """Frames per CPU second through ``work``."""
    started = time.process_time()
    for frame in data:
        work(frame)
    return len(data) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200_000)
    data = frames(parser.parse_args().frames)
    decoder = FrameDecoder()
    pipeline = TradePipeline(["BTCUSDT"])

    def whole_path(frame: bytes) -> None:
        event = decoder.decode(frame)
        if event is not None and pipeline.add(event) and pipeline.full():  # type: ignore[arg-type]
            pipeline.take_chunk()

    results = {
        "msgspec FrameDecoder (collector)": rate(decoder.decode, data),
        "pydantic v2 strict validate_json": rate(TypeAdapter(_PydanticEnvelope).validate_json, data),
        "orjson.loads, no validation": rate(orjson.loads, data),
        "whole per-trade path (decode, validate, encode, chunk)": rate(whole_path, data),
    }
    for name, value in results.items():
        print(f"{name:56s} {value:>12,.0f} frames/s")


if __name__ == "__main__":
    main()
