"""Shared fixtures: one real influxd for the whole test session, a fresh bucket for each test that wants one.

There is no skip: a missing influxd is built (pricecap/influxd_build/build.sh), and a failed build fails the tests.
"""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricecap.influx import connect
from pricecap.influxd import BUILD_SCRIPT, InfluxdServer, Onboarding, ensure_binary, free_port
from pricecap.settings import InfluxSettings


def pytest_report_header() -> str:
    """Name the influxd the integration tests run against (a real server, built from source)."""
    return f"influxd: {ensure_binary()} (pricecap/influxd_build/go.mod pins the build from source)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (``CI=true``) a skipped test fails: integration tests must never skip silently there."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's InfluxDB environment or config file: the config folder is the test's own."""
    for name in list(os.environ):
        if name.startswith("INFLUXDB_V2_") or name == "PRICECAP_CONFIG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """Commands run in-process set up logging (the root's level and handlers, quieter libraries): each test
    starts with the logging it found, so one command's ``--log-level ERROR`` does not hide the next test's logs."""
    loggers = [logging.getLogger(name) for name in ("", "influxdb_client", "urllib3", "websockets")]
    saved = [(logger, logger.level, logger.handlers[:]) for logger in loggers]
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers


OLDEST_MODULE = Path(__file__).resolve().parents[1] / "tools" / "influxd-oldest"
"""The Go module that pins the oldest InfluxDB 2 pricecap supports; CI runs the compatibility set on it too."""


@pytest.fixture(scope="session")
def oldest_influxd() -> Path:
    """The oldest supported influxd, built from source once (cached beside the managed one, keyed by version)."""
    built = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        env={**os.environ, "PRICECAP_INFLUXD_MODULE": str(OLDEST_MODULE)},
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert built.returncode == 0, "building the oldest supported influxd failed; see the messages above"
    return Path(built.stdout.split()[-1])


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxdServer]:
    """A running, onboarded influxd on a free loopback port with throwaway data."""
    server = InfluxdServer(ensure_binary(), tmp_path_factory.mktemp("influxd"))
    with server:
        server.onboard(Onboarding.generate())
        yield server


TEST_TIMEOUT_MS = 300_000
"""The client timeout the tests give every query (INFLUXDB_V2_TIMEOUT for child processes): a slow machine makes
a test slow, never wrong. How fast a query is, bench/ measures."""


@pytest.fixture(scope="session")
def server_settings(influxd: InfluxdServer) -> InfluxSettings:
    """Settings of the session server's onboarded org and bucket, with a generous client timeout."""
    assert influxd.onboarding is not None
    return influxd.settings(influxd.onboarding).model_copy(update={"timeout_ms": TEST_TIMEOUT_MS})


@pytest.fixture
def settings(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """Settings pointing at a new, empty bucket of the session server, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    with connect(server_settings) as client:
        buckets = client.buckets_api()
        bucket = buckets.create_bucket(bucket_name=name, org=server_settings.org)
        yield server_settings.model_copy(update={"bucket": name})
        buckets.delete_bucket(bucket)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A path for a config file in the test's own folder."""
    return tmp_path / "config.toml"


@pytest.fixture
def own_influxd(tmp_path: Path) -> Iterator[tuple[InfluxdServer, InfluxSettings]]:
    """An influxd of the test's own, to kill and start again, and the settings of its bucket."""
    server = InfluxdServer(ensure_binary(), tmp_path / "influxd", free_port())
    server.start()
    try:
        yield server, server.onboard(Onboarding.generate())
    finally:
        server.stop()
