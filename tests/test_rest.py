"""The REST client against the fake exchange's faults: HTML error pages, 403 pauses, 451."""

from __future__ import annotations

import logging

import pytest

from collector.rest import BinanceRest, RestError
from fake_binance import FakeBinance, Scenario


async def test_html_error_pages_are_retried_and_a_403_pauses_requests() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=10, rate=1_000))
        fake.rest.html_errors(every=2)  # 403, then 502, on every 2nd request
        rest = BinanceRest(fake.rest_url)
        answers = [await rest.latest_id("BTCUSDT") for _ in range(3)]
        trades = await rest.trades_from("BTCUSDT", 100)
        rest.close()
    assert answers == [109, 109, 109]
    assert [t.t for t in trades] == list(range(100, 110))
    assert fake.rest.status_counts.get(403) and fake.rest.status_counts.get(502)
    assert rest.rate_limited[403] >= 1, "the 403 paused requests"
    assert rest.errors >= 1, "the 502 was retried"


async def test_a_stretch_of_html_pages_is_outlasted() -> None:
    async with FakeBinance(["BTCUSDT"], first_id=100) as fake:
        fake.prepare(Scenario(count=10, rate=1_000))
        fake.rest.html_stretch(2.5)
        rest = BinanceRest(fake.rest_url)
        answer = await rest.latest_id("BTCUSDT")
        rest.close()
    assert answer == 109
    assert fake.rest.status_counts.get(502, 0) >= 2


async def test_451_is_an_error_said_once(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeBinance(["BTCUSDT"]) as fake:
        fake.rest.restricted = True
        rest = BinanceRest(fake.rest_url)
        for _ in range(2):
            with caplog.at_level(logging.ERROR), pytest.raises(RestError, match="restricted location"):
                await rest.latest_id("BTCUSDT")
        rest.close()
    assert fake.rest.status_counts == {451: 2}, "not retried"
    assert len([r for r in caplog.records if "HTTP 451" in r.getMessage()]) == 1
