"""Issue 16, item by item: the CLI as its help and the docs say, every bad input one line, nothing half done
reported as done. Real processes against the real influxd (and, for ``up``, the managed one)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules
from influxdb_client.rest import ApiException
from rich.console import Console
from rich.progress import Progress

from collector.bulk import permanent
from collector.history import progress_columns
from pricecap.errors import EXIT_MEANINGS, ExitCode
from pricecap.influx import connect
from pricecap.influxd import free_port
from pricecap.model import Trade
from pricecap.settings import InfluxSettings, load_settings
from queries import rollup
from stack.local import StackPaths, StackState, default_data_dir, write_json
from tests.helpers import bucket_with, environment_of, one_line_error, pricecap, stored_ids
from tests.test_history import archive
from tests.test_up import SYMBOLS, counts_reach, simulated_ids, start_up, wait_for

EXIT_CODES_PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "exit-codes.md"


def recent_trades() -> list[Trade]:
    """Two BTCUSDT trades: half an hour and five minutes before now (so made when a test needs them)."""
    now_ms = time.time_ns() // 1_000_000
    return [
        Trade("BTCUSDT", 1, "97000.5", "0.1", now_ms - 30 * 60_000, False),
        Trade("BTCUSDT", 2, "97001.5", "0.2", now_ms - 5 * 60_000, True),
    ]


@pytest.fixture
def recent(server_settings: InfluxSettings) -> Iterator[dict[str, str]]:
    """The environment of a bucket with two recent BTCUSDT trades."""
    with bucket_with(server_settings, f"recent-{time.time_ns()}", recent_trades()) as settings:
        yield {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket, "PRICECAP_CONFIG": "/dev/null"}


def test_the_documented_exit_code_table_is_the_code_table() -> None:
    text = EXIT_CODES_PAGE.read_text()
    table = text[text.index("| exit code | meaning |") :].split("\n\n")[0].splitlines()[2:]
    rows = {int(code): meaning for code, meaning in (line.strip("|").split("|") for line in table)}
    assert {ExitCode(code): meaning.strip() for code, meaning in rows.items()} == EXIT_MEANINGS
    assert set(EXIT_MEANINGS) == set(ExitCode)


# 1. Relative times as TIME arguments.
@pytest.mark.integration
@pytest.mark.parametrize(("when", "trade_id"), [("-1m", 2), ("-10m", 1), ("-1h", None), ("-1d1h", None)])
def test_relative_time_arguments_are_times_not_options(recent: dict[str, str], when: str, trade_id: int | None) -> None:
    result = pricecap("price-at", "BTCUSDT", when, "--lookback", "2h", "--json", env=recent)
    if trade_id is None:
        one_line_error(result, ExitCode.NO_DATA, "no trade of BTCUSDT within 2h of ")
    else:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["trade_id"] == trade_id


# 2. up with a config file that does not exist yet; 12. the stop line and the exchange in status.
@pytest.mark.integration
def test_up_writes_a_named_config_that_does_not_exist_yet_and_says_what_it_did(tmp_path: Path) -> None:
    config = tmp_path / "new" / "pricecap.toml"
    ledger = tmp_path / "ledger.json"
    port = free_port()
    env = {"PRICECAP_CONFIG": str(config)}
    up = start_up("--influxd-port", str(port), "--simulate-ledger", str(ledger), env=env)
    try:
        wait_for(lambda: config.exists() and counts_reach(20, lambda: load_settings(config))(), up)
        status = pricecap("status", env=env)
    finally:  # stopped whatever happened, so that no stack outlives the test
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    assert status.returncode == 0, status.stderr
    assert re.search(
        r"simulated trades of BTCUSDT ETHUSDT SOLUSDT on the built-in fake exchange at ws://127\.0\.0\.1:\d+",
        status.stdout,
    )
    assert up.returncode == 0, err
    assert f"pricecap up: the managed InfluxDB's URL, org and token stored in {config}" in err
    sent = simulated_ids(ledger)
    assert set(sent) == set(SYMBOLS)
    assert (
        err.strip().splitlines()[-1]
        == f"pricecap up: stopped; {sum(len(ids) for ids in sent.values()):,} trades written"
    )


# 3, 4. setup: what it reports is what InfluxDB keeps; any retention can be set on an existing bucket.
@contextlib.contextmanager
def scratch_bucket(
    server_settings: InfluxSettings, prefix: str, rules: list[BucketRetentionRules]
) -> Iterator[InfluxSettings]:
    """A new bucket with ``rules``; it, its candles bucket and its tasks go away afterwards."""
    name = f"{prefix}-{time.time_ns()}"
    with connect(server_settings) as client:
        created = client.buckets_api().create_bucket(bucket_name=name, org=server_settings.org, retention_rules=rules)
        settings = server_settings.model_copy(update={"bucket": name})
        try:
            yield settings
        finally:
            for task in client.tasks_api().find_tasks():
                if task.name.endswith(f" of {name}"):
                    client.tasks_api().delete_task(task.id)
            client.buckets_api().delete_bucket(created)
            candles = client.buckets_api().find_bucket_by_name(rollup.candle_bucket(settings))
            if candles is not None:
                client.buckets_api().delete_bucket(candles)


@pytest.fixture
def retained(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """A bucket that keeps 30 days."""
    with scratch_bucket(
        server_settings, "retained", [BucketRetentionRules(type="expire", every_seconds=30 * 86_400)]
    ) as settings:
        yield settings


def retention_now(settings: InfluxSettings) -> tuple[int, int]:
    """(retention, shard-group duration) in seconds as InfluxDB reports them."""
    with connect(settings) as client:
        bucket = client.buckets_api().find_bucket_by_name(settings.bucket)
    assert bucket is not None
    rule = (bucket.retention_rules or [BucketRetentionRules(every_seconds=0)])[0]
    return rule.every_seconds, rule.shard_group_duration_seconds or 0


@pytest.mark.integration
def test_setup_reports_the_retention_influxdb_keeps(retained: InfluxSettings) -> None:
    env = {**environment_of(retained), "INFLUXDB_V2_BUCKET": retained.bucket, "PRICECAP_CONFIG": "/dev/null"}
    plain = pricecap("setup", "--no-rebuild", env=env)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[0] == f"kept bucket {retained.bucket} (retention 30d)"
    assert retention_now(retained)[0] == 30 * 86_400
    for text, seconds, line, shard_group in [
        ("0", 0, "kept forever", 86_400),
        ("2d", 2 * 86_400, "retention 2d", 86_400),
        ("12h", 12 * 3600, "retention 12h", 3600),
        ("1h", 3600, "retention 1h", 3600),
        ("30m", None, None, None),
    ]:
        result = pricecap("setup", "--no-rebuild", "--retention", text, env=env)
        if seconds is None:
            one_line_error(result, ExitCode.BAD_TIME, "at least 1h")
            continue
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"updated bucket {retained.bucket} ({line})"
        assert retention_now(retained) == (seconds, shard_group)


@pytest.mark.integration
def test_setup_puts_a_bucket_kept_forever_into_day_shard_groups(server_settings: InfluxSettings) -> None:
    with scratch_bucket(server_settings, "forever", []) as settings:
        assert retention_now(settings) == (0, 7 * 86_400), "InfluxDB's own default"
        env = {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket, "PRICECAP_CONFIG": "/dev/null"}
        first = pricecap("setup", "--no-rebuild", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[:2] == [
            f"updated bucket {settings.bucket} (kept forever)",
            f"created bucket {rollup.candle_bucket(settings)} (kept forever)",
        ]
        assert retention_now(settings) == (0, 86_400)
        candles = settings.model_copy(update={"bucket": rollup.candle_bucket(settings)})
        assert retention_now(candles) == (0, 7 * 86_400), "a candle per minute: few blocks in a week's shard"
        again = pricecap("setup", "--no-rebuild", env=env)
        assert again.stdout.splitlines()[:2] == [
            f"kept bucket {settings.bucket} (kept forever)",
            f"kept bucket {rollup.candle_bucket(settings)} (kept forever)",
        ]


# 5. Tracebacks that are now one line.
@pytest.mark.integration
def test_damaged_archives_are_one_line(settings: InfluxSettings, tmp_path: Path) -> None:
    env = {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket}
    not_zip = tmp_path / "BTCUSDT-trades-2026-11-01.zip"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    one_line_error(pricecap("import", str(not_zip), "--config", "/dev/null", env=env), ExitCode.USAGE, "not a zip")
    good = archive(tmp_path / "ETHUSDT-trades-2026-11-02.zip", recent_trades() * 200, microseconds=False, header=False)
    good.with_name(good.name + ".CHECKSUM").unlink()
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 40] = bytes(40)
    good.write_bytes(bytes(data))
    one_line_error(pricecap("import", str(good), "--config", "/dev/null", env=env), ExitCode.USAGE, "damaged")


@pytest.mark.integration
def test_setup_against_a_bad_server_is_one_line(settings: InfluxSettings) -> None:
    env = {**environment_of(settings), "PRICECAP_CONFIG": "/dev/null"}
    wrong = pricecap("setup", env={**env, "INFLUXDB_V2_TOKEN": "wrong"})
    one_line_error(wrong, ExitCode.UNREACHABLE, "refused the token")
    down = pricecap("setup", "--url", "http://127.0.0.1:9", env=env)
    one_line_error(down, ExitCode.UNREACHABLE, "cannot reach InfluxDB")
    quote = pricecap("setup", "--bucket", 'a"b', env=env)
    one_line_error(quote, ExitCode.CONFIG, "bad bucket name")


def test_bad_files_and_huge_durations_are_one_line(tmp_path: Path) -> None:
    env = {"INFLUXDB_V2_TOKEN": "t", "INFLUXDB_V2_ORG": "o", "INFLUXDB_V2_URL": "http://127.0.0.1:9"}
    binary = tmp_path / "binary"
    binary.write_bytes(bytes(range(256)))
    cases = [
        (("price-at", "BTCUSDT", "--file", str(tmp_path / "missing.csv")), ExitCode.USAGE, "does not exist"),
        (("price-at", "BTCUSDT", "--file", str(tmp_path)), ExitCode.USAGE, "is a directory"),
        (("price-at", "BTCUSDT", "--file", str(binary)), ExitCode.USAGE, "is not a text CSV file"),
        (("check", "--config", str(binary)), ExitCode.CONFIG, "is not a text (UTF-8 TOML) file"),
        (("price-at", "BTCUSDT", "--lookback", "99999999999d"), ExitCode.BAD_TIME, "at most 106651d"),
        (("setup", "--retention", "99999999999999d"), ExitCode.BAD_TIME, "at most 106651d"),
    ]
    for args, code, text in cases:
        one_line_error(pricecap(*args, env=env), code, text)


# 6. A slow server is named slow, not unreachable.
def test_a_slow_server_is_not_called_unreachable() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {"INFLUXDB_V2_TOKEN": "t", "INFLUXDB_V2_ORG": "o", "INFLUXDB_V2_TIMEOUT": "300"}
        result = pricecap("price-at", "BTCUSDT", "--url", url, "--config", "/dev/null", env=env)
    one_line_error(result, ExitCode.FAILURE, f"InfluxDB at {url} did not answer within 0.3 s: it is up but slow")


# 7, 9. up refuses a taken metrics port and an --influxd-port it would ignore.
@pytest.mark.integration
def test_up_with_the_metrics_port_taken_is_exit_9(settings: InfluxSettings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = pricecap("up", "--simulate", "--metrics-port", str(port), env=environment_of(settings))
    one_line_error(result, ExitCode.STACK, f"port {port} of /metrics is in use")


@pytest.mark.integration
def test_up_with_an_influxd_port_it_would_ignore_is_refused(settings: InfluxSettings, tmp_path: Path) -> None:
    env = environment_of(settings)  # the InfluxDB of another stack, configured
    result = pricecap("up", "--simulate", "--data-dir", str(tmp_path / "other"), "--influxd-port", "18087", env=env)
    one_line_error(result, ExitCode.CONFIG, "--influxd-port is the port of a managed InfluxDB")
    assert not StackPaths(tmp_path / "other").state.exists()


@pytest.mark.integration
def test_a_second_stack_into_the_bucket_of_a_running_one_is_refused(settings: InfluxSettings, tmp_path: Path) -> None:
    first = StackPaths(default_data_dir())  # a stack that runs (this process) and writes to the settings' bucket
    _, org = settings.require_credentials()
    state = StackState(
        pid=os.getpid(), influxd_pid=None, url=settings.url, org=org, bucket=settings.bucket,
        symbols=["BTCUSDT"], simulate=True, log=None, started=time.time(),
    )  # fmt: skip
    write_json(first.state, state)
    env = {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket}
    result = pricecap("up", "--simulate", "--metrics-port", "0", "--data-dir", str(tmp_path / "other"), env=env)
    one_line_error(result, ExitCode.STACK, f"writes to bucket {settings.bucket!r} at {settings.url} already")
    assert stored_ids(settings, "BTCUSDT") == []


# 8. A permanent refusal is not retried, and its message is whole.
def test_only_429_and_5xx_answers_are_retried() -> None:
    def answer(status: int) -> ApiException:
        return ApiException(status=status)

    assert [permanent(answer(s)) for s in (400, 401, 404, 413, 422, 429, 500, 503)] == [
        True, True, True, True, True, False, False, False,
    ]  # fmt: skip
    assert not permanent(OSError("connection reset"))


@pytest.mark.integration
def test_an_import_influxdb_refuses_is_one_whole_line(server_settings: InfluxSettings, tmp_path: Path) -> None:
    with connect(server_settings) as client:
        rules = [BucketRetentionRules(type="expire", every_seconds=3600, shard_group_duration_seconds=3600)]
        bucket = client.buckets_api().create_bucket(
            bucket_name=f"hour-{time.time_ns()}", org=server_settings.org, retention_rules=rules
        )
        try:
            old = [Trade("BTCUSDT", i, "97000", "1", 1_700_000_000_000 + i, False) for i in range(10)]
            path = archive(tmp_path / "BTCUSDT-trades-2023-11-14.zip", old, microseconds=False, header=True)
            env = {**environment_of(server_settings), "INFLUXDB_V2_BUCKET": bucket.name}
            result = pricecap("import", str(path), "--config", "/dev/null", env=env)
        finally:
            client.buckets_api().delete_bucket(bucket)
    one_line_error(result, ExitCode.FAILURE, "write failed: ")
    last = result.stderr.strip()
    assert "answered HTTP 422" in last
    assert "dropped 10 points outside retention policy of duration 1h0m0s" in last
    assert last.endswith("for retention policy: autogen"), last  # whole, not cut mid-word


# 10. A row with a time InfluxDB cannot store is skipped and counted.
@pytest.mark.integration
def test_an_archive_row_with_an_impossible_time_is_skipped(settings: InfluxSettings, tmp_path: Path) -> None:
    rows = [Trade("BTCUSDT", i, "97000", "1", 1_764_064_800_000 + i, False) for i in range(1, 6)]
    path = archive(tmp_path / "BTCUSDT-trades-2025-11-25.zip", rows, microseconds=False, header=False)
    with zipfile.ZipFile(path) as z:
        text = z.read(z.namelist()[0]).decode()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("BTCUSDT-trades-2025-11-25.csv", text + "6,97000,1,97000,99999999999999999999,True,True\n")
    path.with_name(path.name + ".CHECKSUM").unlink()
    env = {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket}
    result = pricecap("import", str(path), "--config", "/dev/null", env=env)
    assert result.returncode == 0, result.stderr
    assert "skipped rows: 1 bad_number, 1 bad_time" in result.stderr
    read_back = "InfluxDB now holds 5 trades of BTCUSDT in [2025-11-25T10:00:00.001Z, 2025-11-25T10:00:00.006Z)"
    assert result.stderr.strip().splitlines()[-1] == read_back
    assert stored_ids(settings, "BTCUSDT") == [1, 2, 3, 4, 5]


# 11. Injection-looking exchanges are refused; an unknown bucket is named, without Flux internals.
@pytest.mark.integration
def test_a_bad_exchange_and_an_unknown_bucket_are_named(recent: dict[str, str]) -> None:
    injected = pricecap("price-at", "BTCUSDT", "--exchange", 'binance" or true or "', env=recent)
    one_line_error(injected, ExitCode.USAGE, "is not an exchange tag")
    missing = pricecap("price-at", "BTCUSDT", "--bucket", "no-such-bucket", env=recent)
    one_line_error(missing, ExitCode.CONFIG, "has no bucket 'no-such-bucket' in org")
    assert "@" not in missing.stderr


# 12. Output a person reads.
@pytest.mark.integration
def test_last_shows_a_readable_age_and_price_at_milliseconds(recent: dict[str, str], tmp_path: Path) -> None:
    last = json.loads(pricecap("last", "--json", env=recent).stdout)
    assert [(r["symbol"], r["trade_id"]) for r in last] == [("BTCUSDT", 2)]
    assert "stale_ms" not in last[0] and "at" not in last[0]
    assert re.fullmatch(r"[5-9]m(\d+s)?(\d+ms)?", last[0]["age"]), last[0]["age"]  # written just now, 5 min old
    now = json.loads(pricecap("price-at", "BTCUSDT", "now", "--json", env=recent).stdout)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now["at"]), now["at"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    one_line_error(pricecap("price-at", "BTCUSDT", "--file", str(empty), env=recent), ExitCode.NO_DATA, "no instants")


@pytest.mark.parametrize("width", [50, 80, 120])
def test_the_import_progress_bar_never_cuts_its_figures(width: int) -> None:
    out = io.StringIO()
    bar = Progress(*progress_columns(), console=Console(file=out, width=width))
    task = bar.add_task("BTCUSDT-trades-2026-11-01.zip", total=100, rows=12_345_678, rate=190_000.0)
    bar.update(task, completed=100)
    Console(file=out, width=width).print(bar.make_tasks_table(bar.tasks))
    assert re.search(r"100% 12,345,678 rows 190,000/s 0:00:00$", out.getvalue().rstrip()), out.getvalue()


def test_debug_shows_the_traceback_above_the_one_line() -> None:
    env = {"INFLUXDB_V2_TOKEN": "t", "INFLUXDB_V2_ORG": "o", "PRICECAP_CONFIG": "/dev/null"}
    plain = pricecap("price-at", "BTC/USDT", env=env)
    one_line_error(plain, ExitCode.UNKNOWN_SYMBOL, "'BTC/USDT' is not a symbol")
    debug = pricecap("--debug", "price-at", "BTC/USDT", env=env)
    assert debug.returncode == ExitCode.UNKNOWN_SYMBOL
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
