"""A ramp's charts as PNG bytes: achieved QPS in its band with every action, latency, error ratio.

Drawn with matplotlib's object API (`Figure` + Agg canvas, never pyplot): no display, no global
state shared between reports, nothing left open. Time runs from the ramp's start, in seconds, or in
minutes for ramps longer than ten minutes. Samples are drawn at the traffic moment they reflect
(`Sample.at`), decisions when they were taken: a step up shows its traffic change at once, though the
controller only saw it a sample age later (the decision log says how late).

`wait` decisions are not marked (a ramp waits at nearly every tick); every other action is.

A capacity search (`CapacityParams`) has no band: its QPS chart is the levels it held (each at the total QPS
it put on the stack, coloured by verdict), the bracket the capacity lies in, the capacity found and the
knee; its latency and error charts add each rule's trip level (trip_fraction x the limit) to the limits.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from loadstack.ramp.capacity import CapacityParams, CapacityResult
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.summary import Spans, ordered_samples, spans
from loadstack.ramp.timeline import Decision, Timeline

SIZE_IN = (12.0, 4.4)
DPI = 100
# Longer ramps are drawn in minutes (seconds would read 0..7200).
MINUTES_AFTER_S = 600.0

# How each action is marked on the QPS chart: (marker, colour, size).
ACTION_MARKS: dict[str, tuple[str, str, float]] = {
    "start": ("o", "#555555", 40),
    "step_up": ("^", "#2a9d3f", 36),
    "step_down": ("v", "#e08a00", 36),
    "stage_reached": ("D", "#1f5fbf", 40),
    "hold_started": ("s", "#1b7f3a", 48),
    "done": ("*", "#111111", 120),
    "pause": ("P", "#7a5195", 70),
    "resume": (">", "#7a5195", 60),
    "terminate": ("X", "#8b0000", 110),
    "abort": ("X", "#d62728", 110),
    "drain": ("v", "#d62728", 60),
    "drain_step": ("v", "#ff7f0e", 30),
}
# Vertical lines for the actions that change the ramp's phase: (colour, line style, width, legend label).
_PHASE_LINES = {
    "stage_reached": ("#1f5fbf", "--", 0.9, "stage reached"),
    "hold_started": ("#1b7f3a", "--", 1.2, "hold started"),
    "done": ("#111111", "-", 1.2, "done"),
    "terminate": (ACTION_MARKS["terminate"][1], "-", 1.6, "terminate"),
    "abort": (ACTION_MARKS["abort"][1], "-", 1.6, "abort"),
}
_QUANTILES = (("p50_ms", "p50", "#6baed6"), ("p95_ms", "p95", "#3182bd"), ("p99_ms", "p99", "#08519c"))
# A capacity search's level, by its verdict: (colour, legend label).
_VERDICTS = {
    "healthy": ("#2a9d3f", "healthy level"),
    "unhealthy": ("#d62728", "unhealthy level"),
    "interrupted": ("#999999", "level without a verdict"),
}
Params = RampParams | CapacityParams


@dataclass(frozen=True)
class _Clock:
    """Epoch seconds -> x: seconds or minutes since the ramp's start."""

    origin: float
    unit_s: float

    @property
    def label(self) -> str:
        return "time since the ramp's start (" + ("min" if self.unit_s == 60 else "s") + ")"

    def x(self, at: float) -> float:
        return (at - self.origin) / self.unit_s

    def xs(self, moments: Sequence[float]) -> np.ndarray:
        return (np.asarray(moments, dtype=float) - self.origin) / self.unit_s


def _clock(ramp: Spans, samples: list[Sample], decisions: list[Decision]) -> _Clock:
    moments = [s.at for s in samples] + [d.at for d in decisions]
    origin = ramp.start if ramp.start is not None else (min(moments) if moments else 0.0)
    span = (max(moments) - origin) if moments else 0.0
    return _Clock(origin=origin, unit_s=60.0 if span > MINUTES_AFTER_S else 1.0)


def _values(samples: list[Sample], name: str) -> np.ndarray:
    """A sample field as floats, no data as NaN (matplotlib breaks the line there instead of inventing one)."""
    return np.array([np.nan if getattr(s, name) is None else getattr(s, name) for s in samples], dtype=float)


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE_IN, dpi=DPI)
    # Fixed margins, the legend in the right-hand fifth: a layout engine would draw every chart twice.
    figure.subplots_adjust(left=0.06, right=0.80, top=0.93, bottom=0.11)
    axes = figure.subplots()
    axes.set_title(title, loc="left", fontsize="medium")
    axes.grid(True, color="#dddddd", linewidth=0.6)
    return figure, axes


def _pauses(
    decisions: list[Decision], end: float | None, opens: str = "pause", closes: tuple[str, ...] = ("resume",)
) -> list[tuple[float, float]]:
    """Spans from an `opens` decision to the next `closes` one (or the ramp's end): pauses, approval waits."""
    spans_, paused_at = [], None
    for d in decisions:
        if d.action == opens and paused_at is None:
            paused_at = d.at
        elif d.action in (*closes, "terminate", "abort", "done") and paused_at is not None:
            spans_.append((paused_at, d.at))
            paused_at = None
    if paused_at is not None:
        spans_.append((paused_at, max(end or paused_at, paused_at)))
    return spans_


