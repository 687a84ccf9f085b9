"""``pricecap status`` and ``pricecap down``: what the local stack runs and holds, and stopping it."""

from __future__ import annotations

import time

import click
import urllib3
from influxdb_client.rest import ApiException

from pricecap.errors import PricecapError, StackError
from pricecap.influx import describe
from pricecap.influxd import healthy, ui_line
from pricecap.options import SECONDS, given_config_path, influx_options, reports_errors
from pricecap.settings import InfluxSettings
from queries.api import Prices, trade_counts
from queries.audit import last_audited_hour
from queries.cli import iso
from stack.local import ManagedServer, StackPaths, clear_stale, read_json, running, terminate
from stack.options import data_dir_option


@click.command("status")
@data_dir_option
@influx_options
def status(settings: InfluxSettings, paths: StackPaths) -> None:
    """Show what the local stack runs, where its data lives, and the trades stored per symbol."""
    state = running(paths)
    managed = read_json(paths.managed, ManagedServer)
    if state is None:
        click.echo("stack: not running")
    else:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started))
        source = "simulated" if state.simulate else "Binance"
        where = " on the built-in fake exchange" if state.simulate else ""
        exchange = f"{where} at {state.exchange}" if state.exchange else where
        click.echo(
            f"stack: running, pid {state.pid}, since {started}; {source} trades of {' '.join(state.symbols)}{exchange}"
        )
        if state.log:
            click.echo(f"log: {state.log}")
    url = state.url if state is not None else settings.url
    influxd = f", pid {state.influxd_pid}" if state is not None and state.influxd_pid is not None else ""
    kind = "managed" if managed is not None and managed.url == url else "not managed"
    answering = healthy(url)
    click.echo(f"InfluxDB: {url} ({kind}{influxd}), {'healthy' if answering else 'not answering'}")
    if answering:
        click.echo(ui_line(url))
    click.echo(f"data: {paths.root}" + ("" if managed is not None else " (no managed InfluxDB set up yet)"))
    click.echo(f"config: {given_config_path()}")
    click.echo(f"trades stored in bucket {settings.bucket!r}: {stored_summary(settings)}")
    click.echo(f"last audited hour: {audit_summary(settings)}")


def audit_summary(settings: InfluxSettings) -> str:
    """What the collectors' hourly audit found in the newest hour it checked, or why that cannot be read."""
    try:
        with Prices(settings) as prices:
            found = last_audited_hour(prices.runner)
    except PricecapError as e:
        return f"unknown ({e})"
    if found is None:
        return "none in the last 7 days (pricecap collect audits each closed hour)"
    hour_ns, markets, missing, gaps = found
    return f"{iso(hour_ns)}, {markets} symbols: {missing:,} trade ids missing, {gaps:,} exchange gap ids"


def stored_summary(settings: InfluxSettings) -> str:
    """``BTCUSDT 1,234, ETHUSDT 1,230``, or why the counts cannot be read."""
    try:
        counts = trade_counts(settings)
    except PricecapError as e:
        return f"unknown ({e})"
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
        return f"unknown ({describe(e, settings)})"
    return ", ".join(f"{symbol} {count:,}" for symbol, count in sorted(counts.items())) or "none"


@click.command("down")
@click.option(
    "--timeout", default=330.0, show_default=True, type=SECONDS, help="Seconds to wait for the stack to stop."
)
@data_dir_option
@reports_errors
def down(paths: StackPaths, timeout: float) -> None:
    """Stop the running stack (pricecap up, usually --detach): the collector flushes, then influxd stops."""
    state = running(paths)
    if state is None:
        clear_stale(paths)
        click.echo("pricecap down: no stack is running")
        return
    click.echo(f"pricecap down: stopping pid {state.pid} (the collector writes what it holds first)")
    if not terminate(state.pid, timeout):
        raise StackError(f"the stack (pid {state.pid}) still runs after {timeout:.0f} s; see {state.log}")
    clear_stale(paths)
    click.echo("pricecap down: stopped")


COMMANDS: list[click.Command] = [status, down]
