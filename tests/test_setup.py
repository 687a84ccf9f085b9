"""Set-up on a user's machine: which influxd pricecap takes, and ``scripts/setup`` without Go and Rust.

``scripts/setup`` runs in a copy of the checkout in a temporary folder (its own ``.venv``), with a PATH of
only ``/usr/bin:/bin``: no Go, no cargo, no influxd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pricecap import influxd
from pricecap.errors import ExitCode, PricecapError
from pricecap.influxd import GET_ONE, Binary, ensure, find_binary
from tests.checkout import copy_checkout
from tests.helpers import one_line_error, pricecap

BARE_PATH = "/usr/bin:/bin"


def fake_influxd(folder: Path, says: str) -> Path:
    """An executable ``folder/influxd`` whose ``influxd version`` prints ``says``."""
    folder.mkdir(parents=True)
    binary = folder / "influxd"
    binary.write_text(f"#!/bin/sh\n[ \"$1\" = version ] && echo '{says}'\n")
    binary.chmod(0o755)
    return binary


def test_the_bare_path_has_no_go_cargo_or_influxd() -> None:
    """What every test here relies on: /usr/bin:/bin holds none of them (Go and Rust live elsewhere here)."""
    assert [tool for tool in ("go", "cargo", "influxd") if shutil.which(tool, path=BARE_PATH)] == []


@pytest.fixture
def nothing_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No $PRICECAP_INFLUXD, an empty build cache, and only /usr/bin:/bin on PATH."""
    monkeypatch.delenv(influxd.BINARY_ENV, raising=False)
    monkeypatch.setenv("PRICECAP_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", BARE_PATH)


@pytest.mark.usefixtures("nothing_found")
def test_an_influxd_2_on_path_is_found_and_its_version_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    two = fake_influxd(tmp_path / "v2", "InfluxDB v2.7.11 (git: fbf5d4ab5e) build_date: 2024-12-02T17:48:17Z")
    monkeypatch.setenv("PATH", f"{two.parent}:{BARE_PATH}")
    assert ensure() == Binary(two, "influxd v2.7.11 on PATH")


@pytest.mark.usefixtures("nothing_found")
def test_an_influxd_1_on_path_is_not_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    one = fake_influxd(tmp_path / "v1", "InfluxDB v1.6.7~rc0 (git: unknown unknown)")
    monkeypatch.setenv("PATH", f"{one.parent}:{BARE_PATH}")
    assert find_binary() is None


@pytest.mark.usefixtures("nothing_found")
def test_pricecap_influxd_comes_before_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    two = fake_influxd(tmp_path / "v2", "InfluxDB v2.7.11 (git: fbf5d4ab5e)")
    named = fake_influxd(tmp_path / "named", "InfluxDB v2.8.0")
    monkeypatch.setenv("PATH", f"{two.parent}:{BARE_PATH}")
    monkeypatch.setenv(influxd.BINARY_ENV, str(named))
    assert ensure() == Binary(named, "$PRICECAP_INFLUXD")


@pytest.mark.usefixtures("nothing_found")
def test_without_go_and_rust_the_error_says_how_to_get_a_server() -> None:
    with pytest.raises(PricecapError, match="none can be built") as raised:
        ensure()
    assert GET_ONE in str(raised.value)


@pytest.mark.usefixtures("nothing_found")
def test_up_without_any_influxd_is_one_line_that_says_how_to_get_one() -> None:
    result = pricecap("up", "--simulate", "--metrics-port", "0")
    one_line_error(result, ExitCode.FAILURE, "no influxd here and none can be built (no go cargo rustup")
    assert result.stderr.rstrip().endswith(GET_ONE)


@pytest.fixture(scope="module")
def checkout_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's files in a temporary folder."""
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


def run_setup(checkout: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/setup`` in ``checkout`` with no Go, cargo or influxd on PATH."""
    base = {k: v for k, v in os.environ.items() if k not in {influxd.BINARY_ENV, "VIRTUAL_ENV", "PRICECAP_CACHE"}}
    return subprocess.run(
        ["bash", "scripts/setup"],
        cwd=checkout, env={**base, "PATH": BARE_PATH, **env}, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_setup_without_go_and_rust_takes_pricecap_influxd(checkout_copy: Path) -> None:
    binary = influxd.ensure_binary()
    result = run_setup(checkout_copy, PRICECAP_INFLUXD=str(binary))
    assert result.returncode == 0, result.stderr
    assert f"influxd: {binary} ($PRICECAP_INFLUXD)" in result.stderr
    installed = checkout_copy / ".venv" / "bin" / "pricecap"
    version = subprocess.run([installed, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("pricecap, version")


def test_setup_with_no_influxd_and_no_way_to_build_one_succeeds_with_the_advice(
    checkout_copy: Path, tmp_path: Path
) -> None:
    result = run_setup(checkout_copy, PRICECAP_CACHE=str(tmp_path / "empty-cache"))
    assert result.returncode == 0, result.stderr
    advice = [line for line in result.stderr.splitlines() if GET_ONE in line]
    assert len(advice) == 1 and advice[0].endswith(GET_ONE), result.stderr
    assert advice[0].startswith("influxd: no influxd here and none can be built (no go cargo rustup")
    assert result.stderr.splitlines()[-1].startswith("setup: ready.")
