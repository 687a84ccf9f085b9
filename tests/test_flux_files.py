"""Every ``.flux`` file runs as its own header says: its example ``params`` record pasted where the comment says
(below the imports), sent to the real influxd's ``/api/v2/query`` as the InfluxDB UI and the ``influx`` CLI send
it. A new ``.flux`` file with an example is covered by default."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pricecap.influx import connect
from pricecap.settings import InfluxSettings

pytestmark = pytest.mark.integration
QUERIES = Path(__file__).resolve().parents[1] / "queries"
WHERE = "below the imports"
EXAMPLES = sorted(p for p in QUERIES.glob("*.flux") if "params = {" in p.read_text())


def example_params(text: str) -> str:
    """The ``params = {...}`` record of the header comment, on one line (it may span comment lines)."""
    comment = [line.removeprefix("//").strip() for line in text.splitlines() if line.startswith("//")]
    start = next(i for i, line in enumerate(comment) if line.startswith("params = {"))
    record = ""
    for line in comment[start:]:
        record += (" " if record else "") + line
        if record.count("{") == record.count("}"):
            return record
    raise AssertionError("the params record is not closed")


def pasted(text: str) -> str:
    """The file with its example params record pasted below its imports, as a user does in the UI."""
    lines = text.splitlines()
    imports = [i for i, line in enumerate(lines) if line.startswith("import ")]
    at = imports[-1] + 1 if imports else 0
    return "\n".join([*lines[:at], example_params(text), *lines[at:]]) + "\n"


@pytest.fixture(scope="module")
def ui(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """The session server with the buckets the examples name (``trades``, ``trades_candles``)."""
    assert server_settings.bucket == "trades"
    with connect(server_settings) as client:
        buckets = client.buckets_api()
        candles = buckets.find_bucket_by_name("trades_candles")
        created = None if candles else buckets.create_bucket(bucket_name="trades_candles", org=server_settings.org)
        try:
            yield server_settings
        finally:
            if created is not None:
                buckets.delete_bucket(created)


def test_the_examples_are_found() -> None:
    assert {"price_at.flux", "candles.flux", "high_low.flux", "known_symbols.flux"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_file_runs_with_its_example_params_pasted_where_its_comment_says(ui: InfluxSettings, path: Path) -> None:
    text = path.read_text()
    assert WHERE in text, f"{path.name}: the header should say where the params record goes"
    token, org = ui.require_credentials()
    request = urllib.request.Request(  # noqa: S310  the test server, http
        f"{ui.url}/api/v2/query?org={org}",
        data=orjson.dumps({"query": pasted(text), "type": "flux"}),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/csv"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    assert status == 200, f"{path.name}: HTTP {status}: {body}"
    assert "error" not in body.splitlines()[0:1], body
