"""Binance's SBE market-data encoding of trades (schema ``stream_1_0.xml``, id 1 version 0, little-endian),
without I/O: one ``TradesStreamEvent`` (template 10000) per group of trades of one symbol at one time.

Layout: the message header (blockLength 18, templateId, schemaId, version: four uint16); the root block
(eventTime and transactTime, int64 microseconds; priceExponent and qtyExponent, int8); the ``trades`` group
(groupSizeEncoding: blockLength 25 as uint16, numInGroup as uint32), each trade an int64 id, int64 price and
qty mantissas and a uint8 isBuyerMaker (isBestMatch is a constant, not on the wire); then the symbol as a
varString8 (uint8 length, UTF-8 bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from fake_binance.ledger import Trade

SCHEMA_ID = 1
SCHEMA_VERSION = 0
TRADES_TEMPLATE_ID = 10000
HEADER = struct.Struct("<HHHH")
TRADES_ROOT = struct.Struct("<qqbb")
GROUP_SIZE = struct.Struct("<HI")
TRADE = struct.Struct("<qqqB")
PRICE_EXPONENT = -2
"""The fake's prices are whole cents."""
QTY_EXPONENT = -8


def trades_event(trades: Sequence[Trade], event_us: int) -> bytes:
    """One ``TradesStreamEvent`` of ``trades`` (one symbol, one trade time), sent at ``event_us``."""
    head = trades[0]
    symbol = head.symbol.encode()
    parts = [
        HEADER.pack(TRADES_ROOT.size, TRADES_TEMPLATE_ID, SCHEMA_ID, SCHEMA_VERSION),
        TRADES_ROOT.pack(event_us, head.time_ms * 1000, PRICE_EXPONENT, QTY_EXPONENT),
        GROUP_SIZE.pack(TRADE.size, len(trades)),
        *(TRADE.pack(t.id, _mantissa(t.price, PRICE_EXPONENT), _mantissa(t.qty, QTY_EXPONENT), t.buyer_maker)
          for t in trades),
        bytes((len(symbol),)),
        symbol,
    ]  # fmt: skip
    return b"".join(parts)


def _mantissa(decimal: str, exponent: int) -> int:
    """The integer mantissa of a decimal string at ``exponent`` (``"97000.10000000"``, -2 -> 9700010)."""
    whole, _, fraction = decimal.partition(".")
    digits = -exponent
    return int(whole + fraction[:digits].ljust(digits, "0"))
