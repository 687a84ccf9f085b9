"""The ``pricecap`` command: one click group that composes the collector and the queries."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pricecap import __version__
from pricecap.errors import PricecapError
from pricecap.influx import check
from pricecap.settings import InfluxSettings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: PricecapError) -> None:
    """Print one readable line on stderr and exit with the error's code."""
    click.echo(f"pricecap: error: {error}", err=True)
    sys.exit(int(error.exit_code))


def influx_options(command: F) -> F:
    """Add the InfluxDB connection options to a command; it receives ``settings: InfluxSettings``."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (TOML, [influxdb] table). Default: $PRICECAP_CONFIG or the user config folder.",
    )
    @click.option("--url", help="InfluxDB URL [env INFLUXDB_V2_URL; default http://localhost:8086].")
    @click.option("--token", help="InfluxDB API token [env INFLUXDB_V2_TOKEN]. Prefer the environment.")
    @click.option("--org", help="InfluxDB organization [env INFLUXDB_V2_ORG].")
    @click.option("--bucket", help="Bucket of the trades [env INFLUXDB_V2_BUCKET; default trades].")
    @functools.wraps(command)
    def wrapper(
        config_path: Path | None,
        url: str | None,
        token: str | None,
        org: str | None,
        bucket: str | None,
        **kwargs: Any,
    ) -> Any:
        try:
            settings = load_settings(config_path, {"url": url, "token": token, "org": org, "bucket": bucket})
            return command(settings=settings, **kwargs)
        except PricecapError as e:
            fail(e)

    return wrapper  # type: ignore[return-value]  # fmt: skip


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
