"""Running this package's ``.flux`` files with parameters, and turning failures into one-line user errors."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from importlib.resources import files

import urllib3
from influxdb_client.client.flux_table import FluxRecord
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

from pricecap import flux, model
from pricecap.errors import ConfigError, PricecapError, UnreachableError
from pricecap.influx import InfluxDownError, connect, describe, is_down
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
        try:
            return list(self._query.query_stream(flux_text(name), params=flux.params(values)))
        except ApiException as e:
            if e.status == HTTPStatus.UNAUTHORIZED:
                raise UnreachableError(describe(e, self.settings)) from None
            if e.status == HTTPStatus.NOT_FOUND:
                raise ConfigError(
                    f"{describe(e, self.settings)} (is the bucket {self.settings.bucket!r} there?)"
                ) from None
            if is_down(e):
                raise InfluxDownError(describe(e, self.settings)) from None
            raise PricecapError(describe(e, self.settings)) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise InfluxDownError(describe(e, self.settings)) from None

    def close(self) -> None:
        """Close the connection."""
        self.client.close()
