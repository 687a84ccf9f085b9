"""``/metrics`` (Prometheus) and ``/healthz`` over HTTP, served from a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import orjson
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
from prometheus_client.registry import CollectorRegistry

Health = Callable[[], tuple[bool, dict[str, Any]]]


class Endpoints:
    """Serves the registry at ``/metrics`` and ``health()`` at ``/healthz`` (200 when healthy, else 503)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                ok, details = health()
                start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
                return [orjson.dumps({"status": "ok" if ok else "unhealthy", **details})]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics or /healthz\n"]

        self._server: WSGIServer = make_server(host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="endpoints", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
