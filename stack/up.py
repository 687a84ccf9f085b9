"""``pricecap up``: the whole stack in one command, InfluxDB and the collector, in the foreground or detached.

With no InfluxDB configured it runs the managed influxd (:mod:`stack.local`), storing its settings in the
config file the first time, so every other command reaches it at once; with one configured it uses that
one and starts nothing. Ctrl-C or SIGTERM stops the collector first (every trade flushed), then influxd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click
from click.core import ParameterSource

from collector import binance
from collector.cli import is_loopback, signal_event, source_option
from collector.service import Collector, CollectorConfig
from collector.status_line import show_status
from collector.writer import WriterOptions
from fake_binance.simulation import DEFAULT_SYMBOLS, Simulation
from pricecap.errors import ConfigError, PricecapError, StackError
from pricecap.influx import InfluxDownError, check
from pricecap.influxd import ensure_binary, ui_line
from pricecap.logs import setup_logging
from pricecap.options import (
    PORT,
    PORT_OR_OFF,
    SECONDS,
    FiniteRange,
    given_config_path,
    influx_options_creating_config,
    log_level_option,
    symbols_option,
)
from pricecap.settings import InfluxSettings
from stack.local import (
    ManagedServer,
    StackPaths,
    StackState,
    clear_stale,
    default_data_dir,
    managed_influxd,
    port_free,
    read_json,
    running,
    uses_managed,
    write_json,
)
from stack.options import data_dir_option

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 30.0


@click.command("up")
@click.option("--simulate", is_flag=True, help="Trade on a built-in fake exchange instead of Binance (offline).")
@symbols_option(f"A spot symbol (repeatable) [default: {' '.join(DEFAULT_SYMBOLS)}].")
@click.option(
    "--rate",
    default=50.0,
    show_default=True,
    type=FiniteRange(min=0, max=100_000, min_open=True),
    help="Simulated trades per second per symbol.",
)
@click.option(
    "--simulate-ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    help="At a clean stop, write the simulated trade ids per symbol here (JSON).",
)
@source_option
@click.option(
    "--influxd-port",
    default=8086,
    show_default=True,
    type=PORT,
    help="Port of the managed influxd, when it is first set up.",
)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; stop it with pricecap down.")
@click.option(
    "--metrics-port", default=9108, show_default=True, type=PORT_OR_OFF, help="Port of /metrics and /healthz (0: off)."
)
@click.option(
    "--status-interval",
    type=SECONDS,
    help="Seconds between status lines [default: 1 on a terminal, else 10].",
)
@log_level_option("WARNING")
@data_dir_option
@influx_options_creating_config
def up(
    settings: InfluxSettings,
    paths: StackPaths,
    simulate: bool,
    symbols: tuple[str, ...],
    rate: float,
    simulate_ledger: Path | None,
    source: str,
    influxd_port: int,
    detach: bool,
    metrics_port: int,
    status_interval: float | None,
    log_level: str,
) -> None:
    """Run InfluxDB and the collector until Ctrl-C or SIGTERM (or in the background with --detach).

    Without a configured InfluxDB, starts the managed influxd with its data in the data folder and stores
    its URL, org and token in the config file; later runs reuse both.
    """
    if (state := running(paths)) is not None:
        raise StackError(f"a stack runs already from {paths.root} (pid {state.pid}); stop it with pricecap down")
    clear_stale(paths)
    managed = uses_managed(settings, paths)
    refuse_conflicts(settings, paths, managed, metrics_port)
    first_start = managed and read_json(paths.managed, ManagedServer) is None
    if managed:
        ensure_binary()  # a first build takes minutes: before detaching, so that its progress shows
    else:
        check_users_influxdb(settings)
    if detach and not in_background(paths):
        return
    signal.signal(signal.SIGTERM, _interrupt)  # until the event loop handles it: stop influxd on the way out
    setup_logging(log_level)
    wanted = sorted({s.upper() for s in symbols} or DEFAULT_SYMBOLS)
    simulation = Simulation(wanted, rate) if simulate else None
    with contextlib.ExitStack() as cleanup:
        influxd_pid = None
        if managed:
            server, settings = cleanup.enter_context(
                managed_influxd(settings, paths, influxd_port, given_config_path(), say)
            )
            influxd_pid = server.pid
            if first_start:
                click.echo(
                    f"pricecap up: the managed InfluxDB's URL, org and token stored in {given_config_path()}", err=True
                )
            check(settings)
        _, org = settings.require_credentials()
        state = StackState(
            pid=os.getpid(),
            influxd_pid=influxd_pid,
            url=settings.url,
            org=org,
            bucket=settings.bucket,
            symbols=wanted,
            simulate=simulate,
            log=str(paths.log) if detach else None,
            started=time.time(),
        )
        cleanup.callback(paths.state.unlink, missing_ok=True)
        click.echo(
            f"pricecap up: InfluxDB {settings.url} ({'managed, data in ' + str(paths.root) if managed else 'yours'}),"
            f" {'simulated' if simulate else source} trades of {' '.join(wanted)}; Ctrl-C stops",
            err=True,
        )
        click.echo(ui_line(settings.url), err=True)
        config = CollectorConfig(  # serve() points it at the simulation, once that listens
            symbols=tuple(wanted),
            ws_url=binance.WS_BASE_URLS[source],
            rest_url=binance.REST_BASE_URLS[source],
            metrics_port=metrics_port or None,
            spool_dir=paths.root / "spool",
            repair_window_s=0 if simulate else CollectorConfig().repair_window_s,  # a new simulation each run
            writer=WriterOptions(gzip=not is_loopback(settings.url)),
        )
        interval = status_interval or (1.0 if sys.stdout.isatty() else 10.0)
        collector = asyncio.run(serve(config, settings, simulation, state, paths, interval))
        if simulation is not None and simulate_ledger is not None:
            simulation.dump_ledger(simulate_ledger)
        spooled = f", {collector.stats.spooled:,} spooled" if collector.stats.spooled else ""
        click.echo(f"pricecap up: stopped; {collector.stats.written_total():,} trades written{spooled}", err=True)


def say(message: str) -> None:
    """One line of ``pricecap up`` on stderr."""
    click.echo(f"pricecap up: {message}", err=True)


def refuse_conflicts(settings: InfluxSettings, paths: StackPaths, managed: bool, metrics_port: int) -> None:
    """Refuse a start that would not do what was asked: an ``--influxd-port`` that would be ignored, a second
    stack writing into the bucket of one that runs from the default data folder, a taken metrics port."""
    port_given = click.get_current_context().get_parameter_source("influxd_port") != ParameterSource.DEFAULT
    if port_given and not managed:
        raise ConfigError(
            f"--influxd-port is the port of a managed InfluxDB, but {given_config_path()} points at {settings.url},"
            f" which {paths.root} does not manage; for a second stack give it its own --config file too"
        )
    default = StackPaths(default_data_dir())
    other = running(default) if default.root != paths.root else None
    if other is not None and (other.url, other.bucket) == (settings.url, settings.bucket):
        raise StackError(
            f"the stack of {default.root} (pid {other.pid}) writes to bucket {other.bucket!r} at {other.url} already;"
            " a second stack needs its own --config (and so its own InfluxDB) or another --bucket"
        )
    if metrics_port and not port_free(metrics_port):
        raise StackError(f"port {metrics_port} of /metrics is in use by another program; choose another --metrics-port")


def check_users_influxdb(settings: InfluxSettings) -> None:
    """Check the user's InfluxDB; one that does not answer yet is not fatal (the collector spools until it
    does), a refused token or an unknown bucket is."""
    try:
        check(settings)
    except InfluxDownError as e:
        click.echo(f"pricecap: warning: {e}; collecting into the spool until it answers", err=True)


async def serve(
    config: CollectorConfig,
    settings: InfluxSettings,
    simulation: Simulation | None,
    state: StackState,
    paths: StackPaths,
    status_interval: float,
) -> Collector:
    """Collect (from the simulation, if any) until signalled; then stop trading, let every trade sent
    arrive, and let the collector flush. Returns the collector, whose stats say what it did."""
    signalled = signal_event()
    stop_collector = asyncio.Event()
    if simulation is not None:
        await simulation.fake.start()
        config = config.model_copy(update={"ws_url": simulation.fake.ws_url, "rest_url": simulation.fake.rest_url})
    state = state.model_copy(update={"exchange": config.ws_url})
    collector = Collector(config, settings)
    collecting = asyncio.create_task(collector.run(stop_collector))
    write_json(paths.state, state)
    status = asyncio.create_task(show_status(collector.stats, sys.stdout, status_interval))
    try:
        if simulation is not None:
            try:
                await simulation.run(signalled)
            except TimeoutError as e:
                raise PricecapError(f"the collector did not connect to the simulated exchange: {e}") from None
            await drained(collector, simulation)
        else:
            await signalled.wait()
        stop_collector.set()
        await collecting
    finally:
        status.cancel()
        if simulation is not None:
            await simulation.fake.stop()
    return collector


async def drained(collector: Collector, simulation: Simulation) -> None:
    """Wait until the collector has received every trade the simulation sent."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while {s: state.last_id for s, state in collector.pipeline.states.items()} != simulation.last_ids():
        if time.monotonic() > deadline:
            log.warning("not every simulated trade arrived", extra={"waited_s": DRAIN_TIMEOUT_S})
            return
        await asyncio.sleep(0.05)


def in_background(paths: StackPaths) -> bool:
    """Fork a detached copy of this process: True in the copy, which goes on to run the stack with its output
    in ``stack.log``. The caller waits until the copy runs, prints where, and gets False."""
    paths.root.mkdir(parents=True, exist_ok=True)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        output = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        return True
    while (state := read_json(paths.state, StackState)) is None or state.pid != pid:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            code = os.waitstatus_to_exitcode(status)
            raise StackError(f"the stack stopped while starting (exit {code}); see {paths.log}")
        time.sleep(0.1)
    click.echo(f"pricecap up: running in the background, pid {pid}; InfluxDB {state.url}; log {paths.log}")
    click.echo(ui_line(state.url))
    click.echo("pricecap status shows it, pricecap down stops it")
    return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


COMMANDS: list[click.Command] = [up]
