"""Running this package's ``.flux`` files with parameters, and turning failures into one-line user errors."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, cached_property
from importlib.resources import files

import orjson
import urllib3
from influxdb_client.client.flux_table import FluxRecord
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException
from influxdb_client.service.dbr_ps_service import DBRPsService

from pricecap import flux, model
from pricecap.influx import connect, user_errors
from pricecap.settings import InfluxSettings


@cache
def flux_text(name: str) -> str:
    """The text of ``queries/<name>.flux``."""
    return files("queries").joinpath(f"{name}.flux").read_text(encoding="utf-8")


class Runner:
    """One connection to InfluxDB and the market coordinates (bucket, exchange) every query needs."""

    def __init__(self, settings: InfluxSettings, exchange: str = model.EXCHANGE_BINANCE) -> None:
        self.settings = settings
        self.exchange = exchange
        self.client: InfluxDBClient = connect(settings)
        self._query = self.client.query_api()

    def run(self, name: str, values: Mapping[str, flux.FluxValue]) -> list[FluxRecord]:
        """Every record of ``queries/<name>.flux`` run with ``params`` = bucket, exchange and ``values``."""
        values = {"bucket": self.settings.bucket, "exchange": self.exchange, **values}
        with user_errors(self.settings):
            return list(self._query.query_stream(flux_text(name), params=flux.params(values)))

    @cached_property
    def influxql_database(self) -> tuple[str, str] | None:
        """The database and retention policy by which InfluxQL reads the settings' bucket, or None when no
        mapping leads there (InfluxDB 2 maps every bucket ``B`` to database ``B``, policy ``autogen``, and
        ``D/R`` to ``D``, ``R``, unless a mapping made by hand takes the name; a server may have none)."""
        database = self.settings.bucket.partition("/")[0]
        try:
            bucket = self.client.buckets_api().find_bucket_by_name(self.settings.bucket)
            found = DBRPsService(self.client.api_client).get_dbr_ps(org=self.settings.org, db=database)
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return None
        if bucket is None:
            return None
        mapped = (m for m in found.content or [] if m.bucket_id == bucket.id)
        return next(((str(m.database), str(m.retention_policy)) for m in mapped), None)

    def influxql(self, text: str, params: Mapping[str, str | int], database: tuple[str, str]) -> bytes:
        """The JSON answer of InfluxQL statements ``text`` with bound ``params`` (through InfluxDB's 1.x
        ``/query``), times in ns."""
        form = {"db": database[0], "rp": database[1], "q": text, "params": orjson.dumps(params).decode(), "epoch": "ns"}
        with user_errors(self.settings):
            response = self.client.api_client.call_api(
                "/query",
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
                post_params=list(form.items()),
                auth_settings=[],
                _preload_content=False,
                _return_http_data_only=True,
            )
            return bytes(response.data)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()
