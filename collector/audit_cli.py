"""``pricecap audit``: prove per market and period that every trade id is stored once, and repair what is not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import click

from collector import archive, binance
from collector.archive_audit import ArchiveAuditor, ArchiveCheck
from collector.audit_repair import Repaired, missing_ranges, repair
from collector.bulk import BulkWriter
from collector.cli import is_loopback, source_option
from collector.rest import BinanceRest
from pricecap import model
from pricecap.errors import BadInputError, ExitCode, PricecapError
from pricecap.model import checked_symbol
from pricecap.options import checked_symbols, influx_options, url_checker
from pricecap.settings import InfluxSettings
from queries import rollup
from queries.api import Prices, checked_range, instant_ns
from queries.audit import EVERY
from queries.cli import TIMES_HELP, iso
from queries.coverage import merged, size
from queries.models import AuditPeriod
from queries.output import Format, Row, format_options, render

RANGES_SHOWN = 100
"""At most this many ranges are listed in one cell; the counts beside them are always whole."""


class IncompleteError(PricecapError):
    """The audit found trade ids missing or stored more than once."""

    exit_code = ExitCode.INCOMPLETE


def ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    """``101-149 200``: id ranges for a cell (the first RANGES_SHOWN of them)."""
    shown = " ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges[:RANGES_SHOWN])
    more = len(ranges) - RANGES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def audit_row(period: AuditPeriod) -> Row:
    """One period of one market as an output row."""
    return {
        "symbol": period.symbol,
        "period": iso(period.start_ns),
        "trades": period.trades,
        "first_id": period.first_id,
        "last_id": period.last_id,
        "expected": period.expected,
        "missing": period.missing_ids,
        "doubled": period.doubled_ids,
        "exchange_gap": period.exchange_gap_ids,
        "verdict": "complete" if period.complete else "incomplete",
        "missing_ids": ranges_text(period.missing),
        "doubled_ids": ranges_text(period.doubled),
        "exchange_gap_ids": ranges_text(period.exchange_gaps),
    }


def verdict(periods: Sequence[AuditPeriod]) -> str:
    """One line on the whole audit: complete, or how much is not."""
    markets = len({p.symbol for p in periods})
    gaps = sum(p.exchange_gap_ids for p in periods)
    gap_text = f"; {gaps:,} ids are exchange gaps (Binance does not have them)" if gaps else ""
    incomplete = [p for p in periods if not p.complete]
    if not incomplete:
        return f"audit: {markets} markets, {len(periods)} periods: complete{gap_text}"
    missing, doubled = sum(p.missing_ids for p in periods), sum(p.doubled_ids for p in periods)
    return (
        f"{len(incomplete)} of {len(periods)} periods incomplete: {missing:,} ids missing, {doubled:,} stored more"
        f" than once{gap_text}"
    )


@click.command("audit", epilog=TIMES_HELP)
@click.argument("symbols", nargs=-1, metavar="[SYMBOL]...", callback=checked_symbols)
@click.option("--from", "start", help="Range start (inclusive); with --against-archive, the archives' periods.")
@click.option("--to", "stop", default="now", show_default=True, help="Range stop (exclusive).")
@click.option("--every", type=click.Choice(EVERY), default="1d", show_default=True, help="Period (UTC days or hours).")
@click.option(
    "--against-archive",
    "archives",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Compare with Binance trade archives (SYMBOL-trades-YYYY-MM[-DD].zip, repeatable) instead.",
)
@click.option(
    "--repair", "repair_", is_flag=True, help="Write what is missing (from REST, or from the archives), audit again."
)
@source_option
@click.option("--rest-url", callback=url_checker("http", "https"), help="REST base URL (overrides --source).")
@format_options
@influx_options
def audit(
    settings: InfluxSettings,
    symbols: tuple[str, ...],
    start: str | None,
    stop: str,
    every: str,
    archives: tuple[Path, ...],
    repair_: bool,
    source: str,
    rest_url: str | None,
    output: Format,
) -> None:
    """Prove, per SYMBOL (default: every one in the bucket) and period, that each trade id is stored once.

    Binance's trade ids are consecutive per market: a period is complete when it holds every id after the last
    one of the period before up to its own last id, each once. Prints per period the trades stored, first and
    last id, the ids missing and doubled (with their ranges) and the exchange gaps (ids Binance itself does
    not have, which do not count as missing). Exits 0 when every period is complete, 10 when ids are missing or
    doubled.

    --repair fetches every missing range from Binance REST (historicalTrades, within the request-weight budget)
    and writes it with the timestamps live trades get, then audits again and prints that; ids REST answers past
    are recorded as exchange gaps. Interrupted, it is run again: nothing is written twice.

    --against-archive compares the stored trades with Binance's daily or monthly trade archives (CHECKSUM
    verified when the .CHECKSUM file is beside it): ids missing, ids extra, and ids whose price, quantity, time
    or side differ; with --repair it writes the missing rows from the archive.
    """
    if archives:
        against_archives(settings, symbols, archives, start, stop, repair_, output)
        return
    if start is None:
        instant_ns(stop)  # a bad --to is said first, as every bad value is
        raise click.UsageError("--from is required (unless --against-archive)")
    start_ns, stop_ns = checked_range(start, stop)
    with Prices(settings) as prices:
        periods = prices.audit(symbols, start_ns, stop_ns, every)
        if repair_ and (ranges := missing_ranges(periods)):
            done = asyncio.run(repaired(settings, ranges, rest_url or binance.REST_BASE_URLS[source]))
            for line in repair_lines(done):
                click.echo(line, err=True)
            rebuild_candles(settings, done.spans_ms)
            periods = prices.audit(symbols, start_ns, stop_ns, every)
    click.echo(render([audit_row(p) for p in periods], output))
    line = verdict(periods)
    if any(not p.complete for p in periods):
        raise IncompleteError(line)
    click.echo(line, err=True)


def archive_row(check: ArchiveCheck) -> Row:
    """What one archive says, as an output row."""
    return {
        "archive": check.name,
        "symbol": check.symbol,
        "archive_trades": check.rows,
        "stored": check.stored,
        "missing": size(check.missing),
        "extra": size(check.extra),
        "differ": size(check.differ),
        "written": check.written,
        "verdict": "matches" if check.matches else "differs",
        "missing_ids": ranges_text(check.missing),
        "extra_ids": ranges_text(check.extra),
        "differ_ids": ranges_text(check.differ),
    }


def against_archives(
    settings: InfluxSettings,
    symbols: tuple[str, ...],
    archives: tuple[Path, ...],
    start: str | None,
    stop: str,
    repair_: bool,
    output: Format,
) -> None:
    """``audit --against-archive``: check every archive (name, CHECKSUM, symbol, period) before comparing any,
    then compare (and repair)."""
    bounds = checked_range(start, stop) if start is not None else None
    names = {path: checked_symbol(archive.symbol_of(path)) for path in archives}
    for path, symbol in names.items():
        archive.probe(path)
        archive.verify_checksum(path)
        if symbols and symbol not in symbols:
            raise BadInputError(f"{path.name} is an archive of {symbol}, not of {', '.join(symbols)}")
        first_ms, stop_ms = archive.span_of(path)
        if bounds and not (bounds[0] <= first_ms * model.NS_PER_MS and stop_ms * model.NS_PER_MS <= bounds[1]):
            raise BadInputError(f"{path.name} covers a period outside [--from, --to): an archive of another day?")
    checks: list[ArchiveCheck] = []
    with Prices(settings) as prices, BulkWriter(settings, gzip=not is_loopback(settings.url)) as writer:
        prices.require_symbols(set(names.values()))
        auditor = ArchiveAuditor(prices.runner, writer if repair_ else None)
        checks = [auditor.check(path, symbol) for path, symbol in names.items()]
    written = [c for c in checks if c.written]
    if written:
        rebuild_candles(settings, [archive.span_of(Path(c.name)) for c in written])
    click.echo(render([archive_row(c) for c in checks], output))
    unresolved = [c for c in checks if c.extra or c.differ or c.written < size(c.missing)]
    line = f"{len(unresolved)} of {len(checks)} archives differ from the stored trades"
    if unresolved:
        raise IncompleteError(line)
    repaired_now = sum(c.written for c in checks)
    click.echo(
        f"audit: {len(checks)} archives match the stored trades"
        + (f" ({repaired_now:,} rows written)" if repaired_now else ""),
        err=True,
    )


async def repaired(settings: InfluxSettings, ranges: list[tuple[str, tuple[int, int]]], rest_url: str) -> Repaired:
    """Repair ``ranges`` from the REST base ``rest_url`` into the settings' bucket. The REST client's log lines
    (retries, pauses) are not shown: a failure ends the command with its own one line."""
    logging.getLogger("collector.rest").setLevel(logging.CRITICAL)
    rest = BinanceRest(rest_url)
    try:
        with BulkWriter(settings, gzip=not is_loopback(settings.url)) as writer:
            return await repair(rest, writer, ranges)
    finally:
        rest.close()


def repair_lines(done: Repaired) -> list[str]:
    """What a repair did, one line per market and kind."""
    lines = [
        f"{symbol}: {count:,} missing trades fetched from REST and written" for symbol, count in done.written.items()
    ]
    lines += [
        f"{symbol}: ids {ranges_text([ids])} are an exchange gap (REST answers past them): recorded"
        for symbol, ids in done.exchange_gaps
    ]
    lines += [
        f"{symbol}: ids {ranges_text([ids])} are not on REST yet (it lags the stream): run the repair again later"
        for symbol, ids in done.not_yet
    ]
    return lines


def rebuild_candles(settings: InfluxSettings, spans_ms: list[tuple[int, int]]) -> None:
    """Recompute the candles of the minutes repaired, when ``pricecap setup`` made them."""
    if not spans_ms or not rollup.has_candles(settings):
        return
    minute = 60_000
    for first, last in merged([(a - a % minute, b - b % minute) for a, b in spans_ms]):
        rollup.rebuild(settings, first * model.NS_PER_MS, (last + minute) * model.NS_PER_MS)
    click.echo("candles of the repaired minutes rebuilt", err=True)


COMMANDS: list[click.Command] = [audit]
