"""What a bucket holds: stored trades per symbol, in one Flux round trip."""

from __future__ import annotations

from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings

TRADE_COUNTS = f"""
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "{model.MEASUREMENT}" and r._field == "{model.FIELD_TRADE_ID}")
  |> group(columns: ["{model.TAG_SYMBOL}"])
  |> count()
"""


def trade_counts(settings: InfluxSettings) -> dict[str, int]:
    """Stored trades per symbol, counted by InfluxDB."""
    with connect(settings) as client:
        tables = client.query_api().query(TRADE_COUNTS, params=flux.params({"bucket": settings.bucket}))
    return {str(r.values[model.TAG_SYMBOL]): int(r.get_value()) for table in tables for r in table.records}
