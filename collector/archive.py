"""Binance's trade archives (data.binance.vision) as line protocol, without network I/O.

A daily or monthly archive ``<SYMBOL>-trades-YYYY-MM-DD.zip`` (or ``-YYYY-MM.zip``) holds one CSV of the same
name: ``id,price,qty,quote_qty,time,is_buyer_maker,is_best_match``, with or without a header row. Spot
archives give ``time`` in milliseconds up to 2024 and in microseconds from 2025 on; each row's unit is told by
its size. A ``.CHECKSUM`` file beside the archive holds its SHA-256. Rows are read as a stream, so a
multi-gigabyte month takes constant memory.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from pricecap import model
from pricecap.errors import BadInputError
from pricecap.times import LATEST_NS

ARCHIVE_NAME = re.compile(
    r"(?P<symbol>[^\s/-]+)-trades-(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?\.(?:zip|csv)"
)
"""Symbol names are not assumed to be ``[A-Z0-9]+``: since 2025-12 Binance allows Unicode ones."""
MICROSECONDS_FROM = 10**14
"""A trade time above this is in microseconds (10**14 ms would be the year 5138)."""
PROGRESS_EVERY = 10_000
"""Rows between two updates of the bytes read."""


class ArchiveError(BadInputError):
    """An archive that cannot be imported: unknown name, bad checksum, not a zip, damaged inside."""


def symbol_of(path: Path) -> str:
    """The symbol in an archive's file name, e.g. ``BTCUSDT`` of ``BTCUSDT-trades-2026-11-01.zip``."""
    match = ARCHIVE_NAME.fullmatch(path.name)
    if match is None:
        raise ArchiveError(
            f"{path.name}: not a Binance trade archive name (SYMBOL-trades-YYYY-MM[-DD].zip); give --symbol"
        )
    return match.group("symbol")


def span_of(path: Path) -> tuple[int, int]:
    """The UTC day or month an archive's name says it holds, as ``[start, stop)`` epoch ms."""
    match = ARCHIVE_NAME.fullmatch(path.name)
    if match is None:
        raise ArchiveError(f"{path.name}: not a Binance trade archive name (SYMBOL-trades-YYYY-MM[-DD].zip)")
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"] or 1)
    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        raise ArchiveError(f"{path.name}: no such day or month") from None
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    stop = start + timedelta(days=1) if match["day"] else next_month
    return int(start.timestamp()) * 1000, int(stop.timestamp()) * 1000


def verify_checksum(path: Path) -> bool:
    """Check ``<archive>.CHECKSUM`` when it exists (False: there is none); raise ArchiveError on a mismatch."""
    checksum = path.with_name(path.name + ".CHECKSUM")
    if not checksum.exists():
        return False
    expected = checksum.read_text().split()[0].lower()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ArchiveError(f"{path.name}: SHA-256 does not match {checksum.name}; the download is damaged")
    return True


@dataclass
class Progress:
    """How far an import has read: compressed bytes of the file, rows taken, rows skipped by reason."""

    total_bytes: int
    read_bytes: int = 0
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int = 0


def open_rows(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the raw file, for progress by its position; the CSV byte stream) of an archive or a plain CSV."""
    raw = path.open("rb")
    if path.suffix != ".zip":
        return raw, raw
    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile:
        raw.close()
        raise ArchiveError(f"{path.name}: not a zip archive (a damaged or partial download?)") from None
    members = [m for m in archive.namelist() if m.endswith(".csv")]
    if len(members) != 1:
        raise ArchiveError(f"{path.name}: expected one CSV inside, found {len(members)}")
    return raw, archive.open(members[0])


def probe(path: Path) -> None:
    """Raise ArchiveError unless ``path`` opens as an archive (or a CSV): a check before anything is written."""
    raw, stream = open_rows(path)
    stream.close()
    raw.close()


ArchiveTrade = tuple[int, str, str, int, bool]
"""One archive row as a trade: id, price and qty (the archive's decimal strings), time in ms, buyer_maker."""


def lines(path: Path, symbol: str, progress: Progress, batch_rows: int = 50_000) -> Iterator[str]:
    """The archive's trades as line-protocol bodies of up to ``batch_rows`` lines each (see :func:`trades`)."""
    prefix = model.series_prefix(model.EXCHANGE_BINANCE, symbol)
    encode = model.encode_line
    batch: list[str] = []
    for trade_id, price, qty, time_ms, maker in trades(path, progress):
        batch.append(encode(prefix, trade_id, price, qty, time_ms, maker))
        if len(batch) >= batch_rows:
            yield "\n".join(batch)
            batch = []
    if batch:
        yield "\n".join(batch)


def trades(path: Path, progress: Progress) -> Iterator[ArchiveTrade]:
    """The archive's trades in file order (trade-id order), counted in ``progress`` as they are read.

    Rows that are not trades (a header, a bad number, a time outside what InfluxDB stores) are counted in
    ``progress.skipped``, never yielded. A zip damaged inside raises ArchiveError.
    """
    try:
        yield from _trades(path, progress)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ArchiveError(f"{path.name}: the archive is damaged ({e}); download it again") from None


def _trades(path: Path, progress: Progress) -> Iterator[ArchiveTrade]:
    decimal_ok = model.decimal_ok
    raw, stream = open_rows(path)
    with raw, stream:
        text = io.TextIOWrapper(stream, encoding="ascii", errors="replace", newline="")
        for row in text:
            parts = row.rstrip("\r\n").split(",")
            try:
                trade_id, price, qty, time_value, maker = int(parts[0]), parts[1], parts[2], int(parts[4]), parts[5]
            except (ValueError, IndexError):
                _skip(progress, "header" if progress.rows == 0 else "bad_row")
                continue
            if not (decimal_ok(price) and decimal_ok(qty)) or trade_id < 0 or time_value <= 0:
                _skip(progress, "bad_number")
                continue
            time_ms = time_value // 1000 if time_value >= MICROSECONDS_FROM else time_value
            if time_ms * model.NS_PER_MS >= LATEST_NS:
                _skip(progress, "bad_time")
                continue
            if progress.first_ms is None:
                progress.first_ms = time_ms
            progress.last_ms = time_ms
            progress.rows += 1
            if not progress.rows % PROGRESS_EVERY:
                progress.read_bytes = raw.tell()
            yield trade_id, price, qty, time_ms, maker in ("True", "true")
        progress.read_bytes = progress.total_bytes


def _skip(progress: Progress, reason: str) -> None:
    progress.skipped[reason] = progress.skipped.get(reason, 0) + 1
