"""The audit: per market and period, which trade ids InfluxDB holds, proved from aggregates where it can.

Binance's trade ids are consecutive per market, so completeness is checkable from the data alone. One query
(audit.flux) gives per market and period the count, lowest, highest and sum of the stored ids, all pushed down
into InfluxDB's storage engine. A period whose aggregates prove it (:meth:`queries.coverage.Window.proved`)
costs nothing more. Only a period that fails is narrowed: its hours, then the minutes of a failing hour, and
only a failing minute's raw ids come to the client. So the cost grows with the holes, not with the trades,
and the client's memory with the holes too. The trades next to the range (audit_edges.flux) show missing ids at
its first and last ids, and the exchange gaps (exchange_gaps.flux) what Binance itself does not have; the
sweep of :mod:`queries.coverage` turns it all into ranges per period.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from pricecap import flux, model, times
from pricecap.errors import NoDataError
from queries.coverage import IdRange, Piece, Window, merged, pieces_of_ids, sweep
from queries.models import AuditPeriod
from queries.runner import Runner

T = TypeVar("T")
R = TypeVar("R")
GRAIN_NS = {"1d": times.UNIT_NS["d"], "1h": times.UNIT_NS["h"], "1m": times.UNIT_NS["m"]}
"""The windows the audit reads aggregates of: its periods (1d, 1h), and 1m on the way to raw ids."""
EVERY = ("1d", "1h")
AGGREGATES = ("count", "first", "last", "sum")
"""The rows of audit.flux per window."""
FINER = {"1d": "1h", "1h": "1m"}
"""Where a window that fails its proof is narrowed to; a failing minute's raw ids are read."""
REQUESTS_IN_FLIGHT = 3
"""Queries sent at once (one per market named, or per window narrowed): influxd runs them in parallel."""
BATCH = 20
"""Windows narrowed (or read raw) per request: Flux plans a request in a time that grows faster than its parts."""
ONE_QUERY_FROM = 10
"""From this many markets named, one query asks every market of the exchange and the others are left out."""


