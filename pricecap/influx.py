"""Connections to InfluxDB from settings: the client, and a check that turns failures into one clear line."""

from __future__ import annotations

import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

from pricecap.errors import ConfigError, UnreachableError
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
        body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
        message = (body or error.reason or "").strip().replace("\n", " ")
        return f"InfluxDB at {settings.url} answered HTTP {error.status}: {message[:300]}"
    if isinstance(error, urllib3.exceptions.HTTPError | OSError):
        reason = getattr(error, "reason", None) or error
        return f"cannot reach InfluxDB at {settings.url}: {str(reason).split(': ')[-1]}"
    return f"InfluxDB at {settings.url}: {error}"


class InfluxDownError(UnreachableError):
    """InfluxDB does not answer (connection refused, timeout, 5xx): it may later, unlike a refused token."""


def is_down(error: Exception) -> bool:
    """True for a failure that says the server does not answer now, not that the settings are wrong."""
    if isinstance(error, ApiException):
        return not error.status or error.status >= 500
    return isinstance(error, urllib3.exceptions.HTTPError | OSError)


def check(settings: InfluxSettings) -> str:
    """Verify that the server answers, accepts the token and has the bucket; return the server version.

    Raises InfluxDownError (server down), UnreachableError (token refused) or ConfigError (no such bucket).
    """
    with connect(settings) as client:
        try:
            version = client.version()
            bucket = client.buckets_api().find_bucket_by_name(settings.bucket)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
            raise (InfluxDownError if is_down(e) else UnreachableError)(describe(e, settings)) from None
    if bucket is None:
        raise ConfigError(f"InfluxDB at {settings.url} has no bucket {settings.bucket!r} in org {settings.org!r}")
    return str(version)
