"""The ``pricecap`` command: one click group that composes the collector and the queries."""

from __future__ import annotations

import click

from pricecap import __version__
from pricecap.influx import check
from pricecap.options import influx_options
from pricecap.settings import InfluxSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pricecap")
def main() -> None:
    """Capture every Binance spot trade into InfluxDB 2 and ask it about prices.

    Connection settings come from options, the INFLUXDB_V2_* environment variables or a config file.
    """


@main.command("check")
@influx_options
def check_command(settings: InfluxSettings) -> None:
    """Check the InfluxDB connection: server reachable, token accepted, bucket present."""
    version = check(settings)
    click.echo(f"ok: InfluxDB {version} at {settings.url}, org {settings.org!r}, bucket {settings.bucket!r}")


def _add_commands() -> None:
    from collector.cli import COMMANDS as COLLECTOR_COMMANDS
    from collector.history import COMMANDS as HISTORY_COMMANDS
    from pricecap.status import COMMANDS as STATUS_COMMANDS
    from pricecap.up import up
    from queries.cli import COMMANDS as QUERY_COMMANDS

    for command in (up, *STATUS_COMMANDS, *COLLECTOR_COMMANDS, *HISTORY_COMMANDS, *QUERY_COMMANDS):
        main.add_command(command)


_add_commands()
