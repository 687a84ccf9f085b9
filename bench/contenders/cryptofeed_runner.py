"""Contender (c): cryptofeed 2.4.1, its Binance feed of TRADES into its InfluxDB v2 backend (``TradeInflux``),
with Binance's endpoints pointed at the fake exchange at run time (its installed files stay untouched).

Runs in cryptofeed's own venv, which ``bench.harness.cryptofeed_python()`` makes; stdlib and cryptofeed only::

    INFLUXDB_V2_URL=... INFLUXDB_V2_TOKEN=... INFLUXDB_V2_ORG=... INFLUXDB_V2_BUCKET=... \
    ~/.cache/pricecap/cryptofeed-venv/bin/python bench/contenders/cryptofeed_runner.py \
        --ws-url ws://127.0.0.1:9000 --rest-url http://127.0.0.1:9000 --symbol BTCUSDT

cryptofeed's TRADES on Binance are the ``<symbol>@aggTrade`` streams, and its backend stores them as
measurement ``trades-BINANCE``, tag ``symbol`` (``BTC-USDT``), fields ``side``, ``price``, ``amount``, ``id`` (the
aggregate id, a string), ``type``, ``timestamp``, ``receipt_timestamp``, at the receipt time in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os

from cryptofeed import FeedHandler
from cryptofeed.backends.influxdb import TradeInflux
from cryptofeed.connection import WSAsyncConn
from cryptofeed.defines import TRADES
from cryptofeed.exchanges import Binance


def point_at_fake(ws_url: str, rest_url: str) -> None:
    """Replace the addresses of Binance's WebSocket and REST endpoints, keeping their routes."""
    Binance.websocket_endpoints = [
        dataclasses.replace(e, address=ws_url, sandbox=None) for e in Binance.websocket_endpoints
    ]
    Binance.rest_endpoints = [dataclasses.replace(e, address=rest_url, sandbox=None) for e in Binance.rest_endpoints]
    allow_plain_ws()


def allow_plain_ws() -> None:
    """Let WSAsyncConn take the fake's ``ws://`` address: it refuses all but ``wss://``, and the fake (like the
    other contenders' connections to it) speaks plain WebSocket on loopback, so no contender pays for TLS."""
    check_wss = WSAsyncConn.__init__

    def init(self: WSAsyncConn, address: str, *args: object, **kwargs: object) -> None:
        check_wss(self, "wss://" + address.removeprefix("ws://"), *args, **kwargs)
        self.address = address

    WSAsyncConn.__init__ = init


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--symbol", action="append", required=True)
    args = parser.parse_args()
    point_at_fake(args.ws_url, args.rest_url)
    standard = {exchange: std for std, exchange in Binance.symbol_mapping().items()}
    influx = TradeInflux(
        os.environ["INFLUXDB_V2_URL"],
        os.environ["INFLUXDB_V2_ORG"],
        os.environ["INFLUXDB_V2_BUCKET"],
        os.environ["INFLUXDB_V2_TOKEN"],
    )
    handler = FeedHandler(config={"uvloop": True, "log": {"filename": "/dev/stderr", "level": "WARNING"}})
    handler.add_feed(Binance(symbols=[standard[s] for s in args.symbol], channels=[TRADES], callbacks={TRADES: influx}))
    # FeedHandler.run() calls asyncio.get_event_loop(), which the uvloop it installs (0.23) refuses without a loop set
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler.run()


if __name__ == "__main__":
    main()
