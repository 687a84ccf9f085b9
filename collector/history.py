"""``pricecap import`` and ``pricecap backfill``: trades of the past, through the same data model as live ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import platformdirs
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from collector import archive, binance
from collector.backfill import BackfillProgress, backfill
from collector.bulk import BulkWriter
from collector.cli import is_loopback, source_option
from collector.rest import BinanceRest
from pricecap import model, times
from pricecap.flux import Time
from pricecap.influx import check
from pricecap.logs import setup_logging
from pricecap.options import POSITIVE, checked_symbols, debugging, influx_options, log_level_option, url_checker
from pricecap.settings import InfluxSettings
from queries import rollup
from queries.api import checked_range
from queries.runner import Runner

UNANSWERED_ATTEMPTS = 2
"""Tries of a backfill's first request before a REST API that never answered is given up on."""
workers_option = click.option(
    "--workers", default=4, show_default=True, type=click.IntRange(1, 64), help="Write requests in flight at once."
)


def progress_columns() -> tuple[ProgressColumn, ...]:
    """Name, bar, percent, rows, rows per second and time left; on a narrow terminal the name and the bar
    shrink, the figures are never cut."""
    whole = Column(no_wrap=True)
    return (
        TextColumn("{task.description}", table_column=Column(ratio=1, overflow="ellipsis")),
        BarColumn(bar_width=None, table_column=Column(ratio=1)),
        TaskProgressColumn(table_column=whole),
        TextColumn("{task.fields[rows]:,} rows {task.fields[rate]:,.0f}/s", table_column=whole),
        TimeRemainingColumn(table_column=whole),
    )


@contextmanager
def progress_bar(label: str, total: float) -> Iterator[tuple[Progress, TaskID]]:
    """A progress bar on stderr when it is a terminal (see :func:`progress_columns`); none in a log."""
    console = Console(stderr=True)
    bar = Progress(*progress_columns(), console=console, disable=not console.is_terminal)
    with bar:
        yield bar, bar.add_task(label, total=total, rows=0, rate=0.0)


def stored_line(settings: InfluxSettings, symbol: str, start_ms: int, stop_ms: int) -> str:
    """What InfluxDB holds of ``symbol`` in ``[start_ms, stop_ms)`` after a write, read back from it."""
    start_ns, stop_ns = start_ms * model.NS_PER_MS, stop_ms * model.NS_PER_MS
    runner = Runner(settings)
    try:
        records = runner.run("stored_count", {"symbol": symbol, "start": Time(start_ns), "stop": Time(stop_ns)})
    finally:
        runner.close()
    count = sum(int(r.get_value()) for r in records)
    return (
        f"InfluxDB now holds {count:,} trades of {symbol} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})"
    )


def rebuild_candles(settings: InfluxSettings, first_ms: int | None, last_ms: int) -> None:
    """Recompute the candles of what was written, when ``pricecap setup`` made them."""
    if first_ms is not None and rollup.has_candles(settings):
        rollup.rebuild(settings, first_ms * model.NS_PER_MS, (last_ms + 1) * model.NS_PER_MS)
        click.echo("candles of the range rebuilt", err=True)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--symbol", callback=checked_symbols, help="The symbol of every file [default: from each file name].")
@click.option("--batch-rows", default=50_000, show_default=True, type=POSITIVE, help="Rows per write request.")
@workers_option
@influx_options
def import_archives(
    settings: InfluxSettings, files: tuple[Path, ...], symbol: str | None, batch_rows: int, workers: int
) -> None:
    """Load Binance trade archives (SYMBOL-trades-YYYY-MM-DD.zip, monthly ones, or plain CSV) into InfluxDB.

    Checks a .CHECKSUM file beside an archive when there is one, reads time columns in milliseconds or
    microseconds, streams (constant memory), and writes large batches concurrently. Importing a file again
    changes nothing.
    """
    names = {path: symbol or archive.symbol_of(path) for path in files}
    for path in files:
        archive.probe(path)
    check(settings)
    for path, name in names.items():
        verified = archive.verify_checksum(path)
        progress = archive.Progress(total_bytes=path.stat().st_size)
        started = time.monotonic()
        with (
            BulkWriter(settings, workers, gzip=not is_loopback(settings.url)) as writer,
            progress_bar(path.name, progress.total_bytes) as (bar, task),
        ):
            for body in archive.lines(path, name, progress, batch_rows):
                writer.write(body)
                rate = progress.rows / max(time.monotonic() - started, 1e-9)
                bar.update(task, completed=progress.read_bytes, rows=progress.rows, rate=rate)
            bar.update(task, completed=progress.total_bytes)
        seconds = time.monotonic() - started
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(progress.skipped.items())) or "none"
        click.echo(
            f"{path.name}: {progress.rows:,} trades of {name} in {seconds:.1f} s ({progress.rows / seconds:,.0f}/s);"
            f" checksum {'verified' if verified else 'absent'}; skipped rows: {skipped}",
            err=True,
        )
        if progress.first_ms is not None:
            click.echo(stored_line(settings, name, progress.first_ms, progress.last_ms + 1), err=True)
        rebuild_candles(settings, progress.first_ms, progress.last_ms)


