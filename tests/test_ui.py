"""The InfluxDB UI, told honestly: ``pricecap up`` and ``status`` probe the server for it.

Absent: the managed influxd, a real one built without the UI. Present: a tiny stand-in for an influxd that has
one, which serves an HTML page at ``/`` and passes every other request on to the session's real influxd (so the
collector and the queries work through it as through any InfluxDB); and the real influxd built from source with a
UI asset the test makes (``PRICECAP_INFLUXD_UI``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import subprocess
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pricecap.influxd import BINARY_ENV, BUILD_SCRIPT, NO_UI, free_port, serves_ui
from pricecap.settings import InfluxSettings
from tests.helpers import pricecap

PAGE = b"<!doctype html><title>InfluxDB</title>"
ASSET_PAGE = b"<!doctype html><title>InfluxDB UI, as the test made it</title>\n"
HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length"}


def with_ui(upstream: str) -> type[BaseHTTPRequestHandler]:
    """A handler that serves ``PAGE`` at ``GET /`` and forwards everything else to ``upstream``."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        def forward(self) -> None:
            if self.command == "GET" and self.path == "/":
                self.answer(200, [("Content-Type", "text/html; charset=utf-8")], PAGE)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body or None, headers)
                response = connection.getresponse()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                self.answer(response.status, kept, response.read())
            finally:
                connection.close()

        def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = forward

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def ui_server(server_settings: InfluxSettings) -> Iterator[str]:
    """The URL of an InfluxDB that serves a UI (the stand-in in front of the session's influxd)."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), with_ui(server_settings.url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_up_and_status_print_the_ui_url_of_a_server_that_serves_one(settings: InfluxSettings, ui_server: str) -> None:
    token, org = settings.require_credentials()
    env = {"INFLUXDB_V2_URL": ui_server, "INFLUXDB_V2_TOKEN": token, "INFLUXDB_V2_ORG": org}
    started = pricecap("up", "--simulate", "-d", "--metrics-port", "0", "--bucket", settings.bucket, env=env)
    try:
        assert started.returncode == 0, started.stderr
        assert f"InfluxDB UI: {ui_server}/\n" in started.stdout
        status = pricecap("status", "--bucket", settings.bucket, env=env)
        assert f"InfluxDB UI: {ui_server}/\n" in status.stdout, status.stderr
    finally:
        assert pricecap("down").returncode == 0


@pytest.mark.integration
def test_up_and_status_say_in_one_line_that_the_managed_influxd_has_no_ui(tmp_path: Path) -> None:
    port = free_port()
    started = pricecap("up", "--simulate", "-d", "--metrics-port", "0", "--influxd-port", str(port))
    try:
        assert started.returncode == 0, started.stderr
        assert not serves_ui(f"http://127.0.0.1:{port}")
        assert f"InfluxDB UI: {NO_UI}\n" in started.stdout
        status = pricecap("status")
        assert f"InfluxDB UI: {NO_UI}\n" in status.stdout, status.stderr
    finally:
        assert pricecap("down").returncode == 0


def ui_asset(folder: Path) -> tuple[Path, str]:
    """A UI release asset made here (``build/index.html`` in a tar.gz, like influxdata/ui's build.tar.gz) and
    its sha256; the same bytes every time, so its build is cached after the first run."""
    page = tarfile.TarInfo("build/index.html")
    page.size, page.mode = len(ASSET_PAGE), 0o644
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        tar.addfile(page, io.BytesIO(ASSET_PAGE))
    asset = folder / "build.tar.gz"
    asset.write_bytes(raw.getvalue())
    return asset, hashlib.sha256(raw.getvalue()).hexdigest()


def build(**env: str) -> subprocess.CompletedProcess[str]:
    """``build.sh`` with ``env``, as ``ensure_binary`` runs it."""
    return subprocess.run(
        ["bash", str(BUILD_SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_a_ui_asset_whose_sha256_differs_is_refused_before_any_build(tmp_path: Path) -> None:
    asset, sha = ui_asset(tmp_path)
    result = build(PRICECAP_INFLUXD_UI=str(asset), PRICECAP_INFLUXD_UI_SHA256=sha[::-1])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"build.sh: {asset} does not have sha256 {sha[::-1]}\n"


@pytest.mark.integration
@pytest.mark.timeout(1800)  # about 1 minute once the plain build is cached (2 cores, 2026-12-01)
def test_the_source_build_with_a_ui_asset_serves_that_ui(tmp_path: Path) -> None:
    asset, sha = ui_asset(tmp_path)
    built = build(PRICECAP_INFLUXD_UI=str(asset), PRICECAP_INFLUXD_UI_SHA256=sha)
    assert built.returncode == 0, built.stderr
    binary = Path(built.stdout.split()[-1])
    assert binary.name.endswith(f"-ui-{sha[:16]}")

    port = free_port()
    env = {BINARY_ENV: str(binary)}
    started = pricecap("up", "--simulate", "-d", "--metrics-port", "0", "--influxd-port", str(port), env=env)
    try:
        assert started.returncode == 0, started.stderr
        assert f"InfluxDB UI: http://127.0.0.1:{port}/\n" in started.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.read() == ASSET_PAGE
    finally:
        assert pricecap("down").returncode == 0
