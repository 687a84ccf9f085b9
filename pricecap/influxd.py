"""A real InfluxDB 2 server run by pricecap itself: for tests, benchmarks and local stacks.

``ensure_binary()`` returns the influxd binary, taken in this order: ``$PRICECAP_INFLUXD``; an influxd 2.x on
PATH (InfluxData's packages install one, with its UI); the cached build; else a build from source of the Go
module in ``influxd_build/`` (shipped in the wheel too; cached outside the checkout, keyed by version), when
Go and Rust are there. ``python -m pricecap.influxd`` does the same and says which (``scripts/setup`` runs it).
``InfluxdServer`` starts it on a free loopback port with its own data folder, waits until it is healthy,
onboards an org, bucket and token, and stops it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import orjson
from pydantic import SecretStr

from pricecap.errors import PricecapError
from pricecap.settings import InfluxSettings

log = logging.getLogger(__name__)

BINARY_ENV = "PRICECAP_INFLUXD"
BUILD_SCRIPT = Path(__file__).resolve().parent / "influxd_build" / "build.sh"
BUILD_TOOLS_MISSING = 3
"""The exit code of ``build.sh`` when Go, Rust, gcc or pkg-config is missing."""
GET_ONE = (
    "install InfluxDB 2 from InfluxData's packages (its influxd on PATH), or set PRICECAP_INFLUXD to an influxd 2.x, "
    "or install Go >= 1.21 (it fetches the Go release InfluxDB needs), Rust (rustup, stable), gcc and pkg-config to "
    "build one, "
    "or run docker compose up -d, or use your own InfluxDB with INFLUXDB_V2_URL, INFLUXDB_V2_TOKEN, INFLUXDB_V2_ORG"
)
"""Every way to get an InfluxDB server, in one line."""
_VERSION = re.compile(r"\bInfluxDB v?(\d+\.\d+\.\d+\S*)")


@dataclass(frozen=True)
class Binary:
    """An influxd binary and where it came from."""

    path: Path
    source: str


def find_binary() -> Binary | None:
    """The influxd to run without building one: ``$PRICECAP_INFLUXD``, an influxd 2.x on PATH, the cached build."""
    if named := os.environ.get(BINARY_ENV):
        path = Path(named)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise PricecapError(f"{BINARY_ENV}={named} is not an executable file")
        return Binary(path, f"${BINARY_ENV}")
    if (on_path := shutil.which("influxd")) is not None and (version := influxd_version(Path(on_path))):
        if version.startswith("v2."):
            return Binary(Path(on_path), f"influxd {version} on PATH")
        log.warning("influxd on PATH is not 2.x: not used", extra={"path": on_path, "version": version})
    cached = _build("--cached")
    return Binary(Path(cached.stdout.split()[-1]), "the cached build") if cached.returncode == 0 else None


def ensure_binary() -> Path:
    """The influxd binary (:func:`find_binary`), else one built from source now; without Go and Rust, a
    PricecapError that says how to get one."""
    return ensure().path


def ensure() -> Binary:
    """:func:`ensure_binary` with where the binary came from."""
    if (found := find_binary()) is not None:
        return found
    if (can := _build("--can-build")).returncode == BUILD_TOOLS_MISSING:
        raise PricecapError(f"no influxd here and none can be built (no {can.stdout.strip()}); {GET_ONE}")
    built = _build()
    if built.returncode != 0:
        raise PricecapError(f"building influxd failed (exit {built.returncode}); see the messages above")
    return Binary(Path(built.stdout.split()[-1]), "built from source")


def influxd_version(binary: Path) -> str | None:
    """What ``influxd version`` says its version is (``v2.7.11``), or None when it does not say."""
    try:
        result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION.search(result.stdout)
    return f"v{found.group(1)}" if found else None


def _build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD_SCRIPT), *args], stdout=subprocess.PIPE, text=True, check=False)


NO_UI = (
    "none (this server does not serve the InfluxDB UI); for one, run an influxd from InfluxData's packages "
    "(on PATH or as $PRICECAP_INFLUXD), or build one with PRICECAP_INFLUXD_UI and PRICECAP_INFLUXD_UI_SHA256, "
    "or run docker compose up -d"
)
"""What ``pricecap up`` and ``status`` say when the server has no UI: the ways to get one, in one line."""


def serves_ui(url: str) -> bool:
    """True when the InfluxDB at ``url`` serves its web UI: ``GET /`` answers an HTML page (a server built without
    the UI, or started with ``--ui-disabled``, answers 404)."""
    request = urllib.request.Request(f"{url.rstrip('/')}/", headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(response.status == 200 and response.headers.get_content_type() == "text/html")
    except (OSError, ValueError):
        return False


def ui_line(url: str) -> str:
    """``InfluxDB UI: <url>`` when the server at ``url`` serves one, else that it does not and how to get one."""
    return f"InfluxDB UI: {url.rstrip('/')}/" if serves_ui(url) else f"InfluxDB UI: {NO_UI}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    """True when the InfluxDB at ``url`` answers ``/health`` with status pass and serves its API: since 2.10,
    influxd answers ``/health`` while it starts, and every other path with 503 until its API is up."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            if orjson.loads(response.read()).get("status") != "pass":
                return False
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return bool(response.status == 204)
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Onboarding:
    """What ``POST /api/v2/setup`` creates: the first user, org, bucket and an all-access token."""

    org: str = "pricecap"
    bucket: str = "trades"
    username: str = "pricecap"
    password: str = ""
    token: str = ""

    @classmethod
    def generate(cls, org: str = "pricecap", bucket: str = "trades") -> Onboarding:
        """An onboarding with a fresh random password and token."""
        return cls(org=org, bucket=bucket, password=secrets.token_urlsafe(18), token=secrets.token_urlsafe(32))


