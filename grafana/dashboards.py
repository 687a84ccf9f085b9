"""The two dashboards: Market (per symbol) and Collector health. Every query is a file of ``queries/``."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import candlestick, stat, table
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.models import candlestick as candles_model
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.dashboard import ValueMap, ValueMappingResult

from grafana.flux import string
from grafana.panels import (
    FluxTarget,
    Grid,
    Item,
    Json,
    by_name,
    constant,
    dashboard,
    legend,
    only_fields,
    placed,
    query_variable,
    row,
    target,
    textbox,
    timeseries,
)
from queries.rollup import CANDLE_BUCKET_SUFFIX

LAST_PRICE_LOOKBACK: Final = "30d"
INSTANCES_LOOKBACK: Final = "24h"
CANDLE_BUCKET: Final = f"${{bucket:json}} + {string(CANDLE_BUCKET_SUFFIX)}"
"""The candles bucket of ``pricecap setup`` for the selected bucket (queries.rollup.candle_bucket, as Flux)."""
VARIABLES: Final = (textbox("bucket", "Bucket", "trades"), constant("exchange", "binance"))


def market() -> Json:
    """Candles, price, volume, trade rate, high/low and last price: one row of them per selected symbol."""
    candles = target("candle_series", {"candleBucket": CANDLE_BUCKET})
    last_price = target("price_at", {"lookback": LAST_PRICE_LOOKBACK, "nearest": "false"})
    panels: list[Item] = [
        row("$symbol", 0, repeat="symbol"),
        placed(
            stat.Panel(),
            "Last price",
            Grid(0, 1, 5, 4),
            [last_price],
            "The price of the last trade before the end of the selected range, looking back up to "
            f"{LAST_PRICE_LOOKBACK} (queries/price_at.flux).",
        )
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).fields("/^price$/").values(False))
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO),
        placed(
            table.Panel(),
            "High and low",
            Grid(0, 5, 5, 6),
            [target("extremes")],
            "The highest and lowest price of the selected range and when each first traded (queries/extremes.flux).",
        )
        .show_header(True)
        .cell_height(common.TableCellHeight.SM),
        placed(
            candlestick.Panel(),
            "Candles",
            Grid(5, 1, 19, 10),
            [candles],
            "Open, high, low, close and volume per window; the window follows the zoom (Grafana's interval, "
            "v.windowPeriod). Windows align to UTC. Windows of whole minutes come from the 1-minute or 1-hour "
            "roll-ups of pricecap setup where they provably hold every trade of the window, from raw trades "
            "elsewhere: the same candles either way (queries/candle_series.flux, column source).",
        )
        .mode(candles_model.VizDisplayMode.CANDLES_VOLUME)
        .candle_style(candles_model.CandleStyle.CANDLES)
        .color_strategy(candles_model.ColorStrategy.OPEN_CLOSE)
        .colors(candlestick.CandlestickColors().up("green").down("red"))
        .include_all_fields(False)
        .legend(legend()),
        timeseries(
            "Price",
            Grid(0, 11, 12, 7),
            [candles],
            "The last price of each window (the candles' close, queries/candle_series.flux).",
            transformations=[only_fields("_time", "close")],
        ),
        timeseries(
            "Volume",
            Grid(12, 11, 6, 7),
            [candles],
            "Base-asset quantity traded per window (queries/candle_series.flux).",
            bars=True,
            transformations=[only_fields("_time", "volume")],
        ),
        timeseries(
            "Trades per second",
            Grid(18, 11, 6, 7),
            [candles],
            "Trades per second, averaged over each window (queries/candle_series.flux).",
            unit="short",
            transformations=[only_fields("_time", "trades_per_s")],
        ),
    ]
    symbols = query_variable("symbol", "Symbol", "known_symbols")
    return dashboard(
        "pricecap-market",
        "pricecap: market",
        "Binance trades stored by pricecap: one row per selected symbol.",
        panels,
        [*VARIABLES, symbols],
        refresh="5s",
    )


def collector_health() -> Json:
    """The health points the collectors write every --health-interval (measurement collector_health): the state
    of each shard and instance, and one series per instance of each counter and gauge."""
    healthy = by_name(
        "healthy",
        ("mappings", [ValueMap(options={"1": _shown("ok", "green", 0), "0": _shown("unhealthy", "red", 1)})]),
        ("custom.cellOptions", {"type": "color-background"}),
    )
    copy_state = states({"up": "green", "unhealthy": "red", "stale": "red"})
    shard_state = states({"ok": "green", "degraded": "orange", "down": "red"})
    panels: list[Item] = [
        placed(
            table.Panel(),
            "Shards",
            Grid(0, 0, 8, 8),
            [last_health(shards=True)],
            "Each shard (K/N, the collectors' --shard; 0/1 for unsharded ones and for points written before "
            "shards existed) with its copies. A copy is up when its last health point is at most 3 health "
            "intervals (the variable health_interval) old and says healthy = 1. A shard is down when no copy is "
            f"up, degraded when some copy is not. Copies that wrote within {INSTANCES_LOOKBACK} before the end of "
            "the range, or in the range, are listed (queries/health_last.flux).",
        ).override_by_name(*shard_state),
        placed(
            table.Panel(),
            "Collectors",
            Grid(8, 0, 16, 8),
            [last_health(shards=False)],
            "The last health point of each collector instance, with its shard, when it was last seen and its "
            "state: up (at most 3 health intervals old and healthy), unhealthy, or stale (silent for longer); "
            f"every instance that wrote within {INSTANCES_LOOKBACK} before the end of the range, or in the range, "
            "is listed (queries/health_last.flux).",
        )
        .override_by_name(*healthy)
        .override_by_name(*copy_state),
        timeseries(
            "Trades written per second",
            Grid(0, 8, 12, 8),
            [rate("written", "1s")],
            "Trades InfluxDB confirmed, per second (field written, queries/health_rate.flux).",
            unit="short",
        ),
        timeseries(
            "Write lag",
            Grid(12, 8, 12, 8),
            [highest("last_write_lag_s")],
            "From a chunk's oldest trade to InfluxDB confirming it; the highest per window "
            "(field last_write_lag_s, queries/health.flux).",
            unit="s",
        ),
        timeseries(
            "Reconnects per minute",
            Grid(0, 16, 8, 8),
            [rate("reconnects", "1m")],
            "WebSocket reconnections of every cause (field reconnects, queries/health_rate.flux).",
            bars=True,
        ),
        timeseries(
            "Gaps per minute",
            Grid(8, 16, 8, 8),
            [rate("gaps", "1m")],
            "Gaps found in the trade ids of a symbol (field gaps, queries/health_rate.flux).",
            bars=True,
        ),
        timeseries(
            "Trade ids repaired per minute",
            Grid(16, 16, 8, 8),
            [rate("ids_repaired", "1m")],
            "Missing trades fetched from REST to fill gaps (field ids_repaired, queries/health_rate.flux).",
            bars=True,
        ),
        timeseries(
            "Spool size",
            Grid(0, 24, 8, 8),
            [highest("spool_bytes")],
            "Bytes of writes waiting on disk for InfluxDB (field spool_bytes, queries/health.flux).",
            unit="bytes",
        ),
        timeseries(
            "Pending trades",
            Grid(8, 24, 8, 8),
            [highest("pending")],
            "Trades handed to the writer and not yet confirmed (field pending, queries/health.flux).",
        ),
        timeseries(
            "Malformed messages per minute",
            Grid(16, 24, 8, 8),
            [rate("malformed", "1m")],
            "Frames the collector could not read, of every reason (field malformed, queries/health_rate.flux).",
            bars=True,
        ),
        timeseries(
            "Trade ids missing, not repaired yet",
            Grid(0, 32, 8, 8),
            [highest("ids_missing")],
            "Ids known to be missing and not repaired yet, the highest per window (field ids_missing, "
            "queries/health.flux).",
        ),
        timeseries(
            "Oldest unrepaired gap",
            Grid(8, 32, 8, 8),
            [highest("oldest_gap_age_s")],
            "How long the symbol waiting longest for a repair has waited (field oldest_gap_age_s, "
            "queries/health.flux); /healthz is 503 past --gap-alarm.",
            unit="s",
        ),
        timeseries(
            "Longest connection silence",
            Grid(16, 32, 8, 8),
            [highest("max_silence_s")],
            "Seconds since the last message of the most silent connection; the data watchdog replaces one that "
            "stays silent while REST has newer trades (field max_silence_s, queries/health.flux).",
            unit="s",
        ),
        timeseries(
            "Ids given up on per minute",
            Grid(0, 40, 12, 8),
            [rate("ids_unrepairable", "1m")],
            "Missing ids REST showed will never come (the give-up rule; field ids_unrepairable, "
            "queries/health_rate.flux).",
            bars=True,
        ),
        timeseries(
            "Background task restarts per minute",
            Grid(12, 40, 12, 8),
            [rate("task_restarts", "1m")],
            "Helper tasks restarted after a failure; the log has each traceback, and /healthz is 503 for 30 s "
            "after (field task_restarts, queries/health_rate.flux).",
            bars=True,
        ),
        placed(
            table.Panel(),
            "Completeness: trade ids missing per day",
            Grid(0, 48, 24, 8),
            [target("completeness")],
            "Per symbol (rows) and UTC day (columns), the trade ids missing that the collectors' hourly audit "
            "found in the closed hours of the range (measurement completeness, field missing; ids Binance itself "
            "does not have are exchange gaps and do not count). 0: every hour audited was complete. "
            "pricecap audit names the ranges (queries/completeness.flux).",
        ),
    ]
    return dashboard(
        "pricecap-collector-health",
        "pricecap: collector health",
        "The health points pricecap collect writes every --health-interval seconds (measurement collector_health).",
        panels,
        [*VARIABLES, textbox("health_interval", "Health interval", "10s")],
        time_from="now-1h",
        refresh="30s",
    )


def last_health(shards: bool) -> FluxTarget:
    """The last health point of each instance (``shards`` False) or the state of each shard."""
    values = {
        "lookback": INSTANCES_LOOKBACK,
        "interval": "duration(v: ${health_interval:json})",
        "shards": "true" if shards else "false",
    }
    return target("health_last", values)


def states(colors: dict[str, str]) -> tuple[str, list[models.DynamicConfigValue]]:
    """The ``state`` column shown on a background of the state's colour."""
    mapping = ValueMap(options={state: _shown(state, color, i) for i, (state, color) in enumerate(colors.items())})
    return by_name("state", ("mappings", [mapping]), ("custom.cellOptions", {"type": "color-background"}))


def rate(field: str, unit: str) -> FluxTarget:
    """How fast a counter of the health points grows, per ``unit`` (a Flux duration such as 1s)."""
    return target("health_rate", {"field": string(field), "unit": unit})


def highest(field: str) -> FluxTarget:
    """The highest value of a gauge of the health points per window."""
    return target("health", {"field": string(field)})


def _shown(text: str, color: str, index: int) -> ValueMappingResult:
    """How a value mapping shows one value."""
    return ValueMappingResult(text=text, color=color, index=index)


DASHBOARDS: Final = {"market": market, "collector-health": collector_health}
"""Each dashboard by the name of its file in provisioning/dashboards/ (without .json)."""