def _phase_marks(axes: Axes, clock: _Clock, ramp: Spans, decisions: list[Decision]) -> None:
    """What all three charts share: the hold shaded, pauses and approval waits shaded, stage/hold/ending lines."""
    if ramp.hold_start is not None and ramp.end is not None:
        axes.axvspan(clock.x(ramp.hold_start), clock.x(ramp.end), color="#2a9d3f", alpha=0.06, label="hold", lw=0)
    for i, (paused, resumed) in enumerate(_pauses(decisions, ramp.end)):
        axes.axvspan(
            clock.x(paused), clock.x(resumed), color="#7a5195", alpha=0.12, lw=0, label="paused" if i == 0 else None
        )
    for i, (asked, answered) in enumerate(_pauses(decisions, ramp.end, "approval_requested", ("approved",))):
        axes.axvspan(
            clock.x(asked), clock.x(answered), color="#e9c46a", alpha=0.18, lw=0,
            label="awaiting approval" if i == 0 else None,
        )
    labelled: set[str] = set()
    for d in decisions:
        if d.action not in _PHASE_LINES:
            continue
        colour, style, width, label = _PHASE_LINES[d.action]
        axes.axvline(clock.x(d.at), color=colour, ls=style, lw=width, label=None if label in labelled else label)
        labelled.add(label)
        if d.action == "stage_reached":
            axes.annotate(
                f"stage {d.stage}",
                (clock.x(d.at), 1.0),
                xycoords=("data", "axes fraction"),
                # A step lower per stage: on a long ramp the stage lines are close together.
                xytext=(2, -10 - 9 * max(d.stage - 1, 0)),
                textcoords="offset points",
                fontsize="x-small",
                color="#1f5fbf",
            )


def _no_data(axes: Axes, what: str) -> None:
    axes.text(0.5, 0.5, f"no {what} recorded", transform=axes.transAxes, ha="center", va="center", color="#888888")


def _finish(figure: Figure, axes: Axes, clock: _Clock) -> Figure:
    axes.set_xlabel(clock.label)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize="x-small", frameon=False)
    return figure


def qps_figure(params: RampParams, timeline: Timeline) -> Figure:
    """Achieved QPS against the target, the band between the watermarks, stage targets and every action."""
    ramp, samples, decisions = spans(timeline), ordered_samples(timeline.samples), timeline.decisions
    clock = _clock(ramp, samples, decisions)
    figure, axes = _figure(
        f"Achieved QPS — target {params.target_qps:g}, band {params.low_watermark:g}–{params.high_watermark:g}"
    )
    axes.axhspan(
        params.low_watermark,
        params.high_watermark,
        color="#2a9d3f",
        alpha=0.15,
        lw=0,
        label="band (low–high watermark)",
    )
    axes.axhline(params.target_qps, color="#1b7f3a", lw=1.0, label="target")
    for fraction in params.stages[:-1]:
        axes.axhline(fraction * params.target_qps, color="#999999", lw=0.7, ls=":")
    if params.organic_qps:
        axes.axhline(params.organic_qps, color="#8c564b", lw=0.8, ls="-.", label="organic baseline")
    _phase_marks(axes, clock, ramp, decisions)
    _traffic(axes, clock, samples, decisions)
    axes.set_ylabel("requests / s")
    axes.set_ylim(bottom=0)
    return _finish(figure, axes, clock)


def _traffic(axes: Axes, clock: _Clock, samples: list[Sample], decisions: list[Decision]) -> None:
    """Achieved QPS per sample, the driver's rate, and every action the controller took (waits aside)."""
    if samples:
        axes.step(
            clock.xs([s.at for s in samples]),
            _values(samples, "qps"),
            where="post",
            color="#222222",
            lw=1.0,
            label="achieved QPS",
        )
    else:
        _no_data(axes, "samples")
    if decisions:
        axes.step(
            clock.xs([d.at for d in decisions]),
            [d.rate_qps for d in decisions],
            where="post",
            color="#ff7f0e",
            lw=0.9,
            ls="--",
            alpha=0.8,
            label="driver rate",
        )
    for action, (marker, colour, size) in ACTION_MARKS.items():
        marked = [d for d in decisions if d.action == action]
        if marked:
            axes.scatter(
                clock.xs([d.at for d in marked]),
                [d.rate_qps for d in marked],
                marker=marker,
                s=size,
                color=colour,
                edgecolors="white",
                linewidths=0.5,
                zorder=5,
                label=f"{action.replace('_', ' ')} ({len(marked)})",
            )


