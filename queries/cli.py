"""The ``pricecap`` commands of the queries, thin wrappers around :class:`queries.api.Prices`.

``pricecap/cli.py`` loads the commands in COMMANDS on demand (its LAZY_COMMANDS names them).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections import deque
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import TextIO, cast

import click

from pricecap import model, times
from pricecap.errors import BadInputError, NoDataError
from pricecap.options import influx_options
from pricecap.settings import InfluxSettings
from queries import rollup
from queries.answers import FILLS, Fill
from queries.api import BLOCK, DEFAULT_LOOKBACK, Prices, checked_zone
from queries.models import Candle, PriceAt, Summary, SymbolInfo
from queries.output import Format, Row, format_options, render, render_stream
from queries.plot import plot_candles

_EXCHANGE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}").fullmatch
QTY_DECIMALS = 8
"""Binance's quantities have at most 8 decimals: sums of them (volumes) are shown rounded to that, not with the
float noise of adding binary fractions (0.1 + 0.2 is 0.30000000000000004)."""


def checked_exchange(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An exchange tag as pricecap writes them: lower-case letters, digits, ``_ . -``."""
    if not _EXCHANGE(value):
        raise click.BadParameter(f"{value!r} is not an exchange tag: use lower-case letters and digits, e.g. binance")
    return value


exchange_option = click.option(
    "--exchange",
    default=model.EXCHANGE_BINANCE,
    show_default=True,
    callback=checked_exchange,
    help="The exchange tag of the trades.",
)
start_option = click.option("--start", "--from", "start", required=True, help="Range start (inclusive).")
stop_option = click.option("--stop", "--to", "stop", default="now", show_default=True, help="Range stop (exclusive).")
TIMES_HELP = "Times: ISO-8601 (UTC unless a zone is given), epoch milliseconds, now, or relative (-15m, -2h, -7d)."
_RELATIVE_ARGUMENT = re.compile(r"-[0-9][0-9a-z]*").fullmatch


class TimeArguments(click.Command):
    """A command whose TIME arguments may be relative times such as ``-15m``, which click would take for options.

    Such an argument (not an option's value, not after ``--``) is read as ``now-15m``, which means the same.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        valued = {name for p in self.params if isinstance(p, click.Option) and not p.is_flag for name in p.opts}
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten += args[i:]
                break
            value = i > 0 and args[i - 1] in valued
            rewritten.append(f"now{arg}" if _RELATIVE_ARGUMENT(arg) and not value else arg)
        return super().parse_args(ctx, rewritten)


def iso(ns: int, zone: str = "UTC") -> str:
    """An instant for output: ISO-8601 with milliseconds (Binance's precision), in UTC or the given zone."""
    return times.format_ns(ns - ns % model.NS_PER_MS, zone)


def volume(value: float) -> float:
    """A sum of quantities in the exchange's decimals."""
    return round(value, QTY_DECIMALS)


def trade_row(answer: PriceAt) -> Row:
    """One priced instant as an output row."""
    trade = answer.trade
    return {
        "symbol": answer.symbol,
        "at": iso(answer.at_ns),
        "price": trade.price,
        "qty": trade.qty,
        "trade_id": trade.trade_id,
        "trade_time": iso(trade.time_ms * model.NS_PER_MS),
        "buyer_maker": trade.buyer_maker,
        "stale_ms": answer.stale_ns // model.NS_PER_MS,
    }


def missing_row(symbol: str, at_ns: int) -> Row:
    """An instant without an answer: the row keeps its place, with empty cells."""
    return {"symbol": symbol, "at": iso(at_ns)} | dict.fromkeys(
        ("price", "qty", "trade_id", "trade_time", "buyer_maker", "stale_ms")
    )


NO_SYMBOL = "give SYMBOL, or a --file that names each row's symbol (a symbol column, or TIME,SYMBOL rows)"
DELIMITERS = "\t;,"
"""The cell separators of a --file, tried in this order on its first line: TSV, the CSV of spreadsheets whose
decimal mark is a comma, CSV."""


def open_text(path: str) -> TextIO:
    """A text file as a spreadsheet saves it (``-``: stdin): UTF-8 with or without a byte-order mark, or UTF-16
    with one; line ends are left to the csv module."""
    raw = cast(io.BufferedReader, sys.stdin.buffer) if path == "-" else Path(path).open("rb")  # noqa: SIM115
    utf16 = raw.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    return io.TextIOWrapper(raw, encoding="utf-16" if utf16 else "utf-8-sig", newline="")


def read_instants(path: str, symbol: str | None) -> Iterator[tuple[str, str]]:
    """(symbol, time) pairs from a table of instants (``-`` for stdin), comma-, tab- or semicolon-separated.

    A first row with a ``time`` cell is the header: the ``time`` column is read, and the ``symbol`` column where
    there is one. Without a header each row is TIME or TIME,SYMBOL. SYMBOL is the symbol of the rows that name
    none. Cells may be quoted, rows of empty cells are skipped, and the file is read as the pairs are taken, so
    its length does not matter.
    """
    try:
        with open_text(path) as handle:
            lines = (line for line in handle if line.strip())
            first = next(lines, None)
            if first is None:
                raise NoDataError(f"--file {path} holds no instants")
            delimiter = next((d for d in DELIMITERS if d in first), ",")
            rows: Iterator[list[str]] = (
                r for r in csv.reader(chain([first], lines), delimiter=delimiter) if any(c.strip() for c in r)
            )
            head = next(rows, [])
            names = [cell.strip().lower() for cell in head]
            time_at, symbol_at = 0, 1
            if "time" in names:
                time_at = names.index("time")
                symbol_at = names.index("symbol") if "symbol" in names else len(names)
            else:
                rows = chain([head], rows)
            for row in rows:
                cells = [cell.strip() for cell in row] + [""] * (max(time_at, symbol_at) + 1 - len(row))
                yield cells[symbol_at] or symbol or "", cells[time_at]
    except (UnicodeDecodeError, csv.Error):
        raise BadInputError(f"--file {path} is not a text CSV file") from None


@click.command("price-at", cls=TimeArguments, epilog=TIMES_HELP)
@click.argument("symbol", required=False)
@click.argument("instants", nargs=-1, metavar="[TIME]...")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="CSV",
    help="Instants from a CSV or TSV file (- for stdin): time and symbol columns, or TIME[,SYMBOL] rows.",
)
@click.option("--lookback", default=DEFAULT_LOOKBACK, show_default=True, help="How far back (and ahead) to look.")
@click.option("--nearest", is_flag=True, help="Answer with the nearest trade either side, not the last one before.")
@exchange_option
@format_options
@influx_options
def price_at(
    settings: InfluxSettings,
    symbol: str | None,
    instants: tuple[str, ...],
    file_: str | None,
    lookback: str,
    nearest: bool,
    exchange: str,
    output: Format,
) -> None:
    """The price of SYMBOL in force at each TIME (default: now): the last trade at or before it.

    A trade at exactly TIME counts. Many instants (arguments or --file) are answered together; a file is read,
    answered and printed 10,000 rows at a time. Exits 8 when some instant has no trade within the look-back,
    after printing every row.
    """
    if symbol is None and not file_:
        raise click.UsageError(NO_SYMBOL)
    pairs = chain(
        ((symbol or "", t) for t in instants or ([] if file_ else ["now"])),
        read_instants(file_, symbol) if file_ else (),
    )
    with Prices(settings, exchange) as prices:
        if not file_ and len(instants) <= 1:
            answer = prices.price_at(*next(pairs), lookback=lookback, nearest=nearest)
            click.echo(render([trade_row(answer)], output))
            return
        missing: list[str] = []
        for text in render_stream(answer_rows(prices, pairs, lookback, nearest, missing), output, BLOCK):
            click.echo(text)
    if missing:
        raise NoDataError(f"{len(missing)} instant(s) without a trade within {lookback}")


