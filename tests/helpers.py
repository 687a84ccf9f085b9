"""Reading trades back from the real influxd, for assertions on what was stored."""

from __future__ import annotations

from dataclasses import dataclass

from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings

_STORED = """
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == params.measurement and r.symbol == params.symbol)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({r with time_ns: int(v: r._time)}))
"""


@dataclass(frozen=True)
class StoredTrade:
    """One stored point, as read back with Flux."""

    time_ns: int
    trade_id: int
    price: float
    qty: float
    buyer_maker: bool


def stored_trades(settings: InfluxSettings, symbol: str) -> list[StoredTrade]:
    """Every stored trade point of ``symbol`` in the settings' bucket, in time order."""
    values = {"bucket": settings.bucket, "measurement": model.MEASUREMENT, "symbol": symbol}
    with connect(settings) as client:
        records = client.query_api().query_stream(_STORED, params=flux.params(values))
        trades = [
            StoredTrade(
                time_ns=int(record.values["time_ns"]),
                trade_id=int(record.values[model.FIELD_TRADE_ID]),
                price=float(record.values[model.FIELD_PRICE]),
                qty=float(record.values[model.FIELD_QTY]),
                buyer_maker=bool(record.values[model.FIELD_BUYER_MAKER]),
            )
            for record in records
        ]
    return sorted(trades, key=lambda t: t.time_ns)


def stored_ids(settings: InfluxSettings, symbol: str) -> list[int]:
    """The trade ids stored for ``symbol``, sorted (duplicates kept, so a double write would show)."""
    return sorted(t.trade_id for t in stored_trades(settings, symbol))
