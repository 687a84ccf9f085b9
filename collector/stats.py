"""Counters of the collector, read by Prometheus at scrape time and by the periodic health point.

The hot path bumps plain ints and Counters (a labelled prometheus-client metric costs about a microsecond per
call, half the per-trade budget); :class:`StatsCollector` turns them into metric families when scraped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from collector.binance import HTTP_PAUSE_STATUSES
from collector.pipeline import SymbolState
from pricecap import model

TASK_FAILING_S = 30.0
"""How long after a failure a background task counts as failing (no restart waits longer)."""
REST_PAUSE_STATUSES = sorted(HTTP_PAUSE_STATUSES)
"""Each has its series from the start (at 0), so that the first pause is an increase Prometheus sees."""
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Stats:
    """Everything the collector counts. Fields written by the writer's callback thread go under ``lock``."""

    symbols: dict[str, SymbolState]
    malformed: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)
    write_batches: Counter[str] = field(default_factory=Counter)
    write_retries: int = 0
    lost: int = 0
    """Trades neither written nor spooled (the spool was full), held to be written again."""
    requeued: int = 0
    reconnects: Counter[str] = field(default_factory=Counter)
    connections_up: int = 0
    connections_total: int = 0
    streams_unsubscribed: int = 0
    """Streams of open connections that LIST_SUBSCRIPTIONS has not confirmed yet."""
    gaps_found: int = 0
    ids_unrepairable: int = 0
    gap_alarm_s: float = 0.0
    """How long a gap may wait for its repair before ``/healthz`` says 503."""
    repair_waits: dict[str, float] = field(default_factory=dict)
    """Per symbol with ids to repair, since when (monotonic): the repairer's own record."""
    task_restarts: Counter[str] = field(default_factory=Counter)
    task_failed_at: dict[str, float] = field(default_factory=dict)
    """Per background task, when it last failed (monotonic)."""
    silence_s: dict[str, float] = field(default_factory=dict)
    """Per connection (index), seconds since its last message."""
    connections_stalled: int = 0
    freshness_catch_ups: int = 0
    """Silent symbols that REST showed newer trades of (each then caught up)."""
    spooled: int = 0
    replayed_batches: int = 0
    spool_bytes: int = 0
    spool_max_bytes: int = 0
    """The spool's limit (0: no spool)."""
    spool_full: bool = False
    pending: int = 0
    last_write_lag_s: float = 0.0
    rest_pauses: Counter[int] = field(default_factory=Counter)
    """REST answers that paused every request, by HTTP status (429, 418, 403): the REST client's own count."""
    audit_last_hour_s: int = 0
    """The start of the last hour the hourly audit checked (Unix seconds; 0: none yet)."""
    audit_missing_ids: int = 0
    """Ids missing in that hour over the collector's markets, exchange gaps excluded."""
    audit_exchange_gap_ids: int = 0
    started: float = field(default_factory=time.time)
    shard: str = model.UNSHARDED
    """The collector's shard, ``K/N``."""
    instance: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received_total(self) -> int:
        """Trades accepted from the streams, all symbols."""
        return sum(s.received for s in self.symbols.values())

    def repaired_total(self) -> int:
        """Trade ids fetched from REST that the streams had missed, all symbols."""
        return sum(s.repaired for s in self.symbols.values())

    def ids_missing(self) -> int:
        """Trade ids known to be missing and not repaired yet, all symbols."""
        return sum(last - first + 1 for state in list(self.symbols.values()) for first, last in list(state.missing))

    def oldest_gap_age_s(self) -> float:
        """Seconds since the symbol that has waited longest for a repair began to wait (0: none waits)."""
        waits = list(self.repair_waits.values())
        return max(0.0, time.monotonic() - min(waits)) if waits else 0.0

    def tasks_failing(self) -> list[str]:
        """The background tasks that failed within the last ``TASK_FAILING_S`` (down, or not up for long)."""
        now = time.monotonic()
        return sorted(name for name, at in list(self.task_failed_at.items()) if now - at < TASK_FAILING_S)

    def written_total(self) -> int:
        """Trades InfluxDB confirmed, all symbols."""
        with self.lock:
            return sum(self.written.values())


