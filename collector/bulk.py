"""The bulk sink of imports and backfills: large line-protocol bodies, several requests in flight.

Live collection goes through the batching WriteApi (``collector/writer.py``); history arrives as whole files
or REST pages, so here each body (tens of thousands of lines) is one synchronous request, ``workers`` of them
at once, gzip on unless InfluxDB is on this machine. A failed request is retried with backoff, except a
permanent refusal (a 4xx answer other than 429), which stops the import at once; one that still fails stops
the import with a clear error (re-running it is safe: the same trades land on the same points).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import urllib3
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from pricecap.errors import PricecapError
from pricecap.influx import connect, describe
from pricecap.settings import InfluxSettings


class BulkWriter:
    """Writes bodies concurrently; at most ``2 * workers`` bodies wait in memory."""

    def __init__(self, settings: InfluxSettings, workers: int = 4, gzip: bool = False, attempts: int = 5) -> None:
        self.settings = settings
        self._client = connect(settings, gzip=gzip)
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulk-write")
        self._room = threading.BoundedSemaphore(2 * workers)
        self._attempts = attempts
        self._futures: set[Future[None]] = set()
        self._error: PricecapError | None = None

    def write(self, body: str) -> None:
        """Queue one body (blocks while enough are in flight); raises the first failure of an earlier one."""
        self.raise_failure()
        self._room.acquire()
        future = self._pool.submit(self._send, body)
        self._futures.add(future)
        future.add_done_callback(self._done)

    def flush(self) -> None:
        """Wait until every queued body is written; raise the first failure."""
        while self._futures:
            for future in list(self._futures):
                future.result()
        self.raise_failure()

    def raise_failure(self) -> None:
        """Raise the first failure of a request, if any."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the workers and the connection."""
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if error is None:
                self.flush()
        finally:
            self.close()

    def _send(self, body: str) -> None:
        for attempt in range(self._attempts):
            try:
                self._api.write(bucket=self.settings.bucket, record=body)
                return
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
                if attempt == self._attempts - 1 or permanent(e):
                    self._error = self._error or PricecapError(f"write failed: {describe(e, self.settings)}")
                    return
                time.sleep(min(30.0, 2.0**attempt))

    def _done(self, future: Future[None]) -> None:
        self._futures.discard(future)
        self._room.release()


def permanent(error: Exception) -> bool:
    """True for an answer that the same request would get again: a 4xx other than 429 (too many requests)."""
    return (
        isinstance(error, ApiException)
        and error.status is not None
        and 400 <= error.status < 500
        and error.status != 429
    )
