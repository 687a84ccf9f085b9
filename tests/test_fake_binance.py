"""The fake exchange behaves as Binance documents: control messages, REST paging, aggTrades, weights and 429s."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
import zipfile
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import urllib3
from websockets.asyncio.client import connect

from collector import binance
from collector.archive import verify_checksum
from collector.rest import BinanceRest, WeightBudget
from fake_binance import FakeBinance, Scenario
from fake_binance.archive import MICROSECONDS_FROM_MS
from fake_binance.rest import RestApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(["BTCUSDT", "ETHUSDT"], first_id=500) as exchange:
        yield exchange


async def test_combined_stream_envelope_and_control_messages(fake: FakeBinance) -> None:
    async with connect(binance.combined_stream_url(fake.ws_url, ["BTCUSDT"])) as ws:
        await fake.wait_for_subscribers(1)
        await fake.play(Scenario(count=4, rate=1_000))
        messages = [orjson.loads(await ws.recv()) for _ in range(2)]
        assert [m["stream"] for m in messages] == ["btcusdt@trade", "btcusdt@trade"]
        assert [m["data"]["t"] for m in messages] == fake.ledger.ids("BTCUSDT")
        assert set(messages[0]["data"]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}

        answers = []
        for request in (
            {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 1},
            {"method": "LIST_SUBSCRIPTIONS", "id": 2},
            {"method": "SUBSCRIBE", "params": "ethusdt@trade", "id": 3},
            {"method": "SUBSCRIBE", "params": [], "id": 4, "extra": 1},
        ):
            await ws.send(orjson.dumps(request).decode())
            answers.append(orjson.loads(await ws.recv()))
        await ws.send("{not json")
        answers.append(orjson.loads(await ws.recv()))
        assert answers[0] == {"result": None, "id": 1}
        assert answers[1] == {"result": ["btcusdt@trade", "ethusdt@trade"], "id": 2}
        assert [a.get("code") for a in answers[2:]] == [1, 0, 3]


async def test_nested_control_errors_and_a_wrapped_server_shutdown(fake: FakeBinance) -> None:
    fake.nested_errors = True
    async with connect(binance.combined_stream_url(fake.ws_url, ["BTCUSDT"])) as ws:
        await fake.wait_for_subscribers(1)
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": "x", "id": 2}).decode())
        answer = orjson.loads(await ws.recv())
        fake.server_shutdown(close_after_s=0.5)
        notice = orjson.loads(await ws.recv())
    assert answer == {"error": {"code": 1, "msg": "Invalid value type: expected array of strings"}, "id": 2}
    assert notice["stream"] == "!serverShutdown" and notice["data"]["e"] == "serverShutdown"


async def test_more_than_five_messages_a_second_closes_the_connection(fake: FakeBinance) -> None:
    async with connect(binance.combined_stream_url(fake.ws_url, ["BTCUSDT"])) as ws:
        for i in range(6):
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1008


async def test_too_many_streams_are_refused(fake: FakeBinance) -> None:
    url = f"{fake.ws_url}/stream?streams=" + "/".join(f"s{i}usdt@trade" for i in range(1_025))
    with pytest.raises(Exception, match=r"HTTP 4(00|14)"):  # 414: the URL is over the server's line limit
        await connect(url)


async def test_rest_pages_through_history_and_maps_time_to_ids(fake: FakeBinance) -> None:
    await fake.play(Scenario(count=5_000, rate=50_000, burst_every=1_000, burst_size=300))
    rest = BinanceRest(fake.rest_url)
    ids: list[int] = []
    next_id = 500
    while next_id < fake.ledger.markets["BTCUSDT"].next_id:
        page = await rest.trades_from("BTCUSDT", next_id)
        ids += [t.t for t in page]
        next_id = ids[-1] + 1
    assert ids == fake.ledger.ids("BTCUSDT")
    market = fake.ledger.markets["BTCUSDT"]
    aggregates = await rest.get(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT", "startTime": str(market.times[100])})
    covered = [i for a in aggregates for i in range(a["f"], a["l"] + 1)]
    assert covered == list(range(covered[0], covered[0] + len(covered)))
    assert market.trade(covered[0]).time_ms >= market.times[100]
    assert any(a["l"] > a["f"] for a in aggregates)  # same-millisecond bursts aggregate
    assert await rest.trading_symbols() == ["BTCUSDT", "ETHUSDT"]
    rest.close()


async def test_429_is_honoured_and_the_client_never_earns_a_418(fake: FakeBinance) -> None:
    await fake.play(Scenario(count=10, rate=10_000))
    fake.rest.force_429(2, retry_after_s=1)
    rest = BinanceRest(fake.rest_url, budget=WeightBudget())
    page = await rest.trades_from("ETHUSDT", 500)
    assert [t.t for t in page] == fake.ledger.ids("ETHUSDT")
    assert rest.rate_limited == {429: 2}
    assert fake.rest.status_counts.get(418, 0) == 0
    rest.close()


def test_ignoring_a_429_earns_a_418_and_weights_are_reported() -> None:
    api = RestApi(FakeBinance(["BTCUSDT"]).ledger, weight_limit=50)
    statuses = [api.answer(binance.HISTORICAL_TRADES_PATH, {"symbol": "BTCUSDT"})[0] for _ in range(4)]
    assert statuses == [200, 200, 429, 418]
    status, headers, _ = api.answer(binance.AGG_TRADES_PATH, {"symbol": "NOPE"})
    assert (status, headers[binance.USED_WEIGHT_HEADER]) == (418, "75")
    fresh = RestApi(FakeBinance(["BTCUSDT"]).ledger)
    assert fresh.answer(binance.HISTORICAL_TRADES_PATH, {"symbol": "NOPE"})[:1] == (400,)
    assert orjson.loads(fresh.answer(binance.HISTORICAL_TRADES_PATH, {"symbol": "NOPE"})[2])["code"] == -1121


def test_weight_is_counted_per_client_ip_across_its_requests() -> None:
    api = RestApi(FakeBinance(["BTCUSDT"]).ledger, weight_limit=50)
    path, query = binance.HISTORICAL_TRADES_PATH, {"symbol": "BTCUSDT"}
    first = [api.answer(path, query, "10.0.0.1") for _ in range(2)]
    other = api.answer(path, query, "10.0.0.2")
    assert [(a[0], a[1][binance.USED_WEIGHT_HEADER]) for a in first] == [(200, "25"), (200, "50")]
    assert (other[0], other[1][binance.USED_WEIGHT_HEADER]) == (200, "25"), "another IP has its own 6,000"
    assert api.answer(path, query, "10.0.0.1")[0] == 429
    assert api.answer(path, query, "10.0.0.2")[0] == 200, "one IP's 429 bans no other"


async def test_agg_trade_streams_carry_the_aggregates_rest_serves(fake: FakeBinance) -> None:
    streams = "btcusdt@aggTrade/btcusdt@trade/ethusdt@aggTrade"
    async with connect(f"{fake.ws_url}/stream?streams={streams}", max_queue=None) as ws:
        await fake.wait_for_subscribers(2)
        await fake.play(Scenario(count=5_000, rate=50_000, burst_every=1_000, burst_size=300, agg_trades=True))
        expected = fake.aggregates_made + len(fake.ledger.ids("BTCUSDT"))
        messages = [orjson.loads(await ws.recv()) for _ in range(expected)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
    aggregates = [m["data"] for m in messages if m["stream"] == "btcusdt@aggTrade"]
    assert {m["stream"] for m in messages} == set(streams.split("/"))
    assert set(aggregates[0]) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
    rest = BinanceRest(fake.rest_url)
    served = await rest.get(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT", "fromId": "500", "limit": "1000"})
    rest.close()
    assert [{k: a[k] for k in served[0]} for a in aggregates[: len(served)]] == served
    assert [i for a in aggregates for i in range(a["f"], a["l"] + 1)] == fake.ledger.ids("BTCUSDT")
    assert any(a["l"] > a["f"] for a in aggregates)


def test_exchange_info_lists_price_and_lot_filters() -> None:
    status, _, body = RestApi(FakeBinance(["BTCUSDT"]).ledger).answer(binance.EXCHANGE_INFO_PATH, {})
    (symbol,) = orjson.loads(body)["symbols"]
    assert status == 200
    assert [f["filterType"] for f in symbol["filters"]] == ["PRICE_FILTER", "LOT_SIZE"]
    assert symbol["filters"][0]["tickSize"] == "0.01000000"


async def test_an_over_long_stream_url_is_refused_and_subscribe_respects_1024(fake: FakeBinance) -> None:
    symbols = [f"S{i:04d}USDT" for i in range(600)]
    with pytest.raises(Exception, match=r"HTTP 414"):
        await connect(binance.combined_stream_url(fake.ws_url, symbols))
    async with connect(binance.combined_stream_url(fake.ws_url, ["BTCUSDT"])) as ws:
        too_many = [binance.trade_stream(s) for s in (f"X{i:04d}USDT" for i in range(1_024))]
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": too_many, "id": 7}).decode())
        assert orjson.loads(await ws.recv())["code"] == 2


def test_data_api_mode_serves_no_historical_trades_and_statuses_are_listed() -> None:
    exchange = FakeBinance(["BTCUSDT", "ETHUSDT"])
    exchange.ledger.markets["ETHUSDT"].status = "HALT"
    data_api = RestApi(exchange.ledger, data_api=True)
    assert data_api.answer(binance.HISTORICAL_TRADES_PATH, {"symbol": "BTCUSDT"})[0] == 404
    assert data_api.answer(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT"})[0] == 200
    everything = orjson.loads(data_api.answer(binance.EXCHANGE_INFO_PATH, {})[2])["symbols"]
    trading = orjson.loads(data_api.answer(binance.EXCHANGE_INFO_PATH, {"symbolStatus": "TRADING"})[2])["symbols"]
    assert {s["symbol"]: s["status"] for s in everything} == {"BTCUSDT": "TRADING", "ETHUSDT": "HALT"}
    assert [s["symbol"] for s in trading] == ["BTCUSDT"]
    assert [m.symbol for m in exchange.ledger.trading()] == ["BTCUSDT"]


async def test_every_symbol_status_is_read_and_an_unknown_one_is_said(caplog: pytest.LogCaptureFixture) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "币安人生USDT"]
    async with FakeBinance(symbols) as exchange:
        for symbol, status in zip(
            symbols[1:], ["END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY", "PRE_TRADING"], strict=True
        ):
            exchange.ledger.markets[symbol].status = status
        rest = BinanceRest(exchange.rest_url)
        statuses = await rest.symbol_statuses()
        trading = await rest.trading_symbols()
        rest.close()
    assert statuses["币安人生USDT"] == "PRE_TRADING"
    assert trading == ["BTCUSDT"]
    assert [r.getMessage() for r in caplog.records].count("unknown symbol status in exchangeInfo") == 2


def ticker(api: RestApi, query: dict[str, str]) -> tuple[int, str, Any]:
    """Status, ``X-MBX-USED-WEIGHT-1M`` and JSON body of one ticker/24hr answer."""
    status, headers, body = api.answer(binance.TICKER_24H_PATH, query)
    return status, headers[binance.USED_WEIGHT_HEADER], orjson.loads(body)


def test_ticker_24hr_of_one_some_or_every_symbol_with_its_weights_and_no_lag() -> None:
    exchange = FakeBinance(["BTCUSDT", "ETHUSDT", "SOLUSDT"], first_id=500)
    exchange.prepare(Scenario(count=4, rate=1_000, symbols=("BTCUSDT", "ETHUSDT")))  # ids 500 and 501 each
    api = RestApi(exchange.ledger)
    api.lag_s = 3_600.0  # the trade endpoints lag; the ticker ("Data Source: Memory") does not
    btc = exchange.ledger.markets["BTCUSDT"]
    trades = [btc.trade(500), btc.trade(501)]
    status, used, one = ticker(api, {"symbol": "BTCUSDT"})
    assert (status, used) == (200, "2")
    assert {k: one[k] for k in ("symbol", "firstId", "lastId", "count", "lastPrice", "lastQty")} == {
        "symbol": "BTCUSDT", "firstId": 500, "lastId": 501, "count": 2, "lastPrice": trades[1].price,
        "lastQty": trades[1].qty,
    }  # fmt: skip
    assert one["openPrice"] == trades[0].price
    assert one["highPrice"] == max(t.price for t in trades) and one["lowPrice"] == min(t.price for t in trades)
    assert one["volume"] == f"{sum(float(t.qty) for t in trades):.8f}"
    assert one["closeTime"] - one["openTime"] == 86_400_000
    assert set(one) >= {"priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "quoteVolume"}
    status, used, some = ticker(api, {"symbols": '["BTCUSDT","SOLUSDT"]'})
    assert (status, used) == (200, "4")
    assert [(t["symbol"], t["firstId"], t["lastId"], t["count"]) for t in some] == [
        ("BTCUSDT", 500, 501, 2), ("SOLUSDT", -1, -1, 0),
    ], "no trade in 24 h: -1"  # fmt: skip
    status, used, every = ticker(api, {})
    assert (status, used) == (200, "84") and [t["symbol"] for t in every] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert api.answer(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT"})[2] == b"[]", "REST's trade pages lag"
    errors = [
        ticker(api, q)[2]["code"]
        for q in ({"symbols": '["BTCUSDT","NOPE"]'}, {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, {"symbols": "x"})
    ]
    assert errors == [-1121, -1128, -1100]


def test_ticker_24hr_weight_follows_the_number_of_symbols_asked() -> None:
    symbols = [f"S{i:04d}USDT" for i in range(101)]
    api = RestApi(FakeBinance(symbols).ledger)
    used = [int(ticker(api, {"symbols": orjson.dumps(symbols[:n]).decode()})[1]) for n in (1, 20, 21, 100, 101)]
    assert [b - a for a, b in zip([0, *used], used, strict=False)] == [2, 2, 40, 40, 80]
    assert [binance.ticker_weight(n) for n in (1, 20, 21, 100, 101, None)] == [2, 2, 40, 40, 80, 80]


async def test_the_collector_reads_every_symbol_s_newest_id_from_one_ticker_request() -> None:
    async with FakeBinance(["BTCUSDT", "ETHUSDT", "SOLUSDT"], first_id=500) as exchange:
        exchange.prepare(Scenario(count=5, rate=1_000, symbols=("BTCUSDT", "ETHUSDT")))
        rest = BinanceRest(exchange.rest_url)
        latest = await rest.latest_ids()
        rest.close()
    assert latest == {"BTCUSDT": 501, "ETHUSDT": 502}, "a symbol without a trade in 24 h is left out"
    assert exchange.rest.weight_spent == 80


def test_agg_trades_without_from_id_or_times_answer_the_newest_aggregates() -> None:
    exchange = FakeBinance(["BTCUSDT"], first_id=1)
    exchange.ledger.markets["BTCUSDT"].step_cents = 0  # one price: same-side runs within a millisecond aggregate
    exchange.prepare(Scenario(count=3_000, rate=1_000_000))
    api = RestApi(exchange.ledger)

    def aggregates(**query: str) -> Any:
        return orjson.loads(api.answer(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT", **query})[2])

    every: list[dict[str, Any]] = []
    while not every or every[-1]["l"] < 3_000:
        every += aggregates(fromId=str(every[-1]["l"] + 1 if every else 1))  # the fake: aggregate id = first id
    assert [i for a in every for i in range(a["f"], a["l"] + 1)] == list(range(1, 3_001))
    assert any(a["l"] > a["f"] for a in every)
    assert aggregates(limit="7") == every[-7:]
    assert aggregates() == every[-500:], "500 by default"
    start = exchange.ledger.markets["BTCUSDT"].times[0]
    too_long = {"startTime": str(start), "endTime": str(start + 3_600_000)}
    assert orjson.loads(api.answer(binance.AGG_TRADES_PATH, {"symbol": "BTCUSDT", **too_long})[2])["code"] == -1127


def test_a_429_waits_for_the_next_minute_and_ignoring_it_bans_for_2_minutes_then_4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_000_050.0]  # 30 s before a minute ends
    monkeypatch.setattr("fake_binance.rest.time", SimpleNamespace(time=lambda: clock[0]))
    api = RestApi(FakeBinance(["BTCUSDT"]).ledger, weight_limit=50)
    path, query = binance.HISTORICAL_TRADES_PATH, {"symbol": "BTCUSDT"}

    def ask(after_s: float) -> tuple[int, str | None]:
        clock[0] += after_s
        status, headers, _ = api.answer(path, query)
        return status, headers.get(binance.RETRY_AFTER_HEADER)

    assert [ask(0), ask(0), ask(0)] == [(200, None), (200, None), (429, "30")]
    assert ask(10) == (418, "120"), "asked again within the 429's Retry-After: banned"
    assert ask(60) == (418, "60"), "still banned once the 429's wait is over"
    assert ask(60)[0] == 200, "the ban is over, and so is the minute"
    assert [ask(0), ask(0), ask(1)] == [(200, None), (429, "20"), (418, "240")], "a second ban: twice as long"


def decode_trades_event(message: bytes) -> tuple[tuple[int, ...], tuple[int, ...], list[tuple[int, ...]], str]:
    """A ``TradesStreamEvent`` read by the schema's layout: header, root block, trades, symbol."""
    header = struct.unpack_from("<HHHH", message, 0)
    root = struct.unpack_from("<qqbb", message, 8)
    block, count = struct.unpack_from("<HI", message, 26)
    trades = [struct.unpack_from("<qqqB", message, 32 + i * block) for i in range(count)]
    end = 32 + count * block
    assert end + 1 + message[end] == len(message), "the symbol ends the message"
    return header, root, trades, message[end + 1 :].decode()


