"""Candles as a PNG picture (``pricecap candles --plot``): a look at the data without Grafana.

matplotlib is the optional extra ``pricecap[plot]``, imported only when a picture is asked for. Prices are
drawn as candles above, the volume as bars below; an empty window has volume 0 and no candle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pricecap.errors import PricecapError
from queries.models import Candle

UP = "#26a69a"
DOWN = "#ef5350"
BODY_WIDTH = 0.7
"""The part of its window a candle's body covers."""


def plot_candles(candles: Sequence[Candle], title: str, path: Path, zone: str = "UTC") -> None:
    """Draw ``candles`` into a PNG file at ``path``, times shown in time zone ``zone``."""
    try:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
        from matplotlib.figure import Figure
    except ImportError:
        raise PricecapError("--plot needs matplotlib: pip install 'pricecap[plot]'") from None
    tz = ZoneInfo(zone)
    starts = [date2num(datetime.fromtimestamp(c.start_ns / 1e9, tz)) for c in candles]
    stops = [date2num(datetime.fromtimestamp(c.stop_ns / 1e9, tz)) for c in candles]
    middles = [(a + b) / 2 for a, b in zip(starts, stops, strict=True)]
    widths = [(b - a) * BODY_WIDTH for a, b in zip(starts, stops, strict=True)]
    # An empty window has no prices: NaN, which matplotlib leaves out.
    opens = [_or_nan(c.open) for c in candles]
    highs = [_or_nan(c.high) for c in candles]
    lows = [_or_nan(c.low) for c in candles]
    closes = [_or_nan(c.close) for c in candles]
    colors = [DOWN if c < o else UP for o, c in zip(opens, closes, strict=True)]

    figure = Figure(figsize=(11, 6), layout="constrained")
    prices, volume = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    prices.vlines(middles, lows, highs, colors=colors, linewidth=1)
    prices.bar(
        middles,
        [abs(c - o) for o, c in zip(opens, closes, strict=True)],
        width=widths,
        bottom=[min(o, c) for o, c in zip(opens, closes, strict=True)],
        color=colors,
        edgecolor=colors,  # a flat candle (open == close) still shows as a line
        linewidth=0.8,
    )
    volume.bar(middles, [c.volume for c in candles], width=widths, color=colors)
    locator = AutoDateLocator(tz=tz)
    volume.xaxis.set_major_locator(locator)
    volume.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=tz))
    prices.set_title(title)
    prices.set_ylabel("price")
    volume.set_ylabel("volume")
    for axes in (prices, volume):
        axes.grid(alpha=0.3)
    figure.savefig(path, format="png", dpi=100)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value
