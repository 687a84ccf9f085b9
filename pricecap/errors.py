"""Errors a user can cause or fix, each with its own exit code and a one-line message.

The CLI prints ``pricecap: error: <message>`` on stderr and exits with the error's code; no traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``pricecap`` command (2 is click's own for usage errors)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    CONFIG = 3
    UNREACHABLE = 4
    BAD_TIME = 5
    BAD_RANGE = 6
    UNKNOWN_SYMBOL = 7
    NO_DATA = 8
    STACK = 9
    INCOMPLETE = 10
    INTERRUPTED = 130


EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILURE: "other failure (InfluxDB refused a write or a query, an unexpected error)",
    ExitCode.USAGE: "usage error: unknown option, missing argument, a value or an input file that cannot be used",
    ExitCode.CONFIG: (
        "configuration error (no token or org, bad config file, bad URL, unknown bucket,"
        " a server that is not InfluxDB 2)"
    ),
    ExitCode.UNREACHABLE: (
        "InfluxDB (or, for `backfill`, Binance's REST API) unreachable, or InfluxDB refused the token"
        " (`collect`, and `up` with your own InfluxDB, wait for one that does not answer yet)"
    ),
    ExitCode.BAD_TIME: "a time, duration or time zone that cannot be read",
    ExitCode.BAD_RANGE: "an invalid range: stop before start, or more than 100,000 candle windows",
    ExitCode.UNKNOWN_SYMBOL: "unknown symbol: not a symbol, or none of its trades in the bucket",
    ExitCode.NO_DATA: "nothing to answer: an empty range, no trade in it, or none within the look-back",
    ExitCode.STACK: "the local stack cannot do it: it runs already, a port is taken, or it did not stop in time",
    ExitCode.INCOMPLETE: "`pricecap audit`: trade ids missing or stored more than once (exchange gaps do not count)",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C before it finished (128 + SIGINT, as shells report it)",
}
"""What each exit code means: the table of docs/reference/exit-codes.md is this table (a test compares them)."""


class PricecapError(Exception):
    """An error with a message meant for the user and the exit code that goes with it."""

    exit_code: ExitCode = ExitCode.FAILURE


class BadInputError(PricecapError):
    """A value or an input file the command cannot use (the exit code of click's own usage errors)."""

    exit_code = ExitCode.USAGE


class ConfigError(PricecapError):
    """Settings are missing or invalid (no token, bad config file, bad URL)."""

    exit_code = ExitCode.CONFIG


class UnreachableError(PricecapError):
    """InfluxDB (or Binance's REST API) cannot be reached, or InfluxDB refuses the token."""

    exit_code = ExitCode.UNREACHABLE


class BadRangeError(PricecapError):
    """A range that makes no sense: its stop before its start, or more windows than one answer should hold."""

    exit_code = ExitCode.BAD_RANGE


class UnknownSymbolError(PricecapError):
    """A symbol that is not a symbol, or of which the bucket holds no trade at all."""

    exit_code = ExitCode.UNKNOWN_SYMBOL


class NoDataError(PricecapError):
    """The question is fine, but there is nothing to answer with: an empty range, no trade within the look-back."""

    exit_code = ExitCode.NO_DATA


class StackError(PricecapError):
    """The local stack cannot do what was asked: it runs already, its port is taken, it will not stop."""

    exit_code = ExitCode.STACK