class InfluxdServer:
    """One influxd process bound to 127.0.0.1, with all its data under ``data_dir``; its UI (where the binary has
    one) only with ``ui``."""

    def __init__(self, binary: Path, data_dir: Path, port: int | None = None, ui: bool = False) -> None:
        self.binary = binary
        self.ui = ui
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "influxd.log"
        self.onboarding: Onboarding | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start influxd and wait until ``/health`` says pass."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if healthy(self.url):  # another server there would pass the health check below for this one
            raise PricecapError(
                f"port {self.port} already answers as an InfluxDB: stop that server or use another port"
            )
        args = [
            str(self.binary),
            "--bolt-path", str(self.data_dir / "influxd.bolt"),
            "--engine-path", str(self.data_dir / "engine"),
            "--sqlite-path", str(self.data_dir / "influxd.sqlite"),
            "--http-bind-address", f"127.0.0.1:{self.port}",
            "--reporting-disabled",
            # influxd turns on Go's allocation, block and mutex profiling unless told not to: a stack recorded per
            # 4 KiB allocated cost a third of its CPU in bench.queries (2026-12-02), writes as much as queries.
            "--pprof-disabled",
            *([] if self.ui else ["--ui-disabled"]),
            "--log-level", "warn",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PricecapError(f"influxd exited with {self._process.returncode}; see {self.log_path}")
            if self.healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise PricecapError(f"influxd was not healthy within {timeout_s:.0f} s; see {self.log_path}")

    def healthy(self) -> bool:
        """True when the server answers ``/health`` with status pass."""
        return healthy(self.url)

    def onboarded(self) -> bool:
        """True when the server has been set up already."""
        with urllib.request.urlopen(f"{self.url}/api/v2/setup", timeout=5) as response:
            return not orjson.loads(response.read()).get("allowed", False)

    def onboard(self, onboarding: Onboarding) -> InfluxSettings:
        """Create the first user, org, bucket and token; return settings that reach that bucket."""
        self.onboarding = onboarding
        body = orjson.dumps(
            {
                "username": onboarding.username,
                "password": onboarding.password,
                "org": onboarding.org,
                "bucket": onboarding.bucket,
                "token": onboarding.token,
            }
        )
        request = urllib.request.Request(
            f"{self.url}/api/v2/setup", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as e:
            raise PricecapError(f"onboarding influxd at {self.url} failed: HTTP {e.code}") from None
        return self.settings(onboarding)

    def settings(self, onboarding: Onboarding) -> InfluxSettings:
        """Settings that reach this server's onboarded bucket."""
        return InfluxSettings(
            url=self.url, token=SecretStr(onboarding.token), org=onboarding.org, bucket=onboarding.bucket
        )

    @property
    def pid(self) -> int | None:
        """The process id while the server runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """Stop the server the hard way (SIGKILL), as a crash would."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, signum: int, timeout_s: float) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> InfluxdServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> int:
    """``python -m pricecap.influxd [--find]``: print the influxd to use and where it came from (building it if
    needed, unless ``--find``); without one, print how to get one and exit 1."""
    try:
        binary = find_binary() if sys.argv[1:] == ["--find"] else ensure()
    except PricecapError as e:
        print(f"influxd: {e}", file=sys.stderr)
        return 1
    if binary is None:
        return 1
    print(f"{binary.path} ({binary.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
