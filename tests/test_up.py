"""``pricecap up``, ``status`` and ``down`` as a user runs them: real processes, the managed influxd, signals.

Each test has its own data and config folders (``XDG_DATA_HOME``, ``XDG_CONFIG_HOME``: the hermetic_environment
fixture). ``up --simulate --simulate-ledger FILE`` writes the ids it simulated at a clean stop, and the stored
ids must be exactly those.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from pricecap.errors import ConfigError, ExitCode
from pricecap.influx import connect
from pricecap.influxd import InfluxdServer, ensure_binary, free_port
from pricecap.settings import InfluxSettings, config_path, load_settings, store_settings
from queries import rollup
from queries.api import trade_counts
from stack.local import StackPaths, StackState, alive, default_data_dir, read_json
from tests.helpers import one_line_error, pricecap, stored_ids

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def start_up(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``pricecap up`` as a child process (simulated, no /metrics port, frequent status lines)."""
    exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
    return subprocess.Popen(
        [exe, "up", "--simulate", "--metrics-port", "0", "--status-interval", "0.5", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str] | None, timeout_s: float = 90) -> None:
    """Poll ``condition`` until true; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"pricecap up exited with {process.returncode}: {process.communicate()[1]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def counts_reach(minimum: int, settings: Callable[[], InfluxSettings] = load_settings) -> Callable[[], bool]:
    """True once every simulated symbol has ``minimum`` stored trades (False while the stack starts)."""

    def reached() -> bool:
        try:
            counts = trade_counts(settings())
        except Exception:
            return False
        return all(counts.get(s, 0) >= minimum for s in SYMBOLS)

    return reached


def stop(process: subprocess.Popen[str], signum: int) -> str:
    """Signal ``pricecap up``, wait for a clean exit, return its stdout."""
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def price_at_answers(symbol: str) -> bool:
    """True once ``pricecap price-at SYMBOL`` (as a user runs it, with the config ``up`` wrote) answers."""
    result = pricecap("price-at", symbol, "now", "--json")
    return result.returncode == 0 and orjson.loads(result.stdout)[0]["symbol"] == symbol


def simulated_ids(ledger: Path) -> dict[str, list[int]]:
    """The ids ``--simulate-ledger`` reported, per symbol."""
    sent = orjson.loads(ledger.read_bytes())
    return {s: list(range(v["first_id"], v["last_id"] + 1)) for s, v in sent.items()}


@pytest.mark.integration
def test_up_simulate_stores_exactly_the_simulated_trades_and_restarts_on_the_same_data(tmp_path: Path) -> None:
    port = free_port()
    up = start_up("--influxd-port", str(port), "--simulate-ledger", str(tmp_path / "ledger1.json"))
    paths = StackPaths(default_data_dir())
    wait_for(lambda: price_at_answers("ETHUSDT"), up)
    wait_for(counts_reach(100), up)
    state = read_json(paths.state, StackState)
    assert state is not None and state.pid == up.pid and state.influxd_pid is not None
    status_lines = stop(up, signal.SIGINT)

    assert not alive(up.pid) and not alive(state.influxd_pid)
    assert not paths.state.exists()
    assert "BTCUSDT" in status_lines and "/s" in status_lines
    config = config_path()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = load_settings()
    assert settings.url == f"http://127.0.0.1:{port}"
    token = settings.require_credentials()[0]
    assert token not in status_lines
    first_run = simulated_ids(tmp_path / "ledger1.json")
    assert set(first_run) == set(SYMBOLS)

    # A second start reuses the data and the stored credentials: no new onboarding, the config unchanged.
    config_before = config.read_bytes()
    up = start_up("--simulate-ledger", str(tmp_path / "ledger2.json"))
    wait_for(counts_reach(len(first_run["SOLUSDT"]) + 100), up)
    stop(up, signal.SIGTERM)
    assert config.read_bytes() == config_before
    second_run = simulated_ids(tmp_path / "ledger2.json")

    with InfluxdServer(ensure_binary(), paths.influxd_dir, port):
        for symbol in SYMBOLS:
            assert stored_ids(settings, symbol) == first_run[symbol] + second_run[symbol]
        with connect(settings) as client:
            bucket = client.buckets_api().find_bucket_by_name(settings.bucket)
        assert bucket is not None and rollup.shard_group_of(bucket) == rollup.RAW_SHARD_GROUP_S, "as setup makes it"


@pytest.mark.integration
def test_detached_stack_status_and_down() -> None:
    port = free_port()
    started = pricecap("up", "--simulate", "--detach", "--metrics-port", "0", "--influxd-port", str(port))
    assert started.returncode == 0, started.stderr
    assert "running in the background" in started.stdout
    paths = StackPaths(default_data_dir())
    state = read_json(paths.state, StackState)
    assert state is not None and state.influxd_pid is not None
    wait_for(counts_reach(20), None)

    status = pricecap("status")
    assert status.returncode == 0
    assert f"stack: running, pid {state.pid}" in status.stdout
    assert f"http://127.0.0.1:{port} (managed, pid {state.influxd_pid}), healthy" in status.stdout
    assert f"data: {paths.root}" in status.stdout
    assert "BTCUSDT" in status.stdout.split("trades stored")[1]

    again = pricecap("up", "--simulate", "--metrics-port", "0")
    one_line_error(again, ExitCode.STACK, "a stack runs already")

    down = pricecap("down")
    assert down.returncode == 0, down.stderr
    assert not alive(state.pid) and not alive(state.influxd_pid)
    assert "stack: not running" in pricecap("status").stdout
    assert "no stack is running" in pricecap("down").stdout


@pytest.mark.integration
def test_a_configured_influxdb_is_used_and_nothing_is_started(settings: InfluxSettings, tmp_path: Path) -> None:
    token, org = settings.require_credentials()
    env = {"INFLUXDB_V2_URL": settings.url, "INFLUXDB_V2_TOKEN": token, "INFLUXDB_V2_ORG": org}
    up = start_up("--bucket", settings.bucket, "--simulate-ledger", str(tmp_path / "ledger.json"), env=env)
    wait_for(counts_reach(20, lambda: settings), up)
    stop(up, signal.SIGINT)
    assert not StackPaths(default_data_dir()).influxd_dir.exists()
    assert not config_path().exists()
    for symbol, ids in simulated_ids(tmp_path / "ledger.json").items():
        assert stored_ids(settings, symbol) == ids


@pytest.mark.integration
def test_up_with_the_users_influxdb_down_collects_into_the_spool_until_it_answers(
    own_influxd: tuple[InfluxdServer, InfluxSettings], tmp_path: Path
) -> None:
    server, settings = own_influxd
    server.stop()
    token, org = settings.require_credentials()
    env = {"INFLUXDB_V2_URL": settings.url, "INFLUXDB_V2_TOKEN": token, "INFLUXDB_V2_ORG": org}
    args = ("--bucket", settings.bucket, "--simulate-ledger", str(tmp_path / "ledger.json"))
    up = start_up(*args, env=env)
    time.sleep(8)  # trades are simulated meanwhile; writes to the stopped InfluxDB fail and go to the spool
    assert up.poll() is None, "an InfluxDB that does not answer yet is not fatal"
    server.start()
    wait_for(counts_reach(20, lambda: settings), up)
    stop(up, signal.SIGINT)
    assert not StackPaths(default_data_dir()).influxd_dir.exists(), "the user's InfluxDB is used, none started"
    for symbol, ids in simulated_ids(tmp_path / "ledger.json").items():
        assert stored_ids(settings, symbol) == ids


def test_a_configured_influxdb_that_refuses_the_token_is_one_line_and_starts_nothing(
    settings: InfluxSettings,
) -> None:
    """A refused token is fatal (an InfluxDB that does not answer yet is not: the collector spools)."""
    env = {"INFLUXDB_V2_URL": settings.url, "INFLUXDB_V2_TOKEN": "tok-never-printed", "INFLUXDB_V2_ORG": "o"}
    result = pricecap("up", "--simulate", "--bucket", settings.bucket, env=env)
    one_line_error(result, ExitCode.UNREACHABLE, "refused the token (401 unauthorized)")
    assert "tok-never-printed" not in result.stderr
    assert not default_data_dir().exists()


def test_stored_settings_are_private_and_keep_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[other]\nkey = "kept"\n')
    settings = InfluxSettings(url="http://127.0.0.1:1", token=SecretStr('t"ok'), org="o", bucket="b")
    store_settings(settings, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = tomllib.loads(path.read_text())
    assert document["other"] == {"key": "kept"}
    assert document["influxdb"] == {"url": "http://127.0.0.1:1", "org": "o", "bucket": "b", "token": 't"ok'}
    assert load_settings(path, environ={}) == settings
    with pytest.raises(ConfigError, match="has an \\[influxdb\\] table already"):
        store_settings(settings, path)
