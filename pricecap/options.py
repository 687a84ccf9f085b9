"""Options and error handling shared by every ``pricecap`` command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pricecap.errors import PricecapError
from pricecap.settings import config_path, load_settings
from pricecap.stack import StackPaths, default_data_dir

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: PricecapError) -> None:
    """Print one readable line on stderr and exit with the error's code."""
    click.echo(f"pricecap: error: {error}", err=True)
    sys.exit(int(error.exit_code))


def reports_errors(command: F) -> F:
    """Turn a PricecapError that ``command`` raises into one line on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PricecapError as e:
            fail(e)

    return wrapper  # type: ignore[return-value]


def data_dir_option(command: F) -> F:
    """Add ``--data-dir``, the folder of the local stack; the command receives ``paths: StackPaths``."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder of the local stack's data and state [default: pricecap in the user data folder].",
    )
    @functools.wraps(command)
    def wrapper(data_dir: Path | None, **kwargs: Any) -> Any:
        return command(paths=StackPaths(data_dir or default_data_dir()), **kwargs)

    return wrapper  # type: ignore[return-value]


def given_config_path() -> Path:
    """The config file of the running command: ``--config``, else ``$PRICECAP_CONFIG``, else the default."""
    return config_path(click.get_current_context().params.get("config_path"))


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
    @reports_errors
    def wrapper(
        config_path: Path | None,
        url: str | None,
        token: str | None,
        org: str | None,
        bucket: str | None,
        **kwargs: Any,
    ) -> Any:
        settings = load_settings(config_path, {"url": url, "token": token, "org": org, "bucket": bucket})
        return command(settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]  # fmt: skip