def levels_figure(params: CapacityParams, timeline: Timeline, result: CapacityResult | None) -> Figure:
    """A capacity search's levels over time at the total QPS each put on the stack, coloured by verdict; the
    bracket the capacity lies in, the capacity found, the knee; the traffic and every action beneath."""
    ramp, samples, decisions = spans(timeline), ordered_samples(timeline.samples), timeline.decisions
    clock = _clock(ramp, samples, decisions)
    found = "nothing found" if result is None or result.capacity_qps is None else f"{result.capacity_qps:.1f} QPS"
    figure, axes = _figure(f"Capacity search — highest sustainable {found}")
    steps = list(result.steps) if result is not None else []
    if result is not None and result.bracket_qps is not None:
        low, high = result.bracket_qps
        axes.axhspan(low, high, color="#1f5fbf", alpha=0.15, lw=0, label="bracket (precision)")
    if result is not None and result.capacity_qps is not None:
        axes.axhline(result.capacity_qps, color="#1b7f3a", lw=1.2, label="highest sustainable")
    if result is not None and result.knee_qps is not None:
        axes.axhline(result.knee_qps, color="#7a5195", lw=1.0, ls=":", label=f"knee ({result.knee_metric})")
    _phase_marks(axes, clock, ramp, decisions)
    _traffic(axes, clock, samples, decisions)
    end = ramp.end if ramp.end is not None else (max(d.at for d in decisions) if decisions else 0.0)
    labelled: set[str] = set()
    for i, step in enumerate(steps):
        if step.get("total_qps") is None:
            continue
        until = steps[i + 1]["began_at"] if i + 1 < len(steps) else end
        colour, label = _VERDICTS.get(step.get("verdict") or "interrupted", _VERDICTS["interrupted"])
        axes.hlines(
            step["total_qps"], clock.x(step["began_at"]), clock.x(max(until, step["began_at"])),
            colors=colour, lw=3.0, alpha=0.8, label=None if label in labelled else label,
        )  # fmt: skip
        labelled.add(label)
    axes.set_ylabel("requests / s (levels: total, organic included)")
    axes.set_ylim(bottom=0)
    return _finish(figure, axes, clock)


def _limit_lines(axes: Axes, params: Params, rule: AbortRule, colour: str) -> None:
    """A rule's abort limit; for a capacity search also its trip level, where a level turns unhealthy."""
    axes.axhline(rule.limit, color=colour, lw=1.2, ls=":" if rule.window_s == 0 else "--", label=f"abort: {rule.name}")
    if isinstance(params, CapacityParams):
        axes.axhline(
            params.trip(rule), color=colour, lw=0.8, ls="-.", alpha=0.7,
            label=f"trip: {params.trip_fraction:g} x {rule.metric} {rule.limit:g}",
        )  # fmt: skip


def latency_figure(params: Params, timeline: Timeline) -> Figure:
    """p50 / p95 / p99 per sample, with every latency abort rule's limit."""
    ramp, samples, decisions = spans(timeline), ordered_samples(timeline.samples), timeline.decisions
    clock = _clock(ramp, samples, decisions)
    figure, axes = _figure("Latency quantiles per sample")
    _phase_marks(axes, clock, ramp, decisions)
    xs = clock.xs([s.at for s in samples])
    colours = {}
    for field, label, colour in _QUANTILES:
        colours[field] = colour
        if samples:
            axes.plot(xs, _values(samples, field), color=colour, lw=1.0, label=label)
    for rule in params.abort_rules:
        if rule.metric in colours:
            _limit_lines(axes, params, rule, colours[rule.metric])
    if not any(s.p50_ms is not None or s.p95_ms is not None or s.p99_ms is not None for s in samples):
        _no_data(axes, "latency")
    axes.set_ylabel("milliseconds")
    axes.set_ylim(bottom=0)
    return _finish(figure, axes, clock)


def error_figure(params: Params, timeline: Timeline) -> Figure:
    """Error ratio per sample, with every error-ratio abort rule's limit."""
    ramp, samples, decisions = spans(timeline), ordered_samples(timeline.samples), timeline.decisions
    clock = _clock(ramp, samples, decisions)
    figure, axes = _figure("Error ratio per sample")
    _phase_marks(axes, clock, ramp, decisions)
    if samples:
        axes.plot(
            clock.xs([s.at for s in samples]),
            _values(samples, "error_ratio"),
            color="#d62728",
            lw=1.0,
            label="error ratio",
        )
    for rule in params.abort_rules:
        if rule.metric == "error_ratio":
            _limit_lines(axes, params, rule, "#8b0000")
    if not any(s.error_ratio is not None for s in samples):
        _no_data(axes, "error ratio")
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.set_ylabel("failed / all requests")
    axes.set_ylim(bottom=0)
    return _finish(figure, axes, clock)


# Each chart file and the function drawing it (a capacity search draws levels.png instead of qps.png).
CHARTS = {"qps.png": qps_figure, "latency.png": latency_figure, "errors.png": error_figure}
LEVELS_CHART = "levels.png"


def render_charts(params: Params, timeline: Timeline, capacity: CapacityResult | None = None) -> dict[str, bytes]:
    """Every chart as PNG bytes, by file name (`CHARTS`; for a capacity search `LEVELS_CHART` first)."""
    if isinstance(params, CapacityParams):
        charts = {LEVELS_CHART: to_png(levels_figure(params, timeline, capacity))}
        return charts | {name: to_png(CHARTS[name](params, timeline)) for name in ("latency.png", "errors.png")}
    return {name: to_png(draw(params, timeline)) for name, draw in CHARTS.items()}
