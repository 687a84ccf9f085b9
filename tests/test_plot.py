"""``pricecap candles --plot``: the candles drawn into a PNG file with matplotlib (the optional extra [plot])."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricecap.errors import PricecapError
from pricecap.model import Trade
from pricecap.settings import InfluxSettings
from queries.models import Candle
from queries.plot import plot_candles
from tests.helpers import bucket_with, environment_of, pricecap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T = 1_764_064_800_000  # 2025-11-25T10:00:00.000Z
MINUTE_NS = 60 * 10**9


def is_png(path: Path) -> bool:
    """A non-empty file that starts as a PNG does."""
    return path.stat().st_size > len(PNG_MAGIC) and path.read_bytes()[: len(PNG_MAGIC)] == PNG_MAGIC


@pytest.fixture
def matplotlib_installed() -> None:
    """matplotlib is in the dev extra, so CI has it (a skip fails there)."""
    pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def env(server_settings: InfluxSettings) -> Iterator[dict[str, str]]:
    trades = [
        Trade("BTCUSDT", 10 + i, f"{97_000 + (i * 13) % 29}", "0.5", T + i * 7_000, i % 2 == 0) for i in range(40)
    ]
    with bucket_with(server_settings, "plot", trades) as settings:
        yield environment_of(settings)


@pytest.mark.integration
@pytest.mark.usefixtures("matplotlib_installed")
def test_candles_plot_writes_a_png(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    args = ("candles", "BTCUSDT", "--from", "2025-11-25T10:00Z", "--to", "2025-11-25T10:06Z", "--every", "1m")
    result = pricecap(*args, "--plot", str(out), "--config", "/dev/null", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + 6, "the table is printed as without --plot"
    assert is_png(out)


@pytest.mark.usefixtures("matplotlib_installed")
def test_plot_with_empty_and_flat_windows(tmp_path: Path) -> None:
    start = T * 10**6
    candles = [
        Candle(start, start + MINUTE_NS, 10.0, 12.0, 9.5, 11.0, 3.0, 4),
        Candle(start + MINUTE_NS, start + 2 * MINUTE_NS, None, None, None, None, 0.0, 0),
        Candle(start + 2 * MINUTE_NS, start + 3 * MINUTE_NS, 11.0, 11.0, 11.0, 11.0, 1.0, 1),
        Candle(start + 3 * MINUTE_NS, start + 4 * MINUTE_NS, 11.0, 11.5, 8.0, 8.5, 2.0, 2),
    ]
    out = tmp_path / "candles.png"
    plot_candles(candles, "TEST", out, "Europe/Berlin")
    assert is_png(out)


def test_plot_without_matplotlib_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.dates", None)
    with pytest.raises(PricecapError, match=r"^--plot needs matplotlib: pip install 'pricecap\[plot\]'$"):
        plot_candles([], "TEST", tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()
