"""Downsampled candles: the buckets, the InfluxDB tasks that roll trades up, and rebuilding a range.

``pricecap setup`` creates the raw bucket (with a retention), a candles bucket ``<bucket>_candles`` (kept
forever), and two tasks: 1-minute candles from trades, and 1-hour candles from the 1-minute ones. Both run
``queries/candles_task.flux`` with a few constants put above it. Running setup again updates in place. Imports
and backfills rebuild the candles of the range they wrote, since the tasks only look back a little.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from influxdb_client.client.bucket_api import BucketsApi
from influxdb_client.domain.bucket import Bucket
from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules
from influxdb_client.domain.task_create_request import TaskCreateRequest
from influxdb_client.domain.task_update_request import TaskUpdateRequest

from pricecap import flux, times
from pricecap.errors import PricecapError
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from queries.runner import flux_text

log = logging.getLogger(__name__)
MEASUREMENT = "candles"
NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Rollup:
    """One kind of candle: its name, length, where it comes from, and how its task runs."""

    name: str
    every: str
    source: str
    task_every: str
    lookback: str


ROLLUPS = (
    Rollup("1m", every="1m", source="trades", task_every="1m", lookback="15m"),
    Rollup("1h", every="1h", source="1m", task_every="15m", lookback="3h"),
)


CANDLE_BUCKET_SUFFIX: Final = "_candles"
"""The candles bucket of raw bucket ``B`` is ``B_candles`` (Grafana's dashboards name it the same way)."""


def candle_bucket(settings: InfluxSettings) -> str:
    """The name of the candles bucket that goes with the settings' raw bucket."""
    return settings.bucket + CANDLE_BUCKET_SUFFIX


def task_name(rollup: Rollup, settings: InfluxSettings) -> str:
    """The task's name (one pair of tasks per raw bucket)."""
    return f"pricecap candles {rollup.name} of {settings.bucket}"


def script(rollup: Rollup, settings: InfluxSettings, window: tuple[int, int] | None = None) -> str:
    """The Flux of one roll-up: as a task (``window`` None) or as a one-off rebuild of ``[start, stop)`` ns."""
    if window is None:
        name = flux.string(task_name(rollup, settings))
        head = (
            f"option task = {{name: {name}, every: {rollup.task_every}, offset: 10s}}\n"
            f"rangeStop = date.truncate(t: now(), unit: {rollup.every})\n"
            f"rangeStart = date.sub(d: {rollup.lookback}, from: rangeStop)\n"
        )
    else:
        start, stop = (flux.Time(ns).rfc3339() for ns in window)
        head = f"rangeStart = {start}\nrangeStop = {stop}\n"
    head += (
        f"rawBucket = {flux.string(settings.bucket)}\n"
        f"candleBucket = {flux.string(candle_bucket(settings))}\n"
        f"every = {rollup.every}\nname = {flux.string(rollup.name)}\nsource = {flux.string(rollup.source)}\n"
    )
    body = flux_text("candles_task")
    return body.replace('import "date"\n', 'import "date"\n\n' + head, 1)


RAW_SHARD_GROUP_S: Final = 86_400
"""The longest shard group of the trades bucket: a day, not the 7 days InfluxDB gives a bucket kept forever. A
pushed-down read of one trade costs influxd time in proportion to its series' blocks in the shard (it lists them
all), so a busy market's price-at costs about a third less in day shards (bench.queries, 2026-12-02); a range of
30 days then spans 30 shards, which the candles make cheap."""
CANDLE_SHARD_GROUP_S: Final = 7 * 86_400
"""The longest shard group of the candles bucket (a minute's candle per market: few blocks per shard)."""


def shard_group_seconds(retention_s: int, longest_s: int) -> int:
    """The shard-group duration for a retention (0: forever): InfluxDB's own default, at most ``longest_s``.
    It must not exceed the retention, so a retention change carries it along."""
    if retention_s == 0 or retention_s >= 180 * 86_400:
        default = 7 * 86_400
    else:
        default = 86_400 if retention_s >= 2 * 86_400 else 3_600
    return min(default, longest_s)


def retention_rules(retention_s: int, longest_s: int) -> list[BucketRetentionRules]:
    """The rules of a bucket that keeps data ``retention_s`` seconds (0: forever, which InfluxDB writes as 0), in
    shard groups of at most ``longest_s``."""
    return [
        BucketRetentionRules(
            type="expire",
            every_seconds=retention_s,
            shard_group_duration_seconds=shard_group_seconds(retention_s, longest_s),
        )
    ]


def shard_group_of(bucket: Bucket) -> int:
    """The shard-group duration of a bucket as InfluxDB reports it, in seconds (0 where it reports none)."""
    return next((r.shard_group_duration_seconds or 0 for r in bucket.retention_rules or []), 0)


def retention_of(bucket: Bucket) -> int:
    """The retention of a bucket as InfluxDB reports it, in seconds (0: forever)."""
    return next((r.every_seconds for r in bucket.retention_rules or [] if r.every_seconds), 0)


def setup(settings: InfluxSettings, retention_s: int | None) -> list[str]:
    """Create or update the buckets and the tasks; return what was done, one line each, with the retention
    each bucket has as read back from InfluxDB. ``retention_s`` None keeps a bucket's retention as it is (a
    new one keeps data forever); 0 is forever."""
    done = []
    with connect(settings) as client:
        buckets = client.buckets_api()
        org = client.organizations_api().find_organizations(org=settings.org)[0]
        for name, keep, longest in (
            (settings.bucket, retention_s, RAW_SHARD_GROUP_S),
            (candle_bucket(settings), 0, CANDLE_SHARD_GROUP_S),
        ):
            verb = _ensure_bucket(buckets, settings.org, name, keep, longest)
            stored = buckets.find_bucket_by_name(name)
            kept = retention_of(stored) if stored is not None else 0
            if keep is not None and kept != keep:
                raise PricecapError(
                    f"InfluxDB kept the retention of bucket {name} at {_retention(kept)}, not {_retention(keep)}"
                )
            done.append(f"{verb} bucket {name} ({_retention(kept)})")
        tasks = client.tasks_api()
        for rollup in ROLLUPS:
            name = task_name(rollup, settings)
            text = script(rollup, settings)
            existing = tasks.find_tasks(name=name)
            if existing:
                tasks.update_task_request(existing[0].id, TaskUpdateRequest(flux=text, status="active"))
                done.append(f"updated task {name!r}")
            else:
                tasks.create_task(task_create_request=TaskCreateRequest(flux=text, org_id=org.id, status="active"))
                done.append(f"created task {name!r} (every {rollup.task_every})")
    return done


def shape_raw_bucket(settings: InfluxSettings) -> str:
    """Give the trades bucket the shard groups ``pricecap setup`` gives it, its retention kept (what ``pricecap
    up`` and the benchmarks do to a bucket they have just made); the verb: created, updated or kept."""
    with connect(settings) as client:
        return _ensure_bucket(client.buckets_api(), settings.org, settings.bucket, None, RAW_SHARD_GROUP_S)


def _ensure_bucket(buckets: BucketsApi, org: str | None, name: str, keep: int | None, longest_s: int) -> str:
    """Create bucket ``name`` keeping data ``keep`` seconds (None: as it is, forever when new; 0: forever) in
    shard groups of at most ``longest_s``, or update it to that (new shard groups only); the verb."""
    bucket = buckets.find_bucket_by_name(name)
    if bucket is None:
        buckets.create_bucket(bucket_name=name, org=org, retention_rules=retention_rules(keep or 0, longest_s))
        return "created"
    target = retention_of(bucket) if keep is None else keep
    if (retention_of(bucket), shard_group_of(bucket)) == (target, shard_group_seconds(target, longest_s)):
        return "kept"
    bucket.retention_rules = retention_rules(target, longest_s)
    buckets.update_bucket(bucket)
    return "updated"


def has_candles(settings: InfluxSettings) -> bool:
    """True when the candles bucket exists (``pricecap setup`` has run)."""
    with connect(settings) as client:
        return client.buckets_api().find_bucket_by_name(candle_bucket(settings)) is not None


def rebuild(settings: InfluxSettings, start_ns: int, stop_ns: int) -> None:
    """Recompute every candle that overlaps ``[start_ns, stop_ns)``, a day at a time."""
    hour = 3_600 * 10**9
    first, last = start_ns - start_ns % hour, stop_ns + (-stop_ns) % hour
    with connect(settings) as client:
        query = client.query_api()
        for rollup in ROLLUPS:
            for day in range(first, last, NS_PER_DAY):
                query.query(script(rollup, settings, (day, min(day + NS_PER_DAY, last))))
    log.info("candles rebuilt", extra={"start_ns": start_ns, "stop_ns": stop_ns})


def _retention(seconds: int) -> str:
    return f"retention {times.format_duration(seconds * times.NS_PER_S)}" if seconds else "kept forever"
