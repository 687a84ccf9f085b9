"""``pricecap collect``: the collector as a command."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import click
import platformdirs

from collector import binance
from collector.stream import StreamOptions
from pricecap import model
from pricecap.logs import setup_logging
from pricecap.options import (
    PORT_OR_OFF,
    POSITIVE,
    SECONDS,
    SHARD,
    FiniteRange,
    checked_host,
    checked_instance,
    influx_options,
    log_level_option,
    symbols_option,
    url_checker,
)
from pricecap.settings import InfluxSettings
from pricecap.shards import Shard
from pricecap.times import parse_duration

if TYPE_CHECKING:
    from collector.service import Collector


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine (gzip would cost CPU and save nothing there)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


source_option = click.option(
    "--source",
    type=click.Choice(sorted(binance.WS_BASE_URLS)),
    default="production",
    show_default=True,
    help="Binance endpoints: production, data (data-stream/data-api.binance.vision) or testnet.",
)


@click.command("collect")
@symbols_option("A spot symbol, e.g. BTCUSDT (repeatable).")
@click.option("--all-symbols", is_flag=True, help="Every TRADING spot symbol, from exchangeInfo.")
@click.option(
    "--shard",
    type=SHARD,
    default=model.UNSHARDED,
    envvar="PRICECAP_SHARD",
    show_default=f"{model.UNSHARDED}, every symbol",
    help="Collect shard K of N (0 <= K < N): a stable share of the symbols, by a hash of each [env PRICECAP_SHARD].",
)
@click.option(
    "--instance",
    envvar="PRICECAP_INSTANCE",
    default=socket.gethostname,
    show_default="the host name",
    callback=checked_instance,
    help="This collector's name in its health points and metrics; each copy needs its own [env PRICECAP_INSTANCE].",
)
@source_option
@click.option(
    "--ws-url",
    callback=url_checker("ws", "wss"),
    help="WebSocket base URL (overrides --source), e.g. a local fake exchange.",
)
@click.option("--rest-url", callback=url_checker("http", "https"), help="REST base URL (overrides --source).")
@click.option(
    "--streams-per-connection",
    default=200,
    show_default=True,
    type=click.IntRange(1, binance.MAX_STREAMS_PER_CONNECTION),
    help="Streams per WebSocket (max 1024).",
)
@click.option(
    "--chunk-lines", default=10_000, show_default=True, type=POSITIVE, help="Most trades in one write request."
)
@click.option(
    "--linger-ms",
    default=20.0,
    show_default=True,
    type=FiniteRange(0, 60_000),
    help="Least time between idle writes.",
)
@click.option(
    "--flush-interval-ms",
    default=1_000,
    show_default=True,
    type=POSITIVE,
    help="Longest wait while every write worker is busy.",
)
@click.option(
    "--write-workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Concurrent write requests."
)
@click.option(
    "--max-pending", default=500_000, show_default=True, type=POSITIVE, help="Unconfirmed trades before reading pauses."
)
@click.option(
    "--retry-for",
    default=120.0,
    show_default=True,
    type=FiniteRange(min=1, max=86_400),
    help="Seconds a write request is retried before it goes to the spool.",
)
@click.option("--gzip/--no-gzip", default=None, help="Compress writes [default: on, off for a loopback InfluxDB].")
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    callback=checked_host,
    help="Address of /metrics and /healthz.",
)
@click.option(
    "--metrics-port", default=9108, show_default=True, type=PORT_OR_OFF, help="Port of /metrics and /healthz (0: off)."
)
@click.option("--health-interval", default=10.0, show_default=True, type=SECONDS, help="Seconds between health points.")
@click.option(
    "--gap-alarm",
    default=120.0,
    show_default=True,
    type=SECONDS,
    help="Seconds a gap may wait for repair before /healthz is 503.",
)
@click.option(
    "--ping-interval", default=20.0, show_default=True, type=SECONDS, help="Seconds between the collector's own pings."
)
@click.option(
    "--ping-timeout", default=20.0, show_default=True, type=SECONDS, help="Seconds without a pong before reconnecting."
)
@click.option(
    "--spool-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PRICECAP_SPOOL_DIR",
    default=lambda: Path(platformdirs.user_data_dir("pricecap")) / "spool",
    show_default="the user data folder's pricecap/spool",
    help="Spool of writes InfluxDB refused, and the checkpoint [env PRICECAP_SPOOL_DIR].",
)
@click.option(
    "--spool-max-mb", default=1024, show_default=True, type=POSITIVE, help="Spool size limit; over it, an alarm."
)
@click.option(
    "--repair-window",
    default="24h",
    show_default=True,
    help="At start-up, fetch missed trades back to this far (e.g. 6h, 7d); 0 turns it off.",
)
@click.option(
    "--rest-weight-share",
    default=0.5,
    show_default=True,
    type=FiniteRange(min=0, max=1, min_open=True),
    help="Share of the IP's REST weight (6,000/min) to spend; a repair backlog may take up to 0.9 while "
    "nothing else on the IP spends any. Whatever the shares, the IP's total (X-MBX-USED-WEIGHT-1M) is kept "
    "within 95 %.",
)
@click.option(
    "--symbols-refresh",
    default="10m",
    show_default=True,
    help="With --all-symbols: how often exchangeInfo is read again for listed and delisted symbols; 0: never.",
)
@click.option(
    "--hourly-audit/--no-hourly-audit",
    default=True,
    show_default=True,
    help="Audit each closed hour of the symbols: completeness points in InfluxDB, pricecap_audit_* metrics.",
)
@log_level_option("INFO")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@influx_options
def collect(
    settings: InfluxSettings,
    symbols: tuple[str, ...],
    all_symbols: bool,
    shard: Shard,
    instance: str,
    source: str,
    ws_url: str | None,
    rest_url: str | None,
    streams_per_connection: int,
    chunk_lines: int,
    linger_ms: float,
    flush_interval_ms: int,
    write_workers: int,
    max_pending: int,
    retry_for: float,
    gzip: bool | None,
    metrics_host: str,
    metrics_port: int,
    health_interval: float,
    gap_alarm: float,
    ping_interval: float,
    ping_timeout: float,
    spool_dir: Path,
    spool_max_mb: int,
    repair_window: str,
    rest_weight_share: float,
    symbols_refresh: str,
    hourly_audit: bool,
    log_level: str,
    log_json: bool,
) -> None:
    """Capture every trade of the given symbols into InfluxDB until Ctrl-C or SIGTERM."""
    if bool(symbols) == all_symbols:
        raise click.UsageError("give --symbol at least once, or --all-symbols")
    if symbols and not shard.select(list(symbols)):
        raise click.UsageError(
            f"--shard {shard} takes none of the {len(symbols)} symbols given: give more, or fewer shards"
        )
    without_numpy()
    # Imported here, after without_numpy(): these are the modules that import influxdb_client.
    from collector.service import Collector, CollectorConfig
    from collector.writer import WriterOptions
    from pricecap.influx import InfluxDownError, check

    repair_window_s, symbols_refresh_s = seconds_or_off(repair_window), seconds_or_off(symbols_refresh)
    setup_logging(log_level, log_json)
    try:
        check(settings)  # a refused token or an unknown bucket is fatal
    except InfluxDownError as e:  # not fatal: collect into the spool until it answers
        logging.getLogger(__name__).warning("InfluxDB does not answer at start-up", extra={"error": str(e)})
    config = CollectorConfig(
        symbols=symbols,
        all_symbols=all_symbols,
        shard=shard,
        instance=instance,
        ws_url=ws_url or binance.WS_BASE_URLS[source],
        rest_url=rest_url or binance.REST_BASE_URLS[source],
        streams_per_connection=streams_per_connection,
        chunk_lines=chunk_lines,
        linger_s=linger_ms / 1000,
        flush_interval_s=flush_interval_ms / 1000,
        health_interval_s=health_interval,
        gap_alarm_s=gap_alarm,
        metrics_host=metrics_host,
        metrics_port=metrics_port or None,
        spool_dir=spool_dir,
        spool_max_bytes=spool_max_mb * 2**20,
        repair_window_s=repair_window_s,
        symbols_refresh_s=symbols_refresh_s,
        hourly_audit=hourly_audit,
        rest_weight_share=rest_weight_share,
        writer=WriterOptions(
            write_workers=write_workers,
            max_pending=max_pending,
            max_retry_time_ms=int(retry_for * 1000),
            gzip=not is_loopback(settings.url) if gzip is None else gzip,
        ),
        stream=StreamOptions(ping_interval_s=ping_interval, ping_timeout_s=ping_timeout),
    )
    asyncio.run(run_until_signalled(Collector(config, settings)))


def seconds_or_off(duration: str) -> float:
    """A duration option (``10m``, ``24h``) in seconds; ``0`` is 0 (off)."""
    return 0.0 if duration.strip() == "0" else parse_duration(duration) / 1e9


def without_numpy() -> None:
    """Make ``import numpy`` fail from now on in this process, unless numpy is loaded already.

    The collector never builds influxdb-client ``Point``s (it formats line protocol itself), yet
    ``influxdb_client.client.write.point`` imports numpy whenever it is installed (it is with the ``plot``
    extra), only to recognise numpy field values; that costs the long-running collector ~12 MiB of resident
    memory for nothing. A None entry in sys.modules makes ``import numpy`` raise ModuleNotFoundError, which
    influxdb-client treats as "numpy absent". Call it before influxdb_client is first imported, and only in a
    process that runs nothing but the collector afterwards.
    """
    if "numpy" not in sys.modules:
        sys.modules["numpy"] = None  # type: ignore[assignment]


def signal_event() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets, in the running event loop."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, event.set)
    return event


async def run_until_signalled(collector: Collector) -> None:
    """Run the collector until SIGINT or SIGTERM, then let it flush and return."""
    await collector.run(signal_event())


COMMANDS: list[click.Command] = [collect]