async def test_sbe_trade_streams_need_an_api_key_and_carry_binary_trades_events(fake: FakeBinance) -> None:
    with pytest.raises(Exception, match=r"HTTP 401"):
        await connect(f"{fake.sbe_url}/ws/btcusdt@trade")
    key = {binance.API_KEY_HEADER: "an-ed25519-api-key"}
    combined_url = f"{fake.sbe_url}/stream?streams=btcusdt@trade/ethusdt@trade"
    async with (
        connect(f"{fake.sbe_url}/ws/btcusdt@trade", additional_headers=key) as raw,
        connect(combined_url, additional_headers=key, max_queue=None) as combined,
    ):
        while len(fake.live()) < 2:
            await asyncio.sleep(0.01)
        await fake.play(Scenario(count=60, rate=100_000, burst_every=20, burst_size=8))
        events: list[bytes] = []
        while sum(len(decode_trades_event(e)[2]) for e in events) < len(fake.ledger.ids("BTCUSDT")):
            events.append(await asyncio.wait_for(raw.recv(), 10))  # type: ignore[arg-type]
        await combined.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 5}).decode())
        received = [await asyncio.wait_for(combined.recv(), 10)]
        while not isinstance(received[-1], str):  # the answer comes after the events sent before it
            received.append(await asyncio.wait_for(combined.recv(), 10))
        fake.server_shutdown(close_after_s=0.5)
        notices = [await asyncio.wait_for(ws.recv(), 10) for ws in (raw, combined)]
    market = fake.ledger.markets["BTCUSDT"]
    decoded = [decode_trades_event(e) for e in events]
    assert {header for header, _, _, _ in decoded} == {(18, 10_000, 1, 0)}, "TradesStreamEvent of schema 1:0"
    assert {symbol for _, _, _, symbol in decoded} == {"BTCUSDT"}
    trades = [(trade, root) for _, root, group, _ in decoded for trade in group]
    assert [t[0] for t, _ in trades] == fake.ledger.ids("BTCUSDT")
    for (trade_id, price, qty, maker), (event_us, transact_us, price_exponent, qty_exponent) in trades:
        made = market.trade(trade_id)
        assert (transact_us, event_us // 1_000_000) == (made.time_ms * 1000, made.time_ms // 1000), "microseconds"
        assert Decimal(made.price) == Decimal(price).scaleb(price_exponent), "an int64 mantissa and an exponent"
        assert Decimal(made.qty) == Decimal(qty).scaleb(qty_exponent)
        assert bool(maker) == made.buyer_maker
    assert any(len(group) > 1 for _, _, group, _ in decoded), "the trades of one time come as one group"
    both = [decode_trades_event(r)[3] for r in received[:-1]]  # type: ignore[arg-type]
    assert set(both) == {"BTCUSDT", "ETHUSDT"}, "a combined SBE stream: binary events, no envelope"
    assert orjson.loads(received[-1]) == {"result": ["btcusdt@trade", "ethusdt@trade"], "id": 5}, "text frames"
    assert [type(n) for n in notices] == [str, str]
    assert orjson.loads(notices[0])["e"] == "serverShutdown", "bare on a raw stream"
    assert orjson.loads(notices[1])["stream"] == "!serverShutdown", "wrapped on a combined stream"


async def test_raw_streams_and_microsecond_times_on_json_streams(fake: FakeBinance) -> None:
    async with (
        connect(f"{fake.ws_url}/ws/btcusdt@trade") as raw,
        connect(f"{fake.ws_url}/ws/btcusdt@trade?timeUnit=MICROSECOND") as raw_micro,
        connect(f"{fake.ws_url}/stream?streams=btcusdt@trade&timeUnit=microsecond") as micro,
    ):
        while len(fake.live()) < 3:
            await asyncio.sleep(0.01)
        await fake.play(Scenario(count=2, rate=1_000, symbols=("BTCUSDT",)))
        bare, bare_micro, wrapped = [
            [orjson.loads(await ws.recv()) for _ in range(2)] for ws in (raw, raw_micro, micro)
        ]
    trades = [fake.ledger.markets["BTCUSDT"].trade(i) for i in fake.ledger.ids("BTCUSDT")]
    assert [(m["t"], m["T"]) for m in bare] == [(t.id, t.time_ms) for t in trades]
    assert [(m["t"], m["T"]) for m in bare_micro] == [(t.id, t.time_ms * 1000) for t in trades]
    assert [m["data"] for m in wrapped] == bare_micro and {m["stream"] for m in wrapped} == {"btcusdt@trade"}
    assert [m["E"] // 1000 for m in bare_micro] == [m["E"] for m in bare]


async def test_rest_times_in_microseconds_on_request(fake: FakeBinance) -> None:
    await fake.play(Scenario(count=2, rate=1_000, symbols=("BTCUSDT",)))
    url = f"{fake.rest_url}{binance.AGG_TRADES_PATH}?symbol=BTCUSDT"
    answers = [
        orjson.loads((await asyncio.to_thread(urllib3.request, "GET", url, headers=headers)).data)
        for headers in ({}, {binance.TIME_UNIT_HEADER: "MICROSECOND"})
    ]
    assert (
        [a["T"] * 1000 for a in answers[0]]
        == [a["T"] for a in answers[1]]
        == [t * 1000 for t in fake.ledger.markets["BTCUSDT"].times]
    )


async def test_a_connection_ends_at_its_lifetime_and_attempts_are_limited_per_ip() -> None:
    async with FakeBinance(["BTCUSDT"], lifetime_s=0.5) as exchange:
        exchange.attempt_limit = 2
        async with connect(f"{exchange.ws_url}/ws/btcusdt@trade") as ws:
            await asyncio.wait_for(ws.wait_closed(), 10)
        assert (ws.close_code, ws.close_reason) == (1000, "connection lifetime")
        async with connect(f"{exchange.ws_url}/ws/btcusdt@trade"):
            pass
        with pytest.raises(Exception, match=r"HTTP 429"):
            await connect(f"{exchange.ws_url}/ws/btcusdt@trade")


async def test_daily_and_monthly_trade_archives_of_the_ledger_in_either_time_unit(tmp_path: Path) -> None:
    new_year = MICROSECONDS_FROM_MS  # 2025-01-01: archive times in microseconds from then on
    times = [new_year - 86_400_000 + 5, new_year - 1, new_year, new_year + 7]
    async with FakeBinance(["BTCUSDT"], first_id=10) as exchange:
        market = exchange.ledger.markets["BTCUSDT"]
        made = [market.make(t) for t in times]
        folder = f"{exchange.data_url}/data/spot"
        files = {
            "BTCUSDT-trades-2024-12-31.zip": f"{folder}/daily/trades/BTCUSDT/BTCUSDT-trades-2024-12-31.zip",
            "BTCUSDT-trades-2025-01-01.zip": f"{folder}/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-01.zip",
            "BTCUSDT-trades-2024-12.zip": f"{folder}/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-12.zip",
        }
        for name, url in files.items():
            for suffix in ("", ".CHECKSUM"):
                answer = await asyncio.to_thread(urllib3.request, "GET", url + suffix)
                assert answer.status == 200
                (tmp_path / (name + suffix)).write_bytes(answer.data)
        missing = [
            (await asyncio.to_thread(urllib3.request, "GET", f"{folder}/{path}")).status
            for path in (
                "daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-02.zip",  # no trade that day
                "daily/trades/ETHUSDT/ETHUSDT-trades-2025-01-01.zip",  # no such symbol
                "monthly/trades/BTCUSDT/BTCUSDT-trades-2024-12-31.zip",  # a day under monthly
            )
        ]
    assert missing == [404, 404, 404]
    rows = {}
    for name in files:
        assert verify_checksum(tmp_path / name), "the CHECKSUM is the archive's SHA-256"
        with zipfile.ZipFile(tmp_path / name) as z:
            (member,) = z.namelist()
            assert member == name.replace(".zip", ".csv")
            rows[name] = list(csv.reader(io.StringIO(z.read(member).decode())))
    expected = [
        [str(t.id), t.price, t.qty, f"{float(t.price) * float(t.qty):.8f}", str(when), str(t.buyer_maker), "True"]
        for t, when in zip(made, [times[0], times[1], times[2] * 1000, times[3] * 1000], strict=True)
    ]
    assert rows["BTCUSDT-trades-2024-12-31.zip"] == expected[:2], "milliseconds up to 2024"
    assert rows["BTCUSDT-trades-2025-01-01.zip"] == expected[2:], "microseconds from 2025"
    assert rows["BTCUSDT-trades-2024-12.zip"] == expected[:2]
