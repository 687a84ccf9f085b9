"""The wheel as a user installs it: built from the checkout, installed into a fresh virtualenv in a temporary
folder, and run from there, far from the checkout, with the managed influxd from ``$PRICECAP_INFLUXD``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from pricecap.influxd import BINARY_ENV, ensure_binary, free_port
from tests.checkout import CHECKOUT, copy_checkout


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A command in ``cwd``, its output captured; the environment without this test run's virtualenv."""
    base = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", BINARY_ENV}}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh virtualenv with only the wheel built from the checkout (and its dependencies)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = copy_checkout(folder / "checkout")
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder / "dist", source, cwd=folder)
    assert built.returncode == 0, built.stderr
    (wheel,) = (folder / "dist").glob("pricecap-*.whl")
    assert run(sys.executable, "-m", "venv", folder / "venv", cwd=folder).returncode == 0
    bin_dir = folder / "venv" / "bin"
    pip = run(bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=folder)
    assert pip.returncode == 0, pip.stderr
    return bin_dir


@pytest.mark.integration
def test_the_installed_wheel_runs_the_stack_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    pricecap = installed / "pricecap"
    where = run(
        installed / "python", "-c", "import pricecap.influxd as m; print(m.__file__, m.BUILD_SCRIPT)", cwd=tmp_path
    )
    module, script = where.stdout.split()
    assert Path(module).is_relative_to(installed.parent) and Path(script).is_file(), where.stderr

    # The build module it carries looks up the same cached build as the checkout's (and so would build that one).
    cached = [run("bash", s, "--cached", cwd=tmp_path) for s in (script, CHECKOUT / "pricecap/influxd_build/build.sh")]
    assert [(c.returncode, c.stdout) for c in cached] == [(cached[1].returncode, cached[1].stdout)] * 2

    version = run(pricecap, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("pricecap, version"), version.stderr
    assert run(pricecap, "--help", cwd=tmp_path).returncode == 0  # imports every command

    env = {BINARY_ENV: str(ensure_binary())}
    port = str(free_port())
    up = run(pricecap, "up", "--simulate", "-d", "--metrics-port", "0", "--influxd-port", port, cwd=tmp_path, env=env)
    assert up.returncode == 0, up.stderr
    try:
        deadline = time.monotonic() + 120
        while (answer := run(pricecap, "price-at", "BTCUSDT", "now", "--json", cwd=tmp_path)).returncode != 0:
            assert time.monotonic() < deadline, answer.stderr
            time.sleep(0.5)
        assert orjson.loads(answer.stdout)[0]["symbol"] == "BTCUSDT"
        status = run(pricecap, "status", cwd=tmp_path)
        assert f"http://127.0.0.1:{port} (managed" in status.stdout, status.stderr
    finally:
        down = run(pricecap, "down", cwd=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
