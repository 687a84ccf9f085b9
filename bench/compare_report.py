"""The comparison's results: one contender's runs, its summary row, the Markdown report and the chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import table

SUSTAINED_DRAIN_S = 2.0
"""A rate is sustained when nothing is lost and the last trade is stored within this long of the last frame."""


@dataclass(frozen=True)
class Step:
    """One run at one offered rate."""

    rate: int
    sent: int
    stored: int
    send_s: float
    drain_s: float
    cpu_s_per_m: float
    influxd_cpu_s_per_m: float
    peak_rss_mb: float

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.drain_s <= SUSTAINED_DRAIN_S

    def overload(self) -> str:
        """What became of the trades of this run, e.g. ``0 of 40,000 at 2,000/s, all stored 21.6 s after ...``."""
        stored = f"all stored {self.drain_s:.1f} s after the last frame" if self.lost == 0 else "then stopped"
        return f"{self.lost:,} of {self.sent:,} at {self.rate:,}/s, {stored}"

    @property
    def throughput(self) -> float:
        """Trades stored per second: over the sending, plus the drain beyond what a sustained rate may take."""
        return self.stored / (self.send_s + max(0.0, self.drain_s - SUSTAINED_DRAIN_S))


@dataclass(frozen=True)
class Fault:
    """Trades sent and stored around one injected fault."""

    sent: int
    stored: int

    def __str__(self) -> str:
        lost = self.sent - self.stored
        return f"no loss ({self.sent:,} stored)" if lost == 0 else f"**lost {lost:,}** of {self.sent:,}"


@dataclass
class Outcome:
    """Everything measured of one contender."""

    name: str
    label: str
    steps: list[Step] = field(default_factory=list)
    p99_latency_s: float | None = None
    faults: dict[str, Fault] = field(default_factory=dict)

    def best(self) -> Step | None:
        """The step at the highest sustained rate."""
        return max((s for s in self.steps if s.sustained), key=lambda s: s.rate, default=None)

    def at_twice_best(self) -> Step | None:
        """The step at twice the highest sustained rate (or at the first rate when none was sustained)."""
        best = self.best()
        if best is None:
            return self.steps[0] if self.steps else None
        return next((s for s in self.steps if s.rate == 2 * best.rate), None)

    def summary(self) -> dict[str, object]:
        """The contender's row of the summary table."""
        best, twice = self.best(), self.at_twice_best()
        measured = best or twice
        top = max((s.rate for s in self.steps), default=0)
        if best is None:
            sustained = f"< {top:,}"
        else:
            sustained = f"{best.rate:,}" + (" (highest rate tried)" if best.rate == top else "")
        return {
            "contender": self.label,
            "highest sustained trades/s": sustained,
            "lost at 2x that rate": "not run" if twice is None else twice.overload(),
            "CPU s / M trades": "-" if measured is None else f"{measured.cpu_s_per_m:.1f}",
            "peak RSS": "-" if measured is None else f"{measured.peak_rss_mb:.0f} MiB",
            "p99 trade-to-queryable": "-" if self.p99_latency_s is None else f"{self.p99_latency_s * 1000:,.0f} ms",
            **{name: str(fault) for name, fault in self.faults.items()},
        }

    def rows(self) -> list[dict[str, object]]:
        """One row per step, for the detailed table."""
        return [
            {
                "contender": self.name,
                "offered/s": f"{s.rate:,}",
                "sent": f"{s.sent:,}",
                "stored": f"{s.stored:,}",
                "lost": f"{s.lost:,}",
                "stored within (s after last frame)": f"{s.drain_s:.1f}",
                "sustained": "yes" if s.sustained else "no",
                "stored/s": f"{s.throughput:,.0f}",
                "CPU s / M": f"{s.cpu_s_per_m:.1f}",
                "influxd CPU s / M": f"{s.influxd_cpu_s_per_m:.1f}",
                "peak RSS MiB": f"{s.peak_rss_mb:.0f}",
            }
            for s in self.steps
        ]


def markdown(outcomes: list[Outcome], heading: str, notes: str) -> str:
    """The report: the summary, then every step."""
    summary = table([o.summary() for o in outcomes])
    steps = table([row for o in outcomes for row in o.rows()])
    return f"{heading}\n\n{summary}\n\n{notes}\n\n### Every run\n\n{steps}\n"


def chart(outcomes: list[Outcome], path: Path, title: str) -> None:
    """Stored trades/s, how long after the last frame the last trade was stored, and trades lost, against the
    offered rate: one line per contender (log rate scales)."""
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    top = max(s.rate for o in outcomes for s in o.steps)
    bottom = min(s.rate for o in outcomes for s in o.steps)
    left.plot([bottom, top], [bottom, top], color="0.8", linestyle="--", label="offered")
    for outcome in outcomes:
        rates = [s.rate for s in outcome.steps]
        left.plot(rates, [s.throughput for s in outcome.steps], marker="o", label=outcome.label)
        middle.plot(rates, [max(s.drain_s, 0.1) for s in outcome.steps], marker="o", label=outcome.label)
        right.plot(rates, [100 * s.lost / s.sent for s in outcome.steps], marker="o", label=outcome.label)
    left.set(xscale="log", yscale="log", xlabel="offered trades/s", ylabel="stored trades/s", title="Throughput")
    middle.axhline(SUSTAINED_DRAIN_S, color="0.6", linestyle="--", label="sustained: within 2 s")
    middle.set(xscale="log", yscale="log", xlabel="offered trades/s", ylabel="seconds (0.1: at once)")
    middle.set_title("Last trade stored, after the last frame")
    right.set(xscale="log", xlabel="offered trades/s", ylabel="trades lost, % of sent", title="Loss")
    right.set_ylim(bottom=0, top=max(1.0, *(100 * s.lost / s.sent * 1.1 for o in outcomes for s in o.steps)))
    for axes in (left, middle, right):
        axes.grid(True, which="both", alpha=0.3)
    left.legend(fontsize="small")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)
