"""Binance's bulk trade archives (data.binance.vision) of the fake's ledger, without I/O.

``/data/spot/daily/trades/<SYM>/<SYM>-trades-YYYY-MM-DD.zip`` and ``/data/spot/monthly/trades/<SYM>/<SYM>-trades-
YYYY-MM.zip``, each with a ``.CHECKSUM`` beside it (the SHA-256 as ``sha256sum`` prints it). One CSV inside, no
header: id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch; ``time`` in milliseconds up to 2024-12-31
and in microseconds from 2025-01-01 on.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import io
import re
import zipfile
from datetime import UTC, datetime

from fake_binance.ledger import Market

PATH = re.compile(
    r"/data/spot/(?P<kind>daily|monthly)/trades/(?P<symbol>[^/]+)/(?P=symbol)-trades-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip(?P<checksum>\.CHECKSUM)?"
)
MICROSECONDS_FROM_MS = 1_735_689_600_000
"""2025-01-01 00:00 UTC: archives of days from then on give times in microseconds."""


def period_ms(period: str) -> tuple[int, int] | None:
    """The start and end (ms, end excluded) of a day ``YYYY-MM-DD`` or a month ``YYYY-MM`` (None: not a date)."""
    try:
        start = datetime.strptime(period, "%Y-%m-%d" if len(period) == 10 else "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        return None
    days = 1 if len(period) == 10 else calendar.monthrange(start.year, start.month)[1]
    start_ms = int(start.timestamp() * 1000)
    return start_ms, start_ms + days * 86_400_000


def archive(market: Market, period: str) -> bytes | None:
    """The zip of ``market``'s trades in a day or a month (None: no such period, or no trade in it)."""
    bounds = period_ms(period)
    if bounds is None:
        return None
    first, end = (market.first_id + bisect.bisect_left(market.times, ms) for ms in bounds)
    if first == end:
        return None
    rows = []
    for trade_id in range(first, end):
        trade = market.trade(trade_id)
        time = trade.time_ms * 1000 if trade.time_ms >= MICROSECONDS_FROM_MS else trade.time_ms
        quote = float(trade.price) * float(trade.qty)
        rows.append(f"{trade.id},{trade.price},{trade.qty},{quote:.8f},{time},{trade.buyer_maker},True\n")
    name = f"{market.symbol}-trades-{period}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}.csv", "".join(rows))
    return buffer.getvalue()


def answer(markets: dict[str, Market], path: str) -> tuple[int, bytes]:
    """The data host's answer to ``GET path``: an archive, its ``.CHECKSUM``, or 404."""
    match = PATH.fullmatch(path)
    market = markets.get(match.group("symbol")) if match else None
    if match is None or market is None or (len(match.group("period")) == 10) != (match.group("kind") == "daily"):
        return 404, b"not found\n"
    data = archive(market, match.group("period"))
    if data is None:
        return 404, b"not found\n"
    if match.group("checksum"):
        name = f"{market.symbol}-trades-{match.group('period')}.zip"
        return 200, f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()
    return 200, data
