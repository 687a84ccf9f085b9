"""The ``pricecap`` command as a user runs it: a real process, real exit codes, one-line errors."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import urllib.request

import orjson
import pytest

from pricecap import __version__
from pricecap.errors import ExitCode
from pricecap.settings import InfluxSettings
from tests.helpers import environment_of, one_line_error, pricecap


def test_help_lists_the_commands() -> None:
    result = pricecap("--help")
    assert result.returncode == 0
    assert "check" in result.stdout


def test_pricecap_alone_shows_its_help_not_an_error_line() -> None:
    result = pricecap()
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, "Usage: pricecap [OPTIONS] COMMAND [ARGS]...")
    assert "price-at" in result.stderr and "pricecap: error" not in result.stderr


def test_version() -> None:
    result = pricecap("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"pricecap, version {__version__}")


def test_missing_token_is_one_clear_line() -> None:
    result = pricecap("check", "--config", "/dev/null")
    one_line_error(result, ExitCode.CONFIG, "no InfluxDB token: set INFLUXDB_V2_TOKEN")


def test_unreachable_server_is_one_clear_line_without_the_token() -> None:
    env = {"INFLUXDB_V2_TOKEN": "tok-never-printed", "INFLUXDB_V2_ORG": "o"}
    result = pricecap("check", "--config", "/dev/null", "--url", "http://127.0.0.1:9", env=env)
    one_line_error(result, ExitCode.UNREACHABLE, "cannot reach InfluxDB at http://127.0.0.1:9")
    assert "tok-never-printed" not in result.stderr


@pytest.mark.integration
def test_check_against_the_real_server(settings: InfluxSettings) -> None:
    env = environment_of(settings)
    ok = pricecap("check", "--config", "/dev/null", "--bucket", settings.bucket, env=env)
    assert ok.returncode == 0, ok.stderr
    with urllib.request.urlopen(f"{settings.url}/health", timeout=30) as health:  # noqa: S310  the test server
        version = orjson.loads(health.read())["version"]  # what the build says it is (v2.10.1; an old cache: dev)
    assert ok.stdout.startswith(f"ok: InfluxDB {version} at {settings.url}")
    missing = pricecap("check", "--config", "/dev/null", "--bucket", "no-such-bucket", env=env)
    one_line_error(missing, ExitCode.CONFIG, "has no bucket 'no-such-bucket'")
    wrong = pricecap("check", "--config", "/dev/null", env={**env, "INFLUXDB_V2_TOKEN": "wrong"})
    one_line_error(wrong, ExitCode.UNREACHABLE, "refused the token (401 unauthorized)")


@pytest.mark.integration
def test_collect_stays_fatal_on_a_refused_token_or_an_unknown_bucket(settings: InfluxSettings) -> None:
    env = environment_of(settings)
    collect = ("collect", "--config", "/dev/null", "--symbol", "BTCUSDT", "--metrics-port", "0")
    missing = pricecap(*collect, "--bucket", "no-such-bucket", env=env)
    one_line_error(missing, ExitCode.CONFIG, "has no bucket 'no-such-bucket'")
    wrong = pricecap(*collect, env={**env, "INFLUXDB_V2_TOKEN": "wrong"})
    one_line_error(wrong, ExitCode.UNREACHABLE, "refused the token (401 unauthorized)")


def test_lazy_commands_name_every_command_of_their_modules() -> None:
    from pricecap.cli import LAZY_COMMANDS

    for module_name in set(LAZY_COMMANDS.values()):
        module = importlib.import_module(module_name)
        names = {command.name for command in module.COMMANDS}
        assert names == {name for name, where in LAZY_COMMANDS.items() if where == module_name}


def test_collect_loads_only_the_collector() -> None:
    probe = (
        "import sys, click; from pricecap.cli import main; "
        "main.get_command(click.Context(main), 'collect'); "
        "others = ('queries.cli', 'queries.plot', 'collector.history', 'stack.up'); "
        "print(sorted(m for m in others if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_collect_keeps_numpy_out() -> None:
    probe = (
        "import sys; from pricecap.cli import main\n"
        "try: main(['collect', '--config', '/dev/null', '--url', 'http://127.0.0.1:9', '--symbol', 'BTCUSDT',"
        " '--repair-window', 'never'])\n"
        "except SystemExit: pass\n"
        "print(sys.modules['numpy'], 'influxdb_client' in sys.modules)"
    )
    env = {**os.environ, "INFLUXDB_V2_TOKEN": "t", "INFLUXDB_V2_ORG": "o"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "None True", result.stderr


@pytest.mark.integration
def test_a_reader_that_goes_away_ends_the_command_quietly(settings: InfluxSettings) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
    env = {**os.environ, **environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket}
    process = subprocess.Popen(
        [exe, "check", "--config", "/dev/null"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes: like `pricecap check | true`
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == ExitCode.FAILURE
    assert stderr == ""
