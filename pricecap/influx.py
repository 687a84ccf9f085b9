"""Connections to InfluxDB from settings: the client, and a check that turns failures into one clear line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

from pricecap.errors import ConfigError, PricecapError, UnreachableError
from pricecap.settings import InfluxSettings


def connect(settings: InfluxSettings, *, gzip: bool = False) -> InfluxDBClient:
    """An influxdb-client for the settings (token and org required)."""
    token, org = settings.require_credentials()
    return InfluxDBClient(url=settings.url, token=token, org=org, timeout=settings.timeout_ms, enable_gzip=gzip)


def describe(error: Exception, settings: InfluxSettings) -> str:
    """A one-line description of a failed InfluxDB call, without the token."""
    if isinstance(error, ApiException):
        if error.status == 401:
            return f"InfluxDB at {settings.url} refused the token (401 unauthorized)"
        return f"InfluxDB at {settings.url} answered HTTP {error.status}: {_answer(error)}"
    if isinstance(error, urllib3.exceptions.HTTPError):
        reason = getattr(error, "reason", None) or error
        return f"cannot reach InfluxDB at {settings.url}: {str(reason).split(': ')[-1]}"
    return f"InfluxDB at {settings.url}: {error}"


class NotInfluxDB2Error(ConfigError):
    """The server is an InfluxDB, but not InfluxDB 2 (1.x, or 3, which has no Flux)."""


_MAJOR = re.compile(r"v?(\d+)\.")


def foreign_server(settings: InfluxSettings) -> str | None:
    """What the server at the settings' URL says it is (``InfluxDB 3.7.0 Core``) when that is an InfluxDB but not
    InfluxDB 2, else None. InfluxDB 1, 2 and 3 all name their version on ``GET /ping``, in the X-Influxdb-Version and
    X-Influxdb-Build headers, and InfluxDB 3 in its JSON body too; InfluxDB 3 wants the token there."""
    headers = {"Authorization": f"Token {settings.token.get_secret_value()}"} if settings.token is not None else {}
    try:
        response = urllib3.request(
            "GET", f"{settings.url.rstrip('/')}/ping", headers=headers, timeout=10.0, retries=False, redirect=False
        )
    except urllib3.exceptions.HTTPError:
        return None
    version = response.headers.get("X-Influxdb-Version") or _body_version(response.data[:4096])
    found = _MAJOR.match(version or "")
    if version is None or found is None or found.group(1) == "2":
        return None
    build = response.headers.get("X-Influxdb-Build")
    return f"InfluxDB {version}{f' {build}' if build else ''}"


def _body_version(body: bytes) -> str | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    version = document.get("version") if isinstance(document, dict) else None
    return version if isinstance(version, str) else None


def not_influxdb2(settings: InfluxSettings, server: str) -> NotInfluxDB2Error:
    """The one-line error for a server that is not InfluxDB 2."""
    return NotInfluxDB2Error(
        f"{settings.url} is {server}, but pricecap needs InfluxDB 2 (OSS 2.x, with Flux and tasks): point it at an"
        " InfluxDB 2 server"
    )


class InfluxDownError(UnreachableError):
    """InfluxDB does not answer (connection refused, timeout, 5xx): it may later, unlike a refused token."""


def is_down(error: Exception) -> bool:
    """True for a failure that says the server does not answer now, not that the settings are wrong."""
    if isinstance(error, ApiException):
        return not error.status or error.status >= 500
    return isinstance(error, urllib3.exceptions.HTTPError | OSError)


def _answer(error: ApiException) -> str:
    """The server's own message of an error answer (the ``message`` of its JSON body), on one line, whole."""
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
    text = (body or "").strip()
    try:
        document = orjson.loads(text)
        text = str(document.get("message") or text) if isinstance(document, dict) else text
    except orjson.JSONDecodeError:
        pass
    return " ".join((text or error.reason or "no message").split())


def influx_error(error: BaseException, settings: InfluxSettings) -> PricecapError | None:
    """The user error for a failed InfluxDB call (None when ``error`` is not one).

    A token refused (401, 403) counts as unreachable (exit 4), a missing bucket or org (404) as configuration
    (exit 3); no answer at all is InfluxDownError (exit 4, and the collector waits for it); a request that timed
    out while the server was up is named as such, not as unreachable. When the server that answered is an InfluxDB
    but not InfluxDB 2 (:func:`foreign_server` asks it), the error says so instead.
    """
    if isinstance(error, ApiException):
        if (server := foreign_server(settings)) is not None:
            return not_influxdb2(settings, server)  # not the error of an API that server lacks, such as Flux's
        if error.status in (401, 403):
            return UnreachableError(describe(error, settings))
        if error.status == 404:
            if "bucket" in _answer(error).lower():  # not Flux's internals, which name the query's functions
                return ConfigError(
                    f"InfluxDB at {settings.url} has no bucket {settings.bucket!r} in org {settings.org!r}"
                )
            return ConfigError(describe(error, settings))
        if is_down(error):
            return InfluxDownError(describe(error, settings))
        return PricecapError(describe(error, settings))
    if isinstance(error, urllib3.exceptions.HTTPError):
        reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
        if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return PricecapError(
                f"InfluxDB at {settings.url} did not answer within {settings.timeout_ms / 1000:g} s: it is up but"
                " slow; allow more with timeout_ms in the config file or INFLUXDB_V2_TIMEOUT (ms)"
            )
        return InfluxDownError(describe(error, settings))
    return None


@contextmanager
def user_errors(settings: InfluxSettings) -> Iterator[None]:
    """Any failure of an InfluxDB call inside, raised as its one-line user error (:func:`influx_error`, else
    InfluxDownError)."""
    try:
        yield
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
        raise (influx_error(e, settings) or InfluxDownError(describe(e, settings))) from None


def check(settings: InfluxSettings) -> str:
    """Verify that the server answers, accepts the token and has the bucket; return the server version.

    Raises InfluxDownError (server down), UnreachableError (token refused) or ConfigError (no such bucket).
    """
    with connect(settings) as client, user_errors(settings):
        version = client.version()
        bucket = client.buckets_api().find_bucket_by_name(settings.bucket)
    if bucket is None:
        raise ConfigError(f"InfluxDB at {settings.url} has no bucket {settings.bucket!r} in org {settings.org!r}")
    return str(version)
