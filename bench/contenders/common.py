"""What the hand-written contenders share: options, the combined trade stream with reconnects, one Point per
trade in pricecap's data model, and a clean stop on SIGTERM.

Written as a user of websockets and influxdb-client would: ``json.loads`` per message, websockets' own
reconnecting ``async for ws in connect(url)``, settings from ``INFLUXDB_V2_*`` (``from_env_properties``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Callable
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pricecap import model


def options(description: str) -> argparse.Namespace:
    """``--ws-url`` and ``--symbol`` (repeated)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ws-url", required=True, help="e.g. wss://stream.binance.com:9443")
    parser.add_argument("--symbol", action="append", required=True)
    return parser.parse_args()


def bucket() -> str:
    """The bucket to write to: ``INFLUXDB_V2_BUCKET``."""
    return os.environ["INFLUXDB_V2_BUCKET"]


def point(trade: dict[str, Any]) -> Point:
    """One ``<symbol>@trade`` payload as a Point of measurement ``trades`` (pricecap's data model)."""
    built: Point = (
        Point(model.MEASUREMENT)
        .tag(model.TAG_EXCHANGE, model.EXCHANGE_BINANCE)
        .tag(model.TAG_SYMBOL, trade["s"])
        .field(model.FIELD_PRICE, float(trade["p"]))
        .field(model.FIELD_QTY, float(trade["q"]))
        .field(model.FIELD_TRADE_ID, trade["t"])
        .field(model.FIELD_BUYER_MAKER, trade["m"])
        .time(model.timestamp_ns(trade["T"], trade["t"]), WritePrecision.NS)
    )
    return built


def consume(args: argparse.Namespace, handle: Callable[[Point], None]) -> None:
    """Hand every trade of the symbols' combined stream to ``handle`` until SIGTERM or SIGINT."""
    streams = "/".join(f"{s.lower()}@trade" for s in args.symbol)
    asyncio.run(_consume(f"{args.ws_url}/stream?streams={streams}", handle))


async def _consume(url: str, handle: Callable[[Point], None]) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        async for ws in connect(url):
            try:
                async for message in ws:
                    handle(point(json.loads(message)["data"]))
            except ConnectionClosed:
                continue
    except asyncio.CancelledError:
        pass