class StatsCollector(Collector):
    """A prometheus-client collector that reads :class:`Stats` when scraped."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the counters as they are now."""
        s = self.stats
        with s.lock:
            written = dict(s.written)
            batches = dict(s.write_batches)
        yield labelled("pricecap_trades_received", "Trades accepted from the streams", "symbol",
                       {symbol: state.received for symbol, state in list(s.symbols.items())})  # fmt: skip
        yield labelled("pricecap_trades_written", "Trades InfluxDB confirmed", "symbol", written)
        yield labelled("pricecap_malformed_messages", "Frames skipped, by reason", "reason", dict(s.malformed))
        yield labelled("pricecap_write_batches", "Write requests by outcome", "outcome", batches)
        yield labelled("pricecap_reconnects", "Reconnections by cause", "cause", dict(s.reconnects))
        yield labelled("pricecap_rest_pauses", "REST answers that paused every request (429, 418, 403), by status",
                       "status", {str(status): s.rest_pauses[status] for status in REST_PAUSE_STATUSES})  # fmt: skip
        yield CounterMetricFamily("pricecap_write_retries", "Write requests retried", value=s.write_retries)
        yield GaugeMetricFamily(
            "pricecap_trades_lost",
            "Trades neither written nor spooled (spool full), held until InfluxDB takes writes again",
            value=s.lost,
        )
        yield CounterMetricFamily(
            "pricecap_trades_requeued", "Trades once left unwritten, handed to the writer again", value=s.requeued
        )
        yield CounterMetricFamily("pricecap_gaps", "Gaps in trade ids found", value=s.gaps_found)
        yield labelled("pricecap_ids_repaired", "Missed trade ids fetched from REST", "symbol",
                       {symbol: state.repaired for symbol, state in list(s.symbols.items())})  # fmt: skip
        yield CounterMetricFamily(
            "pricecap_ids_unrepairable", "Missed trade ids that REST no longer has", value=s.ids_unrepairable
        )
        yield CounterMetricFamily("pricecap_trades_spooled", "Trades sent to the disk spool", value=s.spooled)
        yield CounterMetricFamily(
            "pricecap_replayed_batches", "Spooled write requests replayed into InfluxDB", value=s.replayed_batches
        )
        yield GaugeMetricFamily(
            "pricecap_ids_missing", "Trade ids known to be missing and not repaired yet", value=s.ids_missing()
        )
        yield GaugeMetricFamily(
            "pricecap_oldest_gap_age_seconds",
            "Seconds the symbol waiting longest for a repair has waited",
            value=s.oldest_gap_age_s(),
        )
        yield GaugeMetricFamily(
            "pricecap_gap_alarm_seconds", "How long a gap may wait for its repair (--gap-alarm)", value=s.gap_alarm_s
        )
        yield CounterMetricFamily(
            "pricecap_freshness_catch_ups",
            "Silent symbols that REST showed newer trades of, caught up",
            value=s.freshness_catch_ups,
        )
        silence = GaugeMetricFamily(
            "pricecap_connection_silence_seconds",
            "Seconds since the last message of a connection",
            labels=["connection"],
        )
        for connection, seconds in list(s.silence_s.items()):
            silence.add_metric([connection], seconds)
        yield silence
        yield GaugeMetricFamily(
            "pricecap_connections_stalled", "Connections silent past their limit, not replaced yet",
            value=s.connections_stalled,
        )  # fmt: skip
        yield labelled("pricecap_task_restarts", "Background tasks restarted after a failure", "task",
                       dict(s.task_restarts))  # fmt: skip
        yield GaugeMetricFamily(
            "pricecap_tasks_failing", "Background tasks down or failed in the last 30 s", value=len(s.tasks_failing())
        )
        yield GaugeMetricFamily("pricecap_spool_bytes", "Bytes in the spool, not replayed yet", value=s.spool_bytes)
        yield GaugeMetricFamily(
            "pricecap_spool_limit_bytes",
            "The spool's size limit (--spool-max-mb; 0: no spool)",
            value=s.spool_max_bytes,
        )
        yield GaugeMetricFamily("pricecap_spool_full", "1 while the spool refuses writes (alarm)", value=s.spool_full)
        yield GaugeMetricFamily("pricecap_connections_up", "Open stream connections", value=s.connections_up)
        yield GaugeMetricFamily("pricecap_connections", "Stream connections wanted", value=s.connections_total)
        yield GaugeMetricFamily(
            "pricecap_streams_unsubscribed",
            "Streams not confirmed subscribed on their connection",
            value=s.streams_unsubscribed,
        )
        yield GaugeMetricFamily("pricecap_pending_trades", "Trades handed to the writer, unconfirmed", value=s.pending)
        yield GaugeMetricFamily(
            "pricecap_audit_last_hour_seconds",
            "Start of the last hour the hourly audit checked (Unix seconds)",
            value=s.audit_last_hour_s,
        )
        yield GaugeMetricFamily(
            "pricecap_audit_missing_ids",
            "Trade ids missing in the last audited hour over the collector's symbols, exchange gaps excluded",
            value=s.audit_missing_ids,
        )
        yield GaugeMetricFamily(
            "pricecap_audit_exchange_gap_ids",
            "Trade ids of the last audited hour that Binance itself does not have",
            value=s.audit_exchange_gap_ids,
        )
        info = GaugeMetricFamily(
            "pricecap_shard_info",
            "The collector's shard (K/N) and instance name; always 1",
            labels=["shard", "instance"],
        )
        info.add_metric([s.shard, s.instance], 1)
        yield info


def labelled(name: str, documentation: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    """A counter family with one sample per label value."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def registry_for(stats: Stats) -> tuple[CollectorRegistry, Histogram]:
    """A registry with the collector's metrics, and the trade-to-write lag histogram in it."""
    registry = CollectorRegistry()
    registry.register(StatsCollector(stats))
    lag = Histogram(
        "pricecap_write_lag_seconds",
        "From the oldest trade time of a chunk to InfluxDB confirming it",
        buckets=LAG_BUCKETS,
        registry=registry,
    )
    return registry, lag