def answer_rows(
    prices: Prices, pairs: Iterator[tuple[str, str]], lookback: str, nearest: bool, missing: list[str]
) -> Iterator[Row]:
    """The output row of each pair, as :meth:`Prices.iter_prices_at` answers them (one block of pairs held at a
    time); the times without an answer are appended to ``missing``."""
    asked: deque[tuple[str, str]] = deque()

    def checked() -> Iterator[tuple[str, str]]:
        for symbol, at in pairs:
            if not symbol:
                raise click.UsageError(NO_SYMBOL)
            asked.append((symbol, at))
            yield symbol, at

    answered = 0
    for answer in prices.iter_prices_at(checked(), lookback=lookback, nearest=nearest):
        answered += 1
        symbol, at = asked.popleft()
        if answer is None:
            missing.append(at)
        yield trade_row(answer) if answer else missing_row(symbol.upper(), times.parse_instant(at))
    if not answered:
        raise NoDataError("the --file holds no instants, only a header")


def summary_row(summary: Summary) -> Row:
    """A range summary as an output row."""
    return {
        "symbol": summary.symbol,
        "start": iso(summary.start_ns),
        "stop": iso(summary.stop_ns),
        "open": summary.open,
        "high": summary.high.price,
        "high_time": iso(model.time_ms_of(summary.high.time_ns) * model.NS_PER_MS),
        "low": summary.low.price,
        "low_time": iso(model.time_ms_of(summary.low.time_ns) * model.NS_PER_MS),
        "close": summary.close,
        "volume": volume(summary.volume),
        "trades": summary.trades,
    }


@click.command("high-low", epilog=TIMES_HELP)
@click.argument("symbol")
@start_option
@stop_option
@exchange_option
@format_options
@influx_options
def high_low(settings: InfluxSettings, symbol: str, start: str, stop: str, exchange: str, output: Format) -> None:
    """High and low of SYMBOL over [--start, --stop), with when they traded; also open, close, volume, trades."""
    with Prices(settings, exchange) as prices:
        summary = prices.high_low(symbol, start, stop)
    click.echo(render([summary_row(summary)], output))


