"""Every command against bad values for every option and argument, generated from the click commands themselves:
each case must end with the exit code of its kind of value, one ``pricecap: error:`` line and no traceback.

A parameter's kind comes from its click type (numbers, ports, choices, paths) or, for text, from its name in
KIND_OF_NAME; a new text option without a kind fails ``test_every_parameter_has_a_kind`` until it gets one, so
every new option is covered. InfluxDB is configured at an unreachable address: a value that is not checked
before the command goes to the network shows up as exit 4 instead of its kind's code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pricecap.cli import main
from pricecap.errors import ExitCode

TOKEN = "tok-never-printed"
ENV = {
    "INFLUXDB_V2_URL": "http://127.0.0.1:9",
    "INFLUXDB_V2_TOKEN": TOKEN,
    "INFLUXDB_V2_ORG": "o",
    "PRICECAP_CONFIG": "/dev/null",
    "PRICECAP_INFLUXD": "/nonexistent/influxd",  # should a case reach the managed influxd of up, it fails fast
}
BINARY = "@binary"
"""Stands for a file of binary bytes, made in the test's own folder (as are the others starting with @)."""

INJECTIONS = ['x" or true or "', 'x") |> drop(columns: ["_value"]) |> yield(name: "', "x\n|> yield()", "${x}"]
BAD_VALUES: dict[str, tuple[list[str], ExitCode]] = {
    "time": (["yesterday", "2026-13-45", "-15x", "99999999999999999999", *INJECTIONS], ExitCode.BAD_TIME),
    "duration": (["15", "abc", "-1h", "99999999999999d", "1h" + INJECTIONS[1]], ExitCode.BAD_TIME),
    "window": (["1x", "0m", "1.5h", *INJECTIONS], ExitCode.BAD_TIME),
    "zone": (["Mars/Olympus", "../../etc/passwd", *INJECTIONS], ExitCode.BAD_TIME),
    "symbol": (["BTC/USDT", "", "A" * 40, *INJECTIONS], ExitCode.UNKNOWN_SYMBOL),
    "exchange": (["", "Binance!", *INJECTIONS], ExitCode.USAGE),
    "url": (["ftp://x", "localhost:8086", "http://", "http://h:99999", *INJECTIONS], ExitCode.CONFIG),
    "binance_url": (["ftp://x", "localhost", "http://", *INJECTIONS], ExitCode.USAGE),
    "host": (["not a host", "", *INJECTIONS], ExitCode.USAGE),
    "token": (["", "tok en", "tok\nX-Injected: 1"], ExitCode.CONFIG),
    "org": ([""], ExitCode.CONFIG),
    "bucket": (["", '"', "_internal", *INJECTIONS[:3]], ExitCode.CONFIG),  # ${x} is a fine name, sent as a param
    "config": (["@directory", BINARY, "@not_toml", "@influxdb_not_a_table", "@unknown_key"], ExitCode.CONFIG),
    "number": (["abc", "-1", "99999999999999999999", "nan", "1e999"], ExitCode.USAGE),
    "choice": (["bogus", *INJECTIONS], ExitCode.USAGE),
    "input_file": (["@missing", "@directory", BINARY], ExitCode.USAGE),
    "output_file": (["@directory"], ExitCode.USAGE),
    "folder": (["@a_file"], ExitCode.USAGE),
    "shard": (
        ["3/3", "-1/2", "1", "1/", "/2", "a/b", "0/0", "0/99999999999999999999", "\u0661/\u0662", *INJECTIONS],
        ExitCode.USAGE,
    ),
    "instance": (["", " x", "x\ny", "x\ty", "x" * 200], ExitCode.USAGE),
}
KIND_OF_NAME = {
    "start": "time",
    "stop": "time",
    "instants": "time",
    "lookback": "duration",
    "retention": "duration",
    "repair_window": "duration",
    "symbols_refresh": "duration",
    "every": "window",
    "tz": "zone",
    "symbol": "symbol",
    "symbols": "symbol",
    "exchange": "exchange",
    "url": "url",
    "ws_url": "binance_url",
    "rest_url": "binance_url",
    "metrics_host": "host",
    "token": "token",
    "org": "org",
    "bucket": "bucket",
    "config_path": "config",
    "shard": "shard",
    "instance": "instance",
}
BASE_ARGS: dict[str, list[str]] = {
    "price-at": ["BTCUSDT"],
    "high-low": ["BTCUSDT", "--from", "-1h"],
    "candles": ["BTCUSDT", "--from", "-1h"],
    "import": ["@archive"],
    "backfill": ["--symbol", "BTCUSDT", "--from", "-1h"],
    "collect": ["--symbol", "BTCUSDT"],
    "up": ["--simulate", "--metrics-port", "0"],
}
"""The arguments that make each command valid; a case changes one of them or adds one option."""


