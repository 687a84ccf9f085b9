"""The data model: timestamps, escaping, and the line protocol of a trade."""

from __future__ import annotations

import pytest

from pricecap import model
from pricecap.model import (
    Trade,
    decimal_ok,
    encode_trade,
    escape_tag,
    series_prefix,
    time_ms_of,
    timestamp_ns,
)


def trade(**overrides: object) -> Trade:
    values: dict[str, object] = {
        "symbol": "BTCUSDT",
        "trade_id": 4_211_837_123,
        "price": "97012.50000000",
        "qty": "0.00120000",
        "time_ms": 1_732_500_000_123,
        "buyer_maker": True,
    }
    values.update(overrides)
    return Trade(**values)  # type: ignore[arg-type]


def test_encodes_one_trade_as_one_line() -> None:
    assert encode_trade(trade()) == (
        "trades,exchange=binance,symbol=BTCUSDT "
        "price=97012.50000000,qty=0.00120000,trade_id=4211837123i,buyer_maker=true "
        "1732500000123837123"
    )
    assert encode_trade(trade(buyer_maker=False)).split(" ")[1].endswith("buyer_maker=false")


def test_timestamp_truncates_to_the_trade_time_and_carries_the_id() -> None:
    ts = timestamp_ns(1_732_500_000_123, 4_211_837_123)
    assert ts == 1_732_500_000_123_837_123
    assert time_ms_of(ts) == 1_732_500_000_123


def test_same_millisecond_trades_get_distinct_timestamps_in_id_order() -> None:
    ids = range(7_999_500, 7_999_500 + 500)
    stamps = [timestamp_ns(1_700_000_000_000, i) for i in ids]
    assert len(set(stamps)) == 500
    assert stamps == sorted(stamps)
    assert {time_ms_of(s) for s in stamps} == {1_700_000_000_000}


def test_order_within_a_millisecond_breaks_only_where_ids_cross_a_million() -> None:
    before, after = timestamp_ns(5, 1_999_999), timestamp_ns(5, 2_000_000)
    assert after < before  # the documented exception: order by trade_id there
    assert time_ms_of(before) == time_ms_of(after) == 5


def test_same_trade_always_gets_the_same_line() -> None:
    assert encode_trade(trade()) == encode_trade(trade())


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("BTCUSDT", "BTCUSDT"), ("A B", "A\\ B"), ("a,b", "a\\,b"), ("k=v", "k\\=v"), ("x\\y", "x\\\\y")],
)
def test_tag_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped
    assert series_prefix("binance", raw) == f"trades,exchange=binance,symbol={escaped} "


@pytest.mark.parametrize("bad", ["", "a\nb"])
def test_unwritable_tag_values_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="tag value"):
        escape_tag(bad)


@pytest.mark.parametrize(
    "text", ["0.00123400", "97012.45000000", "1", "123456789.12345678", "0.00000001", "30000.00000000"]
)
def test_exchange_decimals_are_written_verbatim_and_round_trip(text: str) -> None:
    assert decimal_ok(text)
    line = encode_trade(trade(price=text))
    written = line.split(" ")[1].split(",")[0].removeprefix("price=")
    assert written == text
    assert float(written) == float(text)
    assert float(repr(float(written))) == float(text)


@pytest.mark.parametrize(
    "text",
    ["", "0", "0.00000000", "-1", "+1", "1e5", "1E-3", "nan", "inf", "1.", ".5", " 1", "1 ", "1_000", "1,5",
     "0x10", "١٢", "1.2.3", "9" * 41],
)  # fmt: skip
def test_anything_but_a_positive_plain_decimal_is_refused(text: str) -> None:
    assert not decimal_ok(text)
    with pytest.raises(ValueError, match="price"):
        encode_trade(trade(price=text))


def test_negative_ids_and_times_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_trade(trade(trade_id=-1))
    with pytest.raises(ValueError, match="negative"):
        encode_trade(trade(time_ms=-1))


def test_the_model_has_two_tags_and_four_fields() -> None:
    assert model.FIELDS == ("price", "qty", "trade_id", "buyer_maker")
    assert series_prefix("binance", "ETHUSDT").count("=") == 2


def test_the_health_point_is_tagged_with_the_instance_and_the_shard() -> None:
    line = model.encode_health("host a", {"written": 3, "lag_s": 0.5}, 7, shard="1/3")
    assert line == "collector_health,instance=host\\ a,shard=1/3 written=3i,lag_s=0.5 7"
    assert model.encode_health("h", {"healthy": 1}, 7).startswith("collector_health,instance=h,shard=0/1 ")
