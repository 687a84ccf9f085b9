"""Which trade ids a market's stored points cover, from window aggregates and raw ids: pure functions, no I/O.

Binance's trade ids are consecutive per market. A window whose aggregates prove it (:meth:`Window.proved`)
covers its ids from first to last once each; a window that does not is narrowed by the audit until its raw ids
are read. Both become :class:`Piece` s, and one sweep over them in id order names the ids no piece covers
(missing) and the ids covered more than once (doubled), whatever windows, periods or times they lie in.

Ids missing between two stored trades are reported in the period of the trade *after* them: that period owns
the ids after the last id of the period before (which is where the audit's before-edge and an exchange gap's
timestamp put them too). Missing ids after the range's last stored trade (seen from the first trade after the
range) go to the period of that last trade.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

IdRange = tuple[int, int]
"""Trade ids ``first..last``, inclusive."""
WRAP = 2**64
"""InfluxDB sums integers in 64 bits: sums are compared modulo this."""


@dataclass(frozen=True, slots=True)
class Window:
    """The aggregates of one market's trade ids in ``[start_ns, stop_ns)`` (count, lowest, highest, sum)."""

    symbol: str
    start_ns: int
    stop_ns: int
    count: int
    first: int
    last: int
    total: int

    def proved(self) -> bool:
        """True when the window holds each id from ``first`` to ``last`` exactly once: as many points as ids, and
        the sum of that run (a doubled id could hide a missing one only if the two sum alike)."""
        run = self.last - self.first + 1
        return self.count == run and (self.total - (self.first + self.last) * run // 2) % WRAP == 0


@dataclass(frozen=True, slots=True)
class Piece:
    """Ids ``first..last``, each stored once, in the period that starts at ``period_ns``."""

    first: int
    last: int
    period_ns: int


def pieces_of_ids(ids: Iterable[int], period_ns: int) -> Iterator[Piece]:
    """Raw trade ids (any order, repeats kept) as runs of consecutive ids; a repeat starts a run of its own."""
    ordered = sorted(ids)
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            yield Piece(ordered[start], ordered[i - 1], period_ns)
            start = i


@dataclass
class Findings:
    """What one period of one market lacks or holds twice; ranges in id order."""

    missing: list[IdRange] = field(default_factory=list)
    """Ids neither stored nor exchange gaps."""
    doubled: list[IdRange] = field(default_factory=list)
    """Ids stored more than once (a range appears once per extra copy)."""
    exchange_gaps: list[IdRange] = field(default_factory=list)
    """Ids Binance itself does not have."""


def size(ranges: Iterable[IdRange]) -> int:
    """How many ids the ranges hold."""
    return sum(last - first + 1 for first, last in ranges)


def merged(ranges: Iterable[IdRange]) -> list[IdRange]:
    """The ranges sorted, overlapping and adjacent ones joined."""
    out: list[IdRange] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def split(hole: IdRange, gaps: Sequence[IdRange]) -> tuple[list[IdRange], list[IdRange]]:
    """``hole`` split into (ids that are exchange gaps, the others); ``gaps`` merged and sorted."""
    inside: list[IdRange] = []
    outside: list[IdRange] = []
    at, last = hole
    for gap_first, gap_last in gaps:
        if gap_last < at or gap_first > last:
            continue
        if gap_first > at:
            outside.append((at, gap_first - 1))
        inside.append((max(at, gap_first), min(last, gap_last)))
        at = gap_last + 1
        if at > last:
            break
    if at <= last:
        outside.append((at, last))
    return inside, outside


def sweep(
    pieces: Sequence[Piece], before: int | None, after: int | None, gaps: Sequence[IdRange]
) -> dict[int, Findings]:
    """Per period (start ns), the ids missing, doubled and exchange gaps among ``pieces`` of one market.

    ``before`` is the last id stored before the range (None: none), ``after`` the first one after it; ``gaps`` the
    market's exchange gaps, merged and sorted. Periods with nothing to report are left out.
    """
    found: dict[int, Findings] = {}
    if not pieces:
        return found
    ordered = sorted(pieces, key=lambda p: (p.first, -p.last))
    covered = ordered[0].first - 1 if before is None else before
    covered_period = ordered[0].period_ns

    def hole(first: int, last: int, period_ns: int) -> None:
        inside, outside = split((first, last), gaps)
        findings = found.setdefault(period_ns, Findings())
        findings.exchange_gaps += inside
        findings.missing += outside

    for piece in ordered:
        if piece.first > covered + 1:
            hole(covered + 1, piece.first - 1, piece.period_ns)
        elif piece.first <= covered:
            found.setdefault(piece.period_ns, Findings()).doubled.append((piece.first, min(piece.last, covered)))
        if piece.last > covered:
            covered, covered_period = piece.last, piece.period_ns
    if after is not None and after > covered + 1:
        hole(covered + 1, after - 1, covered_period)
    return found