def kind_of(param: click.Parameter) -> str | None:
    """The kind of values ``param`` takes, from its type or its name; None for flags."""
    if isinstance(param, click.Option) and param.is_flag:
        return None
    kind = param.type
    if isinstance(kind, click.Choice):
        return "choice"
    if isinstance(kind, click.IntRange | click.FloatRange) or kind in (click.INT, click.FLOAT):
        return "number"
    if isinstance(kind, click.Path):
        if param.name == "config_path":
            return "config"
        if not kind.file_okay:
            return "folder"
        return "input_file" if kind.exists else "output_file"
    return KIND_OF_NAME.get(param.name or "")


def commands() -> Iterator[click.Command]:
    context = click.Context(main)
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert command is not None
        yield command


@dataclass(frozen=True)
class Case:
    command: str
    param: str
    kind: str
    value: str
    code: ExitCode

    def args(self, files: dict[str, str]) -> list[str]:
        """The command line: the command's valid arguments with this case's value in its place."""
        command = main.get_command(click.Context(main), self.command)
        assert command is not None
        param = next(p for p in command.params if p.name == self.param)
        value = files.get(self.value, self.value)
        base = [files.get(a, a) for a in BASE_ARGS.get(self.command, [])]
        if isinstance(param, click.Option):
            return [self.command, *base, param.opts[0], value]
        positional = [p.name for p in command.params if isinstance(p, click.Argument)]
        if self.command == "import":
            return [self.command, value]
        if positional.index(self.param) == 0:  # the symbol of price-at, high-low, candles, last
            return [self.command, value, *base[1:]]
        return [self.command, *base, value]


def cases() -> list[Case]:
    found = []
    for command in commands():
        for param in command.params:
            kind = kind_of(param)
            if kind is None or not param.name:
                continue
            values, code = BAD_VALUES[kind]
            for value in values:
                found.append(Case(str(command.name), param.name, kind, value, code))
    return found


CASES = cases()


def test_every_parameter_has_a_kind() -> None:
    untyped = [
        f"{command.name} {param.name}"
        for command in commands()
        for param in command.params
        if kind_of(param) is None and not (isinstance(param, click.Option) and param.is_flag)
    ]
    assert untyped == [], "give these options a kind in KIND_OF_NAME (or a click type)"
    assert len(CASES) > 300


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """The files the @names of the table stand for."""
    made = {
        "@missing": tmp_path / "missing.csv",
        "@directory": tmp_path,
        "@a_file": tmp_path / "a-file",
        "@binary": tmp_path / "binary.zip",
        "@not_toml": tmp_path / "bad.toml",
        "@influxdb_not_a_table": tmp_path / "scalar.toml",
        "@unknown_key": tmp_path / "unknown.toml",
        "@archive": tmp_path / "BTCUSDT-trades-2026-11-01.csv",
    }
    made["@a_file"].write_text("x\n")
    made["@binary"].write_bytes(bytes(range(256)) * 4)
    made["@not_toml"].write_text("[influxdb\nurl = \n")
    made["@influxdb_not_a_table"].write_text("influxdb = 1\n")
    made["@unknown_key"].write_text('[influxdb]\ncolour = "blue"\n')
    made["@archive"].write_text("1,97000,0.1,9700,1764064800000,True,True\n")
    return {name: str(path) for name, path in made.items()}


@pytest.fixture
def clean_modules() -> Iterator[None]:
    """``collect`` blocks numpy in its process (collector.cli.without_numpy); here that process is the tests'."""
    numpy = sys.modules.get("numpy", False)
    yield
    if numpy is False:
        sys.modules.pop("numpy", None)
    else:
        sys.modules["numpy"] = numpy  # type: ignore[assignment]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.command}-{c.param}-{c.value!r}" for c in CASES])
def test_a_bad_value_is_one_line_with_its_exit_code(
    case: Case, files: dict[str, str], monkeypatch: pytest.MonkeyPatch, clean_modules: None
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    args = case.args(files)
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    assert isinstance(result.exception, SystemExit | None), result.exc_info
    stderr = result.stderr
    assert "Traceback" not in stderr and TOKEN not in stderr + result.stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pricecap: error: "), (args, stderr)
    assert result.exit_code == case.code, (args, stderr)
