"""The collector's hourly audit: per market and closed hour, a completeness point, and the gauges of the last hour.

Each hour, ``SETTLE_S`` after it closed (repairs of its last trades have landed by then: the gap alarm is 2
minutes), the collector audits that hour over its own markets with :class:`queries.audit.Auditor`, the check of
``pricecap audit``, and writes one point per market that traded (:data:`pricecap.model.COMPLETENESS_MEASUREMENT`)
through its writer, so a point InfluxDB refuses waits in the spool like trades do. Ids missing after an hour's last
trade count in the hour of the trade after them, so each missing id counts in one hour only.

The collector does it rather than an InfluxDB task: the audit narrows a failing hour down to its raw ids, which
names doubled ids and exchange gaps exactly (a task could only compare counts), it is the same code as
``pricecap audit``, and the gauges of ``/metrics`` (``pricecap_audit_*``) come from the process Prometheus
scrapes. Copies of a shard write the same points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from collector.stats import Stats
from pricecap import model, times
from pricecap.errors import NoDataError, PricecapError
from pricecap.settings import InfluxSettings
from queries.audit import Auditor
from queries.models import AuditPeriod
from queries.runner import Runner

log = logging.getLogger(__name__)
HOUR_NS = times.UNIT_NS["h"]
SETTLE_S = 300.0
"""An hour is audited this long after it closed."""
LOOKBACK_NS = 7 * times.UNIT_NS["d"]
"""How far back the last trade before an hour is looked for (a market quiet for longer starts afresh)."""
RETRY_S = 60.0
CONFIRM_S = 10.0
"""A market found incomplete is audited again this much later, and the second answer counts: one bench run saw
a false hole while influxd was writing recent data to disk, which a reading at rest did not repeat."""


def last_closed_hour(now_ns: int, settle_s: float = SETTLE_S) -> int:
    """The start (ns) of the latest hour that closed at least ``settle_s`` before ``now_ns``."""
    settled = now_ns - int(settle_s * times.NS_PER_S)
    return settled - settled % HOUR_NS - HOUR_NS


def completeness_lines(periods: Sequence[AuditPeriod], exchange: str = model.EXCHANGE_BINANCE) -> list[str]:
    """The completeness points of audited hours."""
    return [
        model.encode_completeness(
            exchange,
            p.symbol,
            p.start_ns,
            {"stored": p.trades, "expected": p.expected, "missing": p.missing_ids, "exchange_gap": p.exchange_gap_ids},
        )
        for p in periods
    ]


class HourlyAudit:
    """Audits each closed hour of the collector's markets once, writes its points and sets the gauges."""

    def __init__(
        self,
        settings: InfluxSettings,
        symbols: Callable[[], Sequence[str]],
        stats: Stats,
        write: Callable[[str], None],
        settle_s: float = SETTLE_S,
        confirm_s: float = CONFIRM_S,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._symbols = symbols
        self._stats = stats
        self._write = write
        self._settle_s = settle_s
        self._confirm_s = confirm_s
        self._pause = pause
        self.last_hour_ns: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Audit the last closed hour, then each next one as it settles, until ``stop`` is set."""
        while not stop.is_set():
            hour = last_closed_hour(time.time_ns(), self._settle_s)
            wait_s = (hour + 2 * HOUR_NS - time.time_ns()) / times.NS_PER_S + self._settle_s
            if self.last_hour_ns is None or hour > self.last_hour_ns:
                try:
                    await asyncio.to_thread(self.audit_hour, hour)
                except PricecapError as e:  # InfluxDB does not answer: the hour is audited once it does
                    log.warning(
                        "hourly audit failed, will retry", extra={"hour": times.format_ns(hour), "error": str(e)}
                    )
                    wait_s = RETRY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(1.0, wait_s))

    def audit_hour(self, hour_ns: int) -> list[AuditPeriod]:
        """Audit ``[hour_ns, hour_ns + 1h)`` over the collector's markets; write and count what was found."""
        periods = self._audit(sorted(self._symbols()), hour_ns)
        failing = sorted({p.symbol for p in periods if p.missing_ids or p.doubled_ids})
        if failing:
            self._pause(self._confirm_s)
            again = {p.symbol: p for p in self._audit(failing, hour_ns)}
            periods = [again.get(p.symbol, p) if p.symbol in failing else p for p in periods]
        if periods:
            self._write("\n".join(completeness_lines(periods)))
        missing, gaps = sum(p.missing_ids for p in periods), sum(p.exchange_gap_ids for p in periods)
        self._stats.audit_last_hour_s = hour_ns // times.NS_PER_S
        self._stats.audit_missing_ids = missing
        self._stats.audit_exchange_gap_ids = gaps
        self.last_hour_ns = hour_ns
        log.info(
            "hour audited",
            extra={"hour": times.format_ns(hour_ns), "markets": len(periods), "missing": missing, "exchange_gap": gaps},
        )
        return periods

    def _audit(self, symbols: Sequence[str], hour_ns: int) -> list[AuditPeriod]:
        """The audit of ``[hour_ns, hour_ns + 1h)`` for ``symbols``; empty when none of them traded."""
        runner = Runner(self._settings)
        try:
            return Auditor(runner).audit(
                symbols, hour_ns, hour_ns + HOUR_NS, "1h", hour_ns - LOOKBACK_NS, look_after=False
            )
        except NoDataError:
            return []  # no market traded in that hour
        finally:
            runner.close()
