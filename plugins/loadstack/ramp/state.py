"""Everything a ramp must remember to carry on after a retry, on any worker: its checkpoint.

The runner hands `RampState.to_json()` to a checkpoint callable after every action and every few
seconds; a retry builds its controller from `RampState.from_json(...)` and resumes at the stage reached
(with its hold time, noise estimate, abort-rule windows and applied control number) instead of from
zero. The JSON holds only JSON types, so a round trip through `json` gives back an equal state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from loadstack.ramp.timeline import Phase, Timeline

TERMINAL_PHASES: tuple[str, ...] = ("done", "aborted", "terminated")
# Fields earlier versions wrote and this one no longer needs (per-level samples and their pooled spread,
# replaced by the organic series): a checkpoint holding them still loads.
RETIRED_FIELDS: tuple[str, ...] = ("level_qps", "noise_ss", "noise_dof")


@dataclass
class RuleWindow:
    """An abort rule's current run of fresh samples above its limit (cleared by one below it)."""

    since: float  # `at` of the first sample of the run
    last_at: float  # `at` of the newest one
    values: list[float] = field(default_factory=list)  # the newest few values, for the decision
    ages_s: list[float] = field(default_factory=list)  # their ages when judged

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "last_at": self.last_at, "values": list(self.values), "ages_s": list(self.ages_s)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleWindow:
        return cls(
            since=data["since"], last_at=data["last_at"], values=list(data["values"]), ages_s=list(data["ages_s"])
        )


# A run's newest values kept for the decision that ends it.
BREACH_VALUES_KEPT = 5


def extend_run(
    runs: dict[str, RuleWindow], name: str, at: float, value: float, age_s: float, max_gap_s: float
) -> RuleWindow:
    """Add a sample above its limit to rule `name`'s run, starting a new run when there is none or the last
    sample above is more than `max_gap_s` older (two such samples are not one sustained breach)."""
    run = runs.get(name)
    if run is None or at - run.last_at > max_gap_s:
        run = runs[name] = RuleWindow(since=at, last_at=at)
    run.last_at = at
    run.values = (run.values + [value])[-BREACH_VALUES_KEPT:]
    run.ages_s = (run.ages_s + [round(age_s, 3)])[-BREACH_VALUES_KEPT:]
    return run


@dataclass
class RampState:
    phase: Phase = "ramping"
    stage: int = 1  # 1-based index into params.stages
    buckets: int = 0  # generated rate = buckets x bucket_qps
    # When the first try started (control records older than that are history) and when this one did
    # (max_duration_s counts per try); `tries` counts controllers built on this state.
    started_at: float | None = None
    try_started_at: float | None = None
    tries: int = 0
    last_action_at: float | None = None
    # The newest sample seen (its `at`), and when (clock time) a usable one was last seen: no data for
    # longer than no_data_limit_s aborts.
    last_sample_at: float | None = None
    last_usable_seen_at: float | None = None
    # Hold accounting in sample time: the previous usable sample and whether it was in band; the span
    # between two consecutive usable samples counts in band only when both were.
    prev_usable_at: float | None = None
    prev_in_band: bool = False
    hold_started_at: float | None = None
    in_band_s: float = 0.0
    out_of_band_s: float = 0.0
    applied_control_seq: int = 0
    paused_phase: Phase | None = None
    rule_windows: dict[str, RuleWindow] = field(default_factory=dict)
    # Organic traffic as the samples showed it, [[sample at, measured less generated QPS], ...], over the
    # trend span: the level, trend and noise estimates (loadstack.ramp.estimate) come from it.
    organic: list[list[float]] = field(default_factory=list)
    # The generated rate's history, [[effective from, QPS], ...], as far back as the series needs it, and the
    # earliest sample time this try knows what it generated at (a retry restores traffic at a new time).
    rates: list[list[float]] = field(default_factory=list)
    organic_from: float | None = None
    # Each step predicts the next level (the level it acted on plus the buckets it moved); how far the
    # level measured at the next step landed from that prediction (noise in both measurements, drift over
    # the lag, the driver's accuracy) is pooled here: the step residual.
    predicted_qps: float | None = None
    residual_ss: float = 0.0
    residual_n: int = 0
    # Buckets in effect before the ramp drained (terminate, abort): where a cleared task starts again from.
    drained_from: int = 0
    # The approval point (params.approve_before): since when the ramp has waited there, and the answer that
    # let it go on ({"approved", "by", "at", "comment"}), kept so a retry does not ask again.
    approval_requested_at: float | None = None
    approval: dict[str, Any] | None = None
    # A gradual drain after an abort: when it began and from how many buckets (see params.abort_drain_s).
    drain_started_at: float | None = None
    drain_start_buckets: int = 0
    last_wait_kind: str | None = None
    last_wait_at: float | None = None
    end_reason: str = ""
    ended_at: float | None = None
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def to_json(self) -> dict[str, Any]:
        return state_to_json(self, {"rule_windows": lambda windows: {k: w.to_json() for k, w in windows.items()},
                                    "organic": points_json, "rates": points_json})  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RampState:
        parse = {"rule_windows": lambda windows: {k: RuleWindow.from_json(w) for k, w in (windows or {}).items()},
                 "organic": points_json, "rates": points_json}  # fmt: skip
        return state_from_json(
            cls, data, parse, what="ramp state", hint="was it written by a newer loadstack?", retired=RETIRED_FIELDS
        )


State = TypeVar("State")


def state_to_json(state: Any, convert: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """A state dataclass as JSON types: its timeline by the fast path, the fields in `convert` through it, the
    rest as they are (numbers, strings, flat dicts)."""
    data: dict[str, Any] = {}
    for f in fields(state):
        value = getattr(state, f.name)
        if f.name == "timeline":
            value = _timeline_json(value)
        elif f.name in convert:
            value = convert[f.name](value)
        data[f.name] = value
    return data


def state_from_json(
    cls: type[State],
    data: Mapping[str, Any],
    parse: Mapping[str, Callable[[Any], Any]],
    *,
    what: str,
    hint: str,
    retired: tuple[str, ...] = (),
) -> State:
    """The state dataclass `cls` from `state_to_json`'s output: each field in `parse` through it (given None when
    absent), an unknown field refused (`what`: unknown field(s) ...; `hint`), a `retired` one dropped."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known - set(retired))
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}; {hint}")
    values = {k: v for k, v in data.items() if k not in retired}
    values["timeline"] = Timeline.from_json(values.get("timeline") or {})
    for name, convert in parse.items():
        values[name] = convert(values.get(name))
    return cls(**values)


def points_json(points: Any) -> list[list[float]]:
    """A series of [time, value] points as lists (JSON has no tuples); None is an empty series."""
    return [list(point) for point in points or ()]


def _timeline_json(timeline: Timeline) -> dict[str, Any]:
    """`Timeline.to_json()`, without `dataclasses.asdict`'s deep copies: a checkpoint every few seconds of a
    long ramp serializes thousands of samples."""
    sample_fields = [f.name for f in fields(timeline.samples[0])] if timeline.samples else []
    decision_fields = [f.name for f in fields(timeline.decisions[0])] if timeline.decisions else []
    return {
        "samples": [{k: getattr(s, k) for k in sample_fields} for s in timeline.samples],
        "decisions": [
            {k: (dict(v) if isinstance(v := getattr(d, k), dict) else v) for k in decision_fields}
            for d in timeline.decisions
        ],
    }
