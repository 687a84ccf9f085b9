"""Options and error handling shared by every ``pricecap`` command."""

from __future__ import annotations

import functools
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pricecap import model
from pricecap.errors import PricecapError
from pricecap.settings import config_path, load_settings, valid_host, valid_url
from pricecap.shards import Shard, ShardSyntaxError

F = TypeVar("F", bound=Callable[..., Any])
POSITIVE = click.IntRange(min=1, max=2**53)
"""A count: at least one, and one that fits (a huge number is refused, not an overflow later)."""
PORT = click.IntRange(1, 65_535)
PORT_OR_OFF = click.IntRange(0, 65_535)


class FiniteRange(click.FloatRange):
    """click's FloatRange without ``nan``, which its bounds let through."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


SECONDS = FiniteRange(min=0, max=86_400 * 365, min_open=True)
"""A positive time in seconds, at most a year."""


class ShardType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on; 8.1 is allowed
    """``K/N``: one of N shards of the symbols (:class:`pricecap.shards.Shard`)."""

    name = "K/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ShardSyntaxError as e:
            self.fail(str(e), param, ctx)


SHARD = ShardType()
MAX_INSTANCE_CHARS = 128


def fail(error: PricecapError) -> None:
    """Print one readable line on stderr and exit with the error's code."""
    click.echo(f"pricecap: error: {error}", err=True)
    sys.exit(int(error.exit_code))


def debugging() -> bool:
    """True when ``pricecap --debug`` asked for the traceback of a failure."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


def reports_errors(command: F) -> F:
    """Turn any failure of ``command`` into one line on stderr and an exit code: a PricecapError's own code,
    1 for anything else. No traceback, unless ``--debug`` asks for one (printed above the line)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise  # click's own, printed by the group as one line
        except BrokenPipeError:
            raise  # the reader went away (pricecap symbols | head): the group ends quietly
        except PricecapError as e:
            if debugging():
                traceback.print_exc()
            fail(e)
        except Exception as e:  # a traceback is never the answer to a user
            if debugging():
                traceback.print_exc()
            fail(unexpected(e))

    return wrapper  # type: ignore[return-value]


def unexpected(error: BaseException) -> PricecapError:
    """A failure no check foresaw, as a one-line error that says how to see more."""
    text = " ".join(str(error).split()) or "no message"
    return PricecapError(f"unexpected {type(error).__name__}: {text} (pricecap --debug ... shows the traceback)")


def log_level_option(default: str, help_text: str | None = None) -> Callable[[F], F]:
    """``--log-level``: the level of the logs on stderr (:func:`pricecap.logs.setup_logging`)."""
    return click.option(
        "--log-level",
        default=default,
        show_default=True,
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
        help=help_text,
    )


def checked_symbols(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback: the symbol(s) given, checked and upper-cased before anything runs (exit 7 if not one)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(model.checked_symbol(v) for v in value)
    return model.checked_symbol(value)


def symbols_option(help_text: str) -> Callable[[F], F]:
    """A repeatable ``--symbol`` option whose values the command receives checked, as ``symbols``."""
    return click.option(
        "--symbol", "symbols", multiple=True, metavar="SYMBOL", callback=checked_symbols, help=help_text
    )


def checked_host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Option callback: a host name or IP address to listen on."""
    if not valid_host(value):
        raise click.BadParameter(f"{value!r} is not a host name or IP address")
    return value


def checked_instance(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Option callback: a collector's name in its health points (a tag value: printable, one line)."""
    if not value or not value.isprintable() or len(value) > MAX_INSTANCE_CHARS or value != value.strip():
        raise click.BadParameter(
            f"{value!r} is not a name: printable, no edge spaces, 1 to {MAX_INSTANCE_CHARS} characters"
        )
    return value


def url_checker(*schemes: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """An option callback that accepts a URL with one of ``schemes`` and a host (None: not given)."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        if not valid_url(value, schemes):
            raise click.BadParameter(f"{value!r} is not a {' or '.join(s + '://' for s in schemes)} URL with a host")
        return value

    return check


def given_config_path() -> Path:
    """The config file of the running command: ``--config``, else ``$PRICECAP_CONFIG``, else the default."""
    return config_path(click.get_current_context().params.get("config_path"))


def influx_options(command: F, config_may_be_missing: bool = False) -> F:
    """Add the InfluxDB connection options to a command; it receives ``settings: InfluxSettings``.

    A config file named by ``--config`` or ``$PRICECAP_CONFIG`` must exist, unless ``config_may_be_missing``
    (``pricecap up`` writes it). InfluxDB's failures become one-line errors (:func:`pricecap.influx.influx_error`).
    """

    @click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
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
        overrides = {"url": url, "token": token, "org": org, "bucket": bucket}
        settings = load_settings(config_path, overrides, config_may_be_missing=config_may_be_missing)
        try:
            return command(settings=settings, **kwargs)
        except Exception as e:
            if "influxdb_client" not in sys.modules:
                raise
            from pricecap.influx import influx_error  # not before: influxdb_client loads only when a command runs

            translated = influx_error(e, settings)
            if translated is None:
                raise
            raise translated from e

    return wrapper  # type: ignore[return-value]  # fmt: skip


def influx_options_creating_config(command: F) -> F:
    """:func:`influx_options` for a command that writes the config file when it does not exist yet."""
    return influx_options(command, config_may_be_missing=True)