def window_stop(start_ns: int, grain: str, stop_ns: int) -> int:
    """The end of the window of ``grain`` (UTC-aligned, as aggregateWindow makes them) that starts at
    ``start_ns``, within the range that ends at ``stop_ns``."""
    length = GRAIN_NS[grain]
    return min(stop_ns, (start_ns // length + 1) * length)


def windows_of(symbol: str, records: Iterable[dict[str, Any]], grain: str, stop_ns: int) -> list[Window]:
    """The windows in the rows of audit.flux (``symbol`` "" takes each row's own)."""
    values: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    for row in records:
        values[(symbol or str(row["symbol"]), int(row["start_ns"]))][str(row["name"])] = int(row["value"])
    return [
        Window(name, start, window_stop(start, grain, stop_ns), v["count"], v["first"], v["last"], v["sum"])
        for (name, start), v in sorted(values.items())
        if v.get("count") and len(v) == len(AGGREGATES)  # a window of deleted points only may count 0, no more
    ]


class Auditor:
    """Audits one bucket of one exchange through a :class:`queries.runner.Runner`."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def audit(
        self,
        symbols: Sequence[str],
        start_ns: int,
        stop_ns: int,
        every: str = "1d",
        earliest_ns: int = times.EARLIEST_NS,
        look_after: bool = True,
    ) -> list[AuditPeriod]:
        """Per market (every one of the exchange when ``symbols`` is empty) and period of ``every`` in
        ``[start_ns, stop_ns)`` holding trades: what it holds and lacks, by id.

        The last trade before the range is looked for from ``earliest_ns`` on; with ``look_after``, the first
        trade after it shows the ids missing after its last trade (which then count in its last period; without,
        they count in the period after the range, as an audit of that period finds them).

        Raises NoDataError when the range holds no trade of them.
        """
        if every not in EVERY:
            raise ValueError(f"every must be one of {', '.join(EVERY)}")
        names = sorted(set(symbols))
        periods = self._windows_of_symbols(names, start_ns, stop_ns, every)
        if not periods:
            which = ", ".join(names) or f"exchange {self.runner.exchange!r}"
            raise NoDataError(f"no trade of {which} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})")
        pieces = self._pieces(periods, every)
        edges = self._edges(names, earliest_ns, start_ns, stop_ns)
        if not look_after:
            for symbol_edges in edges.values():
                symbol_edges.pop("after", None)
        gaps = self.exchange_gaps(names)
        reports = []
        for symbol in sorted({w.symbol for w in periods}):
            before, after = self._exact_edges(symbol, pieces[symbol], edges.get(symbol, {}), start_ns, stop_ns)
            found = sweep(pieces[symbol], before, after, gaps.get(symbol, []))
            for window in (w for w in periods if w.symbol == symbol):
                findings = found.get(window.start_ns)
                reports.append(
                    AuditPeriod(
                        symbol,
                        window.start_ns,
                        window.stop_ns,
                        window.count,
                        window.first,
                        window.last,
                        *(
                            (tuple(merged(findings.missing)), tuple(findings.doubled), tuple(findings.exchange_gaps))
                            if findings
                            else ()
                        ),
                    )
                )
        return reports

    def exchange_gaps(self, symbols: Sequence[str] = ()) -> dict[str, list[IdRange]]:
        """Per market, the ranges of ids Binance does not have (exchange_gaps points), merged and sorted."""
        wanted = set(symbols)
        found: dict[str, list[IdRange]] = defaultdict(list)
        for record in self.runner.run("exchange_gaps", {"symbol": symbols[0] if len(symbols) == 1 else ""}):
            # one market's gaps, or every market's (few: they are rare) left to pick from
            symbol = str(record.values["symbol"])
            if not wanted or symbol in wanted:
                found[symbol].append((int(record.values["first_id"]), int(record.values["last_id"])))
        return {symbol: merged(ranges) for symbol, ranges in found.items()}

    def _windows(self, symbol: str, start_ns: int, stop_ns: int, grain: str) -> list[Window]:
        """audit.flux for one market (``""``: every one) over ``[start_ns, stop_ns)`` in windows of ``grain``."""
        values: dict[str, flux.FluxValue] = {
            "symbol": symbol,
            "start": flux.Time(start_ns),
            "stop": flux.Time(stop_ns),
            "every": flux.CalendarDuration(1, grain[-1]),
        }
        records = (record.values for record in self.runner.run("audit", values))
        return windows_of(symbol, records, grain, stop_ns)

    def _windows_of_symbols(self, names: Sequence[str], start_ns: int, stop_ns: int, every: str) -> list[Window]:
        """The periods of the markets named, one query each (of every market in one query when none is)."""
        found = in_parallel(lambda name: self._windows(name, start_ns, stop_ns, every), scope(names))
        wanted = set(names)
        return [window for windows in found for window in windows if not wanted or window.symbol in wanted]

    def _pieces(self, periods: Sequence[Window], every: str) -> dict[str, list[Piece]]:
        """Per market, the ids its points cover: proved windows as they are, the others narrowed (hours,
        minutes) down to the raw ids of the minutes that fail."""
        pieces: dict[str, list[Piece]] = defaultdict(list)
        unproved = [(window, every, window.start_ns) for window in periods]
        while unproved:
            narrowing: list[tuple[Window, str, int]] = []
            for window, grain, period_ns in unproved:
                if window.proved():
                    pieces[window.symbol].append(Piece(window.first, window.last, period_ns))
                else:
                    narrowing.append((window, grain, period_ns))
            finer = [(w, FINER[g], p) for w, g, p in narrowing if g in FINER]
            unproved = self._narrowed(finer)
            raw = [(w, p) for w, g, p in narrowing if g not in FINER]
            for symbol, ids in self._ids(raw).items():
                for period_ns, minute in ids.items():
                    pieces[symbol] += pieces_of_ids(minute, period_ns)
        return pieces

    def _narrowed(self, jobs: Sequence[tuple[Window, str, int]]) -> list[tuple[Window, str, int]]:
        """The finer windows of each (window, finer grain, period) job, with the job's grain and period:
        audit_narrow.flux, ``BATCH`` windows of one grain per request."""
        found: list[tuple[Window, str, int]] = []
        for grain in sorted({g for _, g, _ in jobs}):
            same = [(w, p) for w, g, p in jobs if g == grain]
            owners = Owners(same)

            def narrow(batch: Sequence[tuple[Window, int]], grain: str = grain) -> list[Window]:
                values: dict[str, flux.FluxValue] = {
                    "every": flux.CalendarDuration(1, grain[-1]),
                    "windows": spans(batch),
                }
                return windows_of(
                    "", (r.values for r in self.runner.run("audit_narrow", values)), grain, times.LATEST_NS
                )

            for windows in in_parallel(narrow, batches(same)):
                for window in windows:
                    owner, period_ns = owners.of(window.symbol, window.start_ns)
                    stop = min(window.stop_ns, owner.stop_ns)
                    found.append((replace(window, stop_ns=stop), grain, period_ns))
        return found

    def _ids(self, jobs: Sequence[tuple[Window, int]]) -> dict[str, dict[int, list[int]]]:
        """Per market and period, the raw ids stored in the windows of ``jobs`` (window, period): audit_ids.flux,
        ``BATCH`` windows per request."""
        owners = Owners(jobs)
        found: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))

        def read(batch: Sequence[tuple[Window, int]]) -> list[Any]:
            return self.runner.run("audit_ids", {"windows": spans(batch)})

        for records in in_parallel(read, batches(jobs)):
            for r in records:
                symbol = str(r.values["symbol"])
                found[symbol][owners.of(symbol, int(r.values["time_ns"]))[1]].append(int(r.values["trade_id"]))
        return found

    def _raw_ids(self, symbol: str, start_ns: int, stop_ns: int) -> list[int]:
        """The raw ids of one market in ``[start_ns, stop_ns)`` (a millisecond next to the range)."""
        span = Window(symbol, start_ns, stop_ns, 0, 0, 0, 0)
        return [i for ids in self._ids([(span, 0)]).get(symbol, {}).values() for i in ids]

    def _edges(
        self, names: Sequence[str], earliest_ns: int, start_ns: int, stop_ns: int
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """Per market, ``before``: (id, time ns) of its last point in ``[earliest_ns, start_ns)``, ``after``: its
        first one from ``stop_ns`` on (each absent when there is none)."""

        def edges(name: str) -> list[Any]:
            values: dict[str, flux.FluxValue] = {
                "symbol": name,
                # never an empty range, which Flux refuses: an audit from the earliest or to the latest time
                "earliest": flux.Time(min(earliest_ns, start_ns - 1)),
                "start": flux.Time(start_ns),
                "stop": flux.Time(stop_ns),
                "latest": flux.Time(max(times.LATEST_NS, stop_ns + 1)),
            }
            return self.runner.run("audit_edges", values)

        found: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        for records in in_parallel(edges, scope(names)):
            for r in records:
                found[str(r.values["symbol"])][str(r.values["name"])] = (int(r["trade_id"]), int(r["time_ns"]))
        return found

    def _exact_edges(
        self, symbol: str, pieces: Sequence[Piece], edges: dict[str, tuple[int, int]], start_ns: int, stop_ns: int
    ) -> tuple[int | None, int | None]:
        """The last id before the range and the first after it. last() and first() pick by time, and inside one
        millisecond time order is not id order where ids cross a multiple of 1,000,000: where the pick leaves ids
        missing next to it, the millisecond's raw ids decide."""
        before, after = edges.get("before"), edges.get("after")
        lowest, highest = min(p.first for p in pieces), max(p.last for p in pieces)
        before_id = after_id = None
        if before is not None:
            before_id = before[0]
            if lowest > before_id + 1:
                ms = before[1] - before[1] % model.NS_PER_MS
                before_id = max(self._raw_ids(symbol, ms, min(ms + model.NS_PER_MS, start_ns)), default=before_id)
        if after is not None:
            after_id = after[0]
            if highest < after_id - 1:
                ms = after[1] - after[1] % model.NS_PER_MS
                after_id = min(self._raw_ids(symbol, max(ms, stop_ns), ms + model.NS_PER_MS), default=after_id)
        return before_id, after_id


def last_audited_hour(runner: Runner) -> tuple[int, int, int, int] | None:
    """The newest hour the collectors' hourly audit wrote completeness points for (in the last 7 days): its start
    (ns), the markets audited, the ids missing and the exchange gap ids over them; None when there is none."""
    rows = [record.values for record in runner.run("completeness_last", {})]
    if not rows:
        return None
    hour = max(int(row["hour_ns"]) for row in rows)
    newest = [row for row in rows if int(row["hour_ns"]) == hour]
    total = {
        name: sum(int(row["value"]) for row in newest if row["name"] == name) for name in ("missing", "exchange_gap")
    }
    return hour, len({row["symbol"] for row in newest}), total["missing"], total["exchange_gap"]


class Owners:
    """Which job (window, period) a row of a batched request belongs to, by its market and time."""

    def __init__(self, jobs: Sequence[tuple[Window, int]]) -> None:
        self._jobs: dict[str, list[tuple[Window, int]]] = defaultdict(list)
        for job in sorted(jobs, key=lambda j: j[0].start_ns):
            self._jobs[job[0].symbol].append(job)
        self._starts = {symbol: [w.start_ns for w, _ in jobs] for symbol, jobs in self._jobs.items()}

    def of(self, symbol: str, at_ns: int) -> tuple[Window, int]:
        """The job of ``symbol`` whose window holds ``at_ns``."""
        return self._jobs[symbol][bisect_right(self._starts[symbol], at_ns) - 1]


def spans(jobs: Sequence[tuple[Window, int]]) -> list[dict[str, flux.FluxValue]]:
    """The ``windows`` parameter of audit_narrow.flux and audit_ids.flux."""
    return [{"symbol": w.symbol, "start": flux.Time(w.start_ns), "stop": flux.Time(w.stop_ns)} for w, _ in jobs]


def batches(jobs: Sequence[T]) -> list[Sequence[T]]:
    """``jobs`` in requests of at most ``BATCH``, spread over ``REQUESTS_IN_FLIGHT`` requests at least (influxd
    runs one request on one core)."""
    size = max(1, min(BATCH, -(-len(jobs) // REQUESTS_IN_FLIGHT)))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def scope(names: Sequence[str]) -> list[str]:
    """The ``symbol`` of each query that asks about ``names``: each name, or "" (every market) for none or many."""
    return list(names) if 0 < len(names) < ONE_QUERY_FROM else [""]


def in_parallel(call: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
    """``call`` of each job, ``REQUESTS_IN_FLIGHT`` at a time, in the jobs' order."""
    if len(jobs) <= 1:
        return [call(job) for job in jobs]
    with ThreadPoolExecutor(min(REQUESTS_IN_FLIGHT, len(jobs))) as pool:
        return list(pool.map(call, jobs))