def candle_row(candle: Candle, zone: str) -> Row:
    """One window as an output row, its start shown in the time zone of the windows."""
    return {
        "start": iso(candle.start_ns, zone),
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": volume(candle.volume),
        "trades": candle.trades,
    }


@click.command("candles", epilog=TIMES_HELP)
@click.argument("symbol")
@start_option
@stop_option
@click.option("--every", default="1m", show_default=True, help="Window: 1m, 15m, 1h, 1d, 1w, 1mo, 1y ...")
@click.option("--tz", default="UTC", show_default=True, help="Time zone the windows align to (1d = local midnight).")
@click.option(
    "--fill",
    type=click.Choice(FILLS),
    default="previous",
    show_default=True,
    help="Empty windows: previous = flat at the last close, null = no prices, none = left out.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also draw the candles into this PNG file (needs matplotlib: pip install 'pricecap[plot]').",
)
@exchange_option
@format_options
@influx_options
def candles(
    settings: InfluxSettings,
    symbol: str,
    start: str,
    stop: str,
    every: str,
    tz: str,
    fill: Fill,
    plot: Path | None,
    exchange: str,
    output: Format,
) -> None:
    """Open/high/low/close/volume/trades of SYMBOL per calendar-aligned window over [--start, --stop)."""
    checked_zone(tz)
    with Prices(settings, exchange) as prices:
        result = prices.candles(symbol, start, stop, every=every, tz=tz, fill=fill)
    click.echo(render([candle_row(c, tz) for c in result], output))
    if plot is not None:
        plot_candles(result, f"{symbol.upper()}, {every} candles ({tz})", plot, tz)


@click.command("last")
@click.argument("symbols", nargs=-1, metavar="[SYMBOL]...")
@exchange_option
@format_options
@influx_options
def last(settings: InfluxSettings, symbols: tuple[str, ...], exchange: str, output: Format) -> None:
    """The last stored trade of each SYMBOL (default: every symbol in the bucket) and how old it is."""
    with Prices(settings, exchange) as prices:
        answers = prices.last(symbols)
    if not answers:
        raise NoDataError(f"the bucket {settings.bucket!r} holds no trades of exchange {exchange!r}")
    click.echo(render([last_row(a) for a in answers], output))


def last_row(answer: PriceAt) -> Row:
    """A symbol's last trade as an output row, with its age (``3h12m5s``) instead of an instant and stale_ms."""
    row = trade_row(answer)
    del row["at"], row["stale_ms"]
    return row | {"age": times.format_duration(answer.stale_ns - answer.stale_ns % model.NS_PER_MS)}


def symbol_row(info: SymbolInfo) -> Row:
    """One stored market as an output row."""
    first, last = (model.time_ms_of(ns) * model.NS_PER_MS for ns in (info.first_ns, info.last_ns))
    return {"symbol": info.symbol, "trades": info.trades, "first": iso(first), "last": iso(last)}


@click.command("symbols")
@exchange_option
@format_options
@influx_options
def symbols(settings: InfluxSettings, exchange: str, output: Format) -> None:
    """The symbols stored in the bucket, with their trade counts and first and last trade times."""
    with Prices(settings, exchange) as prices:
        infos = prices.symbols()
    if not infos:
        raise NoDataError(f"the bucket {settings.bucket!r} holds no trades of exchange {exchange!r}")
    click.echo(render([symbol_row(i) for i in infos], output))


@click.command("setup")
@click.option(
    "--retention",
    help="How long raw trades are kept, e.g. 90d (0: forever) [default: as the bucket has it; a new one forever]."
    " Candles are always kept.",
)
@click.option("--no-rebuild", is_flag=True, help="Do not compute candles for the trades already stored.")
@influx_options
def setup(settings: InfluxSettings, retention: str | None, no_rebuild: bool) -> None:
    """Create (or update) the buckets and the tasks that roll trades up into 1-minute and 1-hour candles.

    Running it again updates in place, never duplicates; each line says what was done, with the retention
    InfluxDB reports afterwards. The candles bucket is <bucket>_candles; the first run also computes candles
    for every trade already stored (--no-rebuild skips that).
    """
    keep = None if retention is None else 0 if retention.strip() == "0" else retention_seconds(retention)
    for line in rollup.setup(settings, keep):
        click.echo(line)
    if not no_rebuild:
        with Prices(settings) as prices:
            stored = prices.symbols()
        if stored:
            first, last = min(i.first_ns for i in stored), max(i.last_ns for i in stored)
            rollup.rebuild(settings, first, last + 1)
            click.echo(f"candles computed for the trades stored from {iso(first)} to {iso(last)}")


def retention_seconds(text: str) -> int:
    """A bucket retention in whole seconds; InfluxDB keeps data at least an hour."""
    ns = times.parse_duration(text)
    if ns < 3600 * times.NS_PER_S or ns % times.NS_PER_S:
        raise times.BadTimeError(f"bad retention {text!r}: use whole seconds, at least 1h (or 0: forever)")
    return ns // times.NS_PER_S


COMMANDS: list[click.Command] = [price_at, high_low, candles, last, symbols, setup]
