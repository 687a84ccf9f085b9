"""Group commit's spacing of idle write requests (collector/service.py), without I/O."""

from __future__ import annotations

import pytest

from collector.service import idle_spacing

LINGER_S, FLUSH_S = 0.02, 1.0


@pytest.mark.parametrize(
    ("trades", "seconds", "spacing"),
    [
        (1, 30.0, 0.02),  # the first trade after a quiet spell: the next request may follow a linger later
        (4, 0.02, 0.02),  # 200 trades/s keep the linger, and the latency it gives
        (5, 0.02, 0.02),  # 250 trades/s still
        (20, 0.02, 0.08),  # 1,000 trades/s: four lingers apart, about 12 requests a second
        (200, 0.1, 0.16),  # 2,000 trades/s: eight lingers apart
        (3_125, 0.25, 1.0),  # 12,500 trades/s: the flush interval (chunks of 10,000 fill before it)
        (10_000, 0.2, 1.0),  # 50,000 trades/s: at most the flush interval (full chunks go out anyway)
    ],
)
def test_idle_requests_grow_further_apart_as_the_flow_grows(trades: int, seconds: float, spacing: float) -> None:
    assert idle_spacing(trades, seconds, LINGER_S, FLUSH_S) == pytest.approx(spacing)


def test_no_linger_means_no_spacing_whatever_the_flow() -> None:
    assert idle_spacing(50_000, 1.0, 0.0, FLUSH_S) == 0.0
