"""``pricecap audit --repair``: fetch the ids an audit found missing from Binance REST and write them.

Each missing range is read in ``historicalTrades`` pages by id, within the weight budget and the error handling
of :class:`~collector.rest.BinanceRest` (429/418 pauses, HTML and 5xx answers retried), and written through
:class:`~collector.bulk.BulkWriter` with the data model's timestamps: a trade lands on the point it would have
had live, so an interrupted repair run again writes nothing twice. Ids REST answers past are Binance's own gaps
(the collector's give-up rule, :mod:`collector.repair`): once the trade after them is older than that rule's
span, they are written as an exchange gap (:data:`pricecap.model.EXCHANGE_GAPS_MEASUREMENT`), which later audits
report as such and do not ask REST for again; younger ones may still come (REST lags) and are left missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector import binance
from collector.bulk import BulkWriter
from collector.decode import rest_lines
from collector.repair import GIVE_UP_AFTER_S
from collector.rest import BinanceRest, NotServedError
from pricecap import model
from pricecap.errors import BadInputError
from queries.coverage import IdRange
from queries.models import AuditPeriod


@dataclass
class Repaired:
    """What a repair did, per market: trades written, exchange gaps recorded, ids REST does not show yet."""

    written: dict[str, int] = field(default_factory=dict)
    exchange_gaps: list[tuple[str, IdRange]] = field(default_factory=list)
    not_yet: list[tuple[str, IdRange]] = field(default_factory=list)
    spans_ms: list[tuple[int, int]] = field(default_factory=list)
    """Trade times (first, last) of each range written: the candles to rebuild."""


def missing_ranges(periods: Iterable[AuditPeriod]) -> list[tuple[str, IdRange]]:
    """Every (market, id range) an audit found missing, in order."""
    return [(p.symbol, ids) for p in periods for ids in p.missing]


async def repair(rest: BinanceRest, writer: BulkWriter, ranges: Iterable[tuple[str, IdRange]]) -> Repaired:
    """Fetch and write each missing range (see the module's docstring); raises RestError when REST fails."""
    done = Repaired()
    for symbol, (first, last) in ranges:
        await _repair_range(rest, writer, symbol, first, last, done)
    writer.flush()
    return done


async def _repair_range(
    rest: BinanceRest, writer: BulkWriter, symbol: str, first: int, last: int, done: Repaired
) -> None:
    prefix = model.series_prefix(model.EXCHANGE_BINANCE, symbol)
    at = first
    while at <= last:
        try:
            page = await rest.trades_from(symbol, at, min(binance.MAX_TRADES_PER_REQUEST, last - at + 1))
        except NotServedError:
            raise BadInputError(
                f"{rest.base_url} does not serve historicalTrades, which --repair reads by id: use --source"
                " production, or a --rest-url that serves it"
            ) from None
        if not page:
            done.not_yet.append((symbol, (at, last)))  # REST has not caught up with them
            return
        head = page[0]
        if head.t > at:
            past = (at, min(head.t - 1, last))
            if time.time() * 1000 - head.T > GIVE_UP_AFTER_S * 1000:
                writer.write(model.encode_exchange_gap(model.EXCHANGE_BINANCE, symbol, *past, head.T))
                done.exchange_gaps.append((symbol, past))
            else:
                done.not_yet.append((symbol, past))
        inside = [t for t in page if at <= t.t <= last]
        lines = rest_lines(prefix, inside)
        if lines:
            writer.write("\n".join(lines))
            done.written[symbol] = done.written.get(symbol, 0) + len(lines)
            done.spans_ms.append((inside[0].T, inside[-1].T))
        at = page[-1].t + 1
