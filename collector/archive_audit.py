"""``pricecap audit --against-archive``: the stored trades of a day or month against Binance's trade archive.

The archive (CHECKSUM verified, read as ``pricecap import`` reads it, :mod:`collector.archive`) and the stored
trades (audit_trades.flux) are compared an hour at a time, by trade id: ids in the archive and not stored are
missing, ids stored and not in the archive are extra (a second copy of an id is extra too), and ids in both
whose price, quantity, time (to the millisecond) or side differ are named. An id that does not match within its
hour may match in the next one (a time off at an hour's edge); one that has not by then is final. Memory holds
two hours of trades, whatever the size of the archive. With a writer, the missing rows are written as they are
found, with the data model's timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from collector import archive
from collector.bulk import BulkWriter
from pricecap import flux, model, times
from queries.coverage import IdRange, merged
from queries.runner import Runner

HOUR_MS = 3_600_000
Stored = tuple[int, float, float, bool]
"""A stored trade: time (ms), price, qty, buyer_maker."""


@dataclass
class ArchiveCheck:
    """What one archive says of the stored trades of its market and period."""

    name: str
    symbol: str
    rows: int = 0
    stored: int = 0
    missing: list[IdRange] = field(default_factory=list)
    extra: list[IdRange] = field(default_factory=list)
    differ: list[IdRange] = field(default_factory=list)
    written: int = 0

    @property
    def matches(self) -> bool:
        """Nothing missing, extra or different."""
        return not (self.missing or self.extra or self.differ)


def same(row: archive.ArchiveTrade, stored: Stored) -> bool:
    """True when a stored trade is the archive row: price, qty, time (ms) and side."""
    _, price, qty, time_ms, maker = row
    return (time_ms, float(price), float(qty), maker) == stored


class ArchiveAuditor:
    """Compares archives with one bucket (its exchange's ``binance`` trades) through a Runner."""

    def __init__(self, runner: Runner, writer: BulkWriter | None = None) -> None:
        self.runner = runner
        self.writer = writer

    def check(self, path: Path, symbol: str) -> ArchiveCheck:
        """Compare ``path`` (an archive of ``symbol``, its CHECKSUM verified by the caller:
        :func:`collector.archive.verify_checksum`) with what is stored; write the missing rows when a writer was
        given. Raises ArchiveError for a damaged archive or rows outside its period."""
        start_ms, stop_ms = archive.span_of(path)
        result = ArchiveCheck(path.name, symbol)
        progress = archive.Progress(total_bytes=path.stat().st_size)
        rows = self._inside(path, archive.trades(path, progress), start_ms, stop_ms)
        ahead = next(rows, None)
        waiting: dict[int, archive.ArchiveTrade] = {}
        unmatched: dict[int, list[Stored]] = {}
        for hour_ms in range(start_ms - start_ms % HOUR_MS, stop_ms, HOUR_MS):
            hour_end = min(hour_ms + HOUR_MS, stop_ms)
            now: dict[int, archive.ArchiveTrade] = {}
            while ahead is not None and ahead[3] < hour_end:
                now[ahead[0]] = ahead
                ahead = next(rows, None)
            stored = self._stored(symbol, max(hour_ms, start_ms), hour_end)
            result.rows += len(now)
            result.stored += sum(len(copies) for copies in stored.values())
            for trade_id, copies in unmatched.items():
                stored[trade_id] = copies + stored.get(trade_id, [])
            waiting, unmatched = self._match(waiting | now, stored, result, set(waiting), set(unmatched))
        self._match(waiting, unmatched, result, set(waiting), set(unmatched))
        result.missing, result.extra, result.differ = (merged(r) for r in (result.missing, result.extra, result.differ))
        if self.writer is not None:
            self.writer.flush()
        return result

    def _inside(
        self, path: Path, rows: Iterator[archive.ArchiveTrade], start_ms: int, stop_ms: int
    ) -> Iterator[archive.ArchiveTrade]:
        for row in rows:
            if not start_ms <= row[3] < stop_ms:
                raise archive.ArchiveError(
                    f"{path.name}: holds a trade at {times.format_ns(row[3] * model.NS_PER_MS)}, outside the period"
                    " its name says: an archive of another day?"
                )
            yield row

    def _match(
        self,
        rows: dict[int, archive.ArchiveTrade],
        stored: dict[int, list[Stored]],
        result: ArchiveCheck,
        final_rows: set[int],
        final_stored: set[int],
    ) -> tuple[dict[int, archive.ArchiveTrade], dict[int, list[Stored]]]:
        """Match archive rows with stored trades by id; what is left and ``final`` is reported, the rest returned
        to wait for the next hour."""
        waiting: dict[int, archive.ArchiveTrade] = {}
        for trade_id, row in sorted(rows.items()):
            copies = stored.get(trade_id)
            if copies:
                if not same(row, copies.pop(0)):
                    result.differ.append((trade_id, trade_id))
            elif trade_id in final_rows:
                result.missing.append((trade_id, trade_id))
                self._write(result, row)
            else:
                waiting[trade_id] = row
        unmatched: dict[int, list[Stored]] = {}
        for trade_id, copies in stored.items():
            if copies and (trade_id in final_stored or trade_id in rows):
                result.extra += [(trade_id, trade_id)] * len(copies)
            elif copies:
                unmatched[trade_id] = copies
        return waiting, unmatched

    def _write(self, result: ArchiveCheck, row: archive.ArchiveTrade) -> None:
        if self.writer is not None:
            prefix = model.series_prefix(model.EXCHANGE_BINANCE, result.symbol)
            self.writer.write(model.encode_line(prefix, *row))
            result.written += 1

    def _stored(self, symbol: str, start_ms: int, stop_ms: int) -> dict[int, list[Stored]]:
        """The stored trades of one market in ``[start_ms, stop_ms)``, by id (copies of one id kept)."""
        values: dict[str, flux.FluxValue] = {
            "symbol": symbol,
            "start": flux.Time(start_ms * model.NS_PER_MS),
            "stop": flux.Time(stop_ms * model.NS_PER_MS),
        }
        found: dict[int, list[Stored]] = {}
        for record in self.runner.run("audit_trades", values):
            v = record.values
            if v.get("trade_id") is None:
                continue  # a partial point (not every field): not a stored trade
            stored = (model.time_ms_of(int(v["time_ns"])), float(v["price"]), float(v["qty"]), bool(v["buyer_maker"]))
            found.setdefault(int(v["trade_id"]), []).append(stored)
        return found
