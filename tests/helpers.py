"""Reading trades back from the real influxd, and running ``pricecap`` as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from influxdb_client.client.flux_table import FluxRecord
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.dbrp_create import DBRPCreate
from influxdb_client.service.dbr_ps_service import DBRPsService

from pricecap import flux, model
from pricecap.errors import ExitCode
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from queries.models import StoredTrade

if TYPE_CHECKING:
    from queries import Prices

_STORED = """
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == params.measurement and r.symbol == params.symbol)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({r with time_ns: int(v: r._time)}))
"""


def stored_trades(settings: InfluxSettings, symbol: str) -> list[StoredTrade]:
    """Every complete stored trade point of ``symbol`` in the settings' bucket, in time order, read with a
    query of the tests' own (a pivot of every field), not the product's.

    A point that lacks a field is left out: after influxd is killed mid-request it may hold part of a point
    until the collector writes the request again, and such a point is not a stored trade.
    """
    values = {"bucket": settings.bucket, "measurement": model.MEASUREMENT, "symbol": symbol}
    with connect(settings) as client:
        records = client.query_api().query_stream(_STORED, params=flux.params(values))
        trades = [
            StoredTrade(
                symbol=symbol,
                time_ns=int(record.values["time_ns"]),
                trade_id=int(record.values[model.FIELD_TRADE_ID]),
                price=float(record.values[model.FIELD_PRICE]),
                qty=float(record.values[model.FIELD_QTY]),
                buyer_maker=bool(record.values[model.FIELD_BUYER_MAKER]),
            )
            for record in records
            if all(record.values.get(f) is not None for f in model.FIELDS)
        ]
    return sorted(trades, key=lambda t: t.time_ns)


def stored_ids(settings: InfluxSettings, symbol: str) -> list[int]:
    """The trade ids stored for ``symbol``, sorted (duplicates kept, so a double write would show)."""
    return sorted(t.trade_id for t in stored_trades(settings, symbol))


def pricecap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in the test's hermetic environment plus ``env``."""
    exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
    return subprocess.run(
        [exe, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: ExitCode, text: str) -> None:
    """Assert that the command failed with ``code`` and one ``pricecap: error:`` line containing ``text``."""
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pricecap: error: ")
    assert text in lines[0]


def environment_of(settings: InfluxSettings) -> dict[str, str]:
    """The INFLUXDB_V2_* environment that points ``pricecap`` at the settings' server and bucket."""
    return settings.environment()


@contextmanager
def bucket_with(server_settings: InfluxSettings, name: str, trades: list[model.Trade]) -> Iterator[InfluxSettings]:
    """A new bucket holding ``trades`` (written synchronously), deleted afterwards; yields its settings."""
    with connect(server_settings) as client:
        buckets = client.buckets_api()
        created = buckets.create_bucket(bucket_name=name, org=server_settings.org)
        lines = "\n".join(model.encode_trade(t) for t in trades)
        client.write_api(write_options=SYNCHRONOUS).write(created.name, server_settings.org, lines)
        try:
            yield server_settings.model_copy(update={"bucket": created.name})
        finally:
            buckets.delete_bucket(created)


@contextmanager
def influxql_shadowed(settings: InfluxSettings) -> Iterator[None]:
    """A mapping made by hand that gives the bucket's InfluxQL name (database = bucket, policy autogen) to an
    empty decoy bucket, as on a server where someone mapped that name for another use; removed afterwards."""
    with connect(settings) as client:
        buckets = client.buckets_api()
        own, decoy = (
            buckets.find_bucket_by_name(settings.bucket),
            buckets.create_bucket(bucket_name=f"{settings.bucket}-decoy", org=settings.org),
        )
        mappings = DBRPsService(client.api_client)
        mapping = mappings.post_dbrp(
            DBRPCreate(
                org_id=own.org_id,
                bucket_id=decoy.id,
                database=settings.bucket,
                retention_policy="autogen",
                default=True,
            )
        )
        try:
            yield
        finally:
            mappings.delete_dbrpid(mapping.id, org_id=own.org_id)
            buckets.delete_bucket(decoy)


def record_queries(prices: Prices) -> list[str]:
    """The names of the .flux files ``prices`` runs from now on, in order; candles_rollup.flux over raw trades
    (``raw: true``) as ``candles_rollup raw``."""
    used: list[str] = []
    run = prices.runner.run

    def recording(name: str, values: Mapping[str, flux.FluxValue]) -> list[FluxRecord]:
        used.append(f"{name} raw" if values.get("raw") is True else name)
        return run(name, values)

    prices.runner.run = recording  # type: ignore[method-assign]
    return used


def write_lines(settings: InfluxSettings, body: str) -> None:
    """Write line protocol into the settings' bucket, synchronously."""
    with connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, body)


def write_trades(settings: InfluxSettings, trades: list[model.Trade]) -> None:
    """Write trades into the settings' bucket, synchronously, with the data model's points."""
    write_lines(settings, "\n".join(model.encode_trade(t) for t in trades))


def delete_trades(settings: InfluxSettings, trades: list[model.Trade]) -> None:
    """Delete the points of these trades (``/api/v2/delete``, one exact timestamp each): a planted hole."""
    with connect(settings) as client:
        for trade in trades:
            at = flux.Time(model.timestamp_ns(trade.time_ms, trade.trade_id)).rfc3339()
            predicate = f'_measurement="{model.MEASUREMENT}" AND symbol="{trade.symbol}"'
            client.delete_api().delete(at, at, predicate, settings.bucket, settings.org)
