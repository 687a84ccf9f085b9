"""Pointed at an InfluxDB that is not 2.x, ``check`` and every query command say which server they found and that
pricecap needs InfluxDB 2, in one line, instead of the error of an API that server lacks.

The servers are tiny stand-ins that answer as InfluxDB 3 Core and 1.8 do (their documented ``/ping`` and
``/health``; every other path as a server without the v2 API, or without Flux)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pricecap.errors import ExitCode
from tests.helpers import one_line_error, pricecap


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StandIn:
    """How one kind of server answers: by path, and for every other path."""

    name: str
    paths: dict[str, Answer]
    other: Answer


V3_HEADERS = {"x-influxdb-version": "3.7.0", "x-influxdb-build": "Core"}
V1_HEADERS = {"X-Influxdb-Build": "OSS", "X-Influxdb-Version": "1.8.10"}
INFLUXDB_3_CORE = StandIn(
    "InfluxDB 3.7.0 Core",
    {
        "/ping": Answer(200, b'{"version":"3.7.0","revision":"1a2b3c4d5e","process_id":"0f1e"}', V3_HEADERS),
        "/health": Answer(200, b"OK"),
    },
    Answer(404),  # no /api/v2/query, no /api/v2/buckets: InfluxDB 3 has no Flux
)
INFLUXDB_3_BODY_ONLY = StandIn(  # the version in /ping's JSON body alone is enough
    "InfluxDB 3.7.0",
    {"/ping": Answer(200, b'{"version":"3.7.0","revision":"1a2b3c4d5e","process_id":"0f1e"}')},
    Answer(404),
)
INFLUXDB_1 = StandIn(
    "InfluxDB 1.8.10 OSS",
    {
        "/ping": Answer(204, headers=V1_HEADERS),
        "/health": Answer(
            200,
            b'{"checks":[],"message":"ready for queries and writes","name":"influxdb","status":"pass",'
            b'"version":"1.8.10"}',
            V1_HEADERS,
        ),
        "/api/v2/query": Answer(
            403,
            b'{"error":"Flux query service disabled. Verify flux-enabled=true in the [http] section of the InfluxDB'
            b' config."}',
            V1_HEADERS,
        ),
    },
    Answer(404, b"404 page not found\n", V1_HEADERS),
)


def serve(stand_in: StandIn) -> ThreadingHTTPServer:
    """A stand-in server on a free loopback port, answering every method by path."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            answer = stand_in.paths.get(self.path.split("?")[0], stand_in.other)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_HEAD = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(params=[INFLUXDB_3_CORE, INFLUXDB_3_BODY_ONLY, INFLUXDB_1], ids=lambda s: s.name)
def foreign(request: pytest.FixtureRequest) -> Iterator[tuple[StandIn, dict[str, str]]]:
    """A stand-in server and the environment that points pricecap at it."""
    stand_in: StandIn = request.param
    server = serve(stand_in)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield (
            stand_in,
            {
                "INFLUXDB_V2_URL": url,
                "INFLUXDB_V2_TOKEN": "a-token",
                "INFLUXDB_V2_ORG": "pricecap",
                "PRICECAP_CONFIG": "/dev/null",
            },
        )
    finally:
        server.shutdown()
        server.server_close()


COMMANDS = [
    ["check"],
    ["last"],
    ["symbols"],
    ["price-at", "BTCUSDT", "2026-01-02T03:04:05Z"],
    ["high-low", "BTCUSDT", "--start", "2026-01-01", "--stop", "2026-01-02"],
    ["candles", "BTCUSDT", "--start", "2026-01-01", "--stop", "2026-01-02"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_server_that_is_not_influxdb2_is_named_in_one_line(
    foreign: tuple[StandIn, dict[str, str]], command: list[str]
) -> None:
    stand_in, env = foreign
    result = pricecap(*command, env=env)
    one_line_error(
        result, ExitCode.CONFIG, f"{env['INFLUXDB_V2_URL']} is {stand_in.name}, but pricecap needs InfluxDB 2"
    )