@click.command("backfill", epilog="Times: ISO-8601 (UTC unless a zone is given), epoch milliseconds, now, -7d ...")
@click.option("--symbol", required=True, callback=checked_symbols, help="The symbol, e.g. BTCUSDT.")
@click.option("--from", "start", required=True, help="Range start (inclusive).")
@click.option("--to", "stop", default="now", show_default=True, help="Range stop (exclusive).")
@source_option
@click.option("--rest-url", callback=url_checker("http", "https"), help="REST base URL (overrides --source).")
@workers_option
@log_level_option("ERROR", "Logs of the REST requests on stderr: WARNING shows their retries and pauses.")
@influx_options
def backfill_command(
    settings: InfluxSettings,
    symbol: str,
    start: str,
    stop: str,
    source: str,
    rest_url: str | None,
    workers: int,
    log_level: str,
) -> None:
    """Fetch every trade of SYMBOL in [--from, --to) from Binance's REST API into InfluxDB.

    Within Binance's request-weight budget; an interrupted backfill resumes where it stopped when run again
    with the same arguments; trades already stored (live or earlier) are written to the same points again.
    A REST API that never answers is given up on after a second try (exit 4); pricecap --debug logs every
    request's retries.
    """
    setup_logging("DEBUG" if debugging() else log_level)
    start_ns, stop_ns = checked_range(start, stop)
    start_ms, stop_ms = start_ns // model.NS_PER_MS, stop_ns // model.NS_PER_MS
    check(settings)
    state = Path(platformdirs.user_data_dir("pricecap")) / "backfill"
    state.mkdir(parents=True, exist_ok=True)
    progress_path = state / f"{settings.bucket}-{symbol}-{start_ms}-{stop_ms}.json"

    async def run() -> BackfillProgress:
        rest = BinanceRest(rest_url or binance.REST_BASE_URLS[source], attempts_unanswered=UNANSWERED_ATTEMPTS)
        started = time.monotonic()
        try:
            with (
                BulkWriter(settings, workers, gzip=not is_loopback(settings.url)) as writer,
                progress_bar(f"{symbol} backfill", stop_ms - start_ms) as (bar, task),
            ):

                def page_done(progress: BackfillProgress) -> None:
                    rate = progress.written / max(time.monotonic() - started, 1e-9)
                    done = max(0, min(progress.last_time_ms, stop_ms) - start_ms)
                    bar.update(task, completed=done, rows=progress.written, rate=rate)

                return await backfill(rest, writer, symbol, start_ms, stop_ms, progress_path, page_done)
        finally:
            rest.close()

    result = asyncio.run(run())
    click.echo(
        f"{symbol}: {result.written:,} trades in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)}) written",
        err=True,
    )
    if result.unavailable:
        click.echo(
            f"{symbol}: {result.unavailable:,} trade ids are not available from {rest_url or source} (trades of "
            "aggregates of several trades, older than its newest 1,000 trades, without historicalTrades): "
            "backfill from --source production for them",
            err=True,
        )
    click.echo(stored_line(settings, symbol, start_ms, stop_ms), err=True)
    rebuild_candles(settings, start_ms if result.written else None, stop_ms - 1)


COMMANDS: list[click.Command] = [import_archives, backfill_command]
