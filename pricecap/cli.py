"""The ``pricecap`` command: one click group that composes the collector and the queries."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from pricecap import __version__
from pricecap.errors import ExitCode, PricecapError
from pricecap.options import fail, influx_options, unexpected
from pricecap.settings import InfluxSettings

# Each subcommand's name and the module that defines it (in its COMMANDS list). Every command is looked up
# here, none registered on the group itself, so that tools that list a group's commands (the docs' mkdocs-click)
# see them all.
LAZY_COMMANDS = {
    "check": "pricecap.cli",
    "up": "stack.up",
    "status": "stack.status",
    "down": "stack.status",
    "collect": "collector.cli",
    "import": "collector.history",
    "backfill": "collector.history",
    "price-at": "queries.cli",
    "high-low": "queries.cli",
    "candles": "queries.cli",
    "last": "queries.cli",
    "symbols": "queries.cli",
    "setup": "queries.cli",
    "audit": "collector.audit_cli",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that command is looked up (click's LazyGroup).

    ``pricecap collect`` is a long-running process whose peak memory is mostly the modules it imported, so it
    must not load the queries, the plotting or the local stack. ``pricecap --help`` looks every command up to
    show its short help, and so imports them all.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = self.lazy_commands.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        commands: list[click.Command] = importlib.import_module(module_name).COMMANDS
        for command in commands:
            if command.name == cmd_name:
                return command
        raise LookupError(f"{module_name}.COMMANDS has no command {cmd_name!r}")

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Run a command; click's own errors (usage, bad values, Ctrl-C) become one ``pricecap: error:`` line
        with click's exit code (2 for usage), like every other failure."""
        if extra.get("standalone_mode") is False:
            return super().main(args, prog_name, **extra)
        try:
            result = super().main(args, prog_name, **{**extra, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as e:  # a command (or pricecap) alone: its help, as click does
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            context = getattr(e, "ctx", None)
            hint = f" (see {context.command_path} --help)" if isinstance(e, click.UsageError) and context else ""
            click.echo(f"pricecap: error: {' '.join(e.format_message().split())}{hint}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("pricecap: error: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:  # the reader of the output went away: nothing to say, and no one to say it to
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's last flush fails otherwise
            sys.exit(ExitCode.FAILURE)
        except PricecapError as e:  # from an option's check, before the command runs
            fail(e)
        except Exception as e:  # a traceback is never the answer to a user
            if "--debug" in (sys.argv[1:] if args is None else args):
                traceback.print_exc()
            fail(unexpected(e))
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="pricecap")
@click.option("--debug", is_flag=True, help="On a failure, also print the traceback.")
def main(debug: bool) -> None:
    """Capture every Binance spot trade into InfluxDB 2 and ask it about prices.

    Connection settings come from options, the INFLUXDB_V2_* environment variables or a config file.
    """


@click.command("check")
@influx_options
def check_command(settings: InfluxSettings) -> None:
    """Check the InfluxDB connection: server reachable, token accepted, bucket present."""
    # Imported here: influxdb_client must not be loaded before a subcommand runs (see collector.cli.without_numpy).
    from pricecap.influx import check

    version = check(settings)
    click.echo(f"ok: InfluxDB {version} at {settings.url}, org {settings.org!r}, bucket {settings.bucket!r}")


COMMANDS: list[click.Command] = [check_command]
