"""A ramp's report as one self-contained HTML page: header, summary, checks, params, charts, decision log.

Self-contained so it can be opened from a bucket, an e-mail or a laptop with no network: the charts
are embedded as data: URIs, the style is inline, and there is no script and no external reference.
Every piece of text is escaped: stack names, run ids, reasons and decision values come from users,
specs and services. A capacity search's page (a `CapacitySummary`) shows what it found and every level it
held in place of the hold's numbers and stages.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, get_args

from loadstack.ramp.capacity import STAGE_NAMES, CapacityParams
from loadstack.ramp.checks import CheckResult
from loadstack.ramp.params import RampParams
from loadstack.ramp.summary import CapacitySummary, RampSummary, WindowMetrics
from loadstack.ramp.timeline import Action, Decision, Timeline

# What each chart file shows, in page order.
CHART_CAPTIONS = {
    "qps.png": "Achieved QPS against the target and its band; every action the controller took is marked.",
    "latency.png": "p50, p95 and p99 latency per sample, with the latency abort rules' limits.",
    "errors.png": "Error ratio per sample, with the error-ratio abort rules' limits.",
    "levels.png": "Every level the capacity search held, at the total QPS it put on the stack (green healthy, red "
    "unhealthy), the bracket the capacity lies in, the capacity found and the knee; achieved QPS and every action.",
}
# A capacity search's report: the trip levels are drawn too.
CAPACITY_CAPTIONS = {
    "latency.png": "p50, p95 and p99 latency per sample, with the latency abort rules' limits and trip levels.",
    "errors.png": "Error ratio per sample, with the error-ratio abort rules' limits and trip levels.",
}
# A decision row's class is its action (the style colours waits, aborts...); an unknown action is "other".
_ROW_CLASSES = frozenset(get_args(Action))
_OUTCOME_CLASS = {"done": "good", "aborted": "bad", "terminated": "bad"}

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
       max-width: 1280px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; }
header p { margin: 2px 0; } .meta { color: #666; }
.outcome { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600; background: #eee; }
.outcome.good, .pass { background: #dff3e4; color: #14532d; }
.outcome.bad, .fail { background: #fde2e1; color: #7f1d1d; }
.reason { font-size: 15px; margin-top: 6px; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 4px 0 12px; }
th, td { border: 1px solid #e2e2e2; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.kv { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap; }
figure { margin: 12px 0 20px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
#decisions table { font-size: 12.5px; } tr.wait td { color: #777; }
tr.abort td, tr.terminate td, tr.unhealthy td { background: #fdecec; } tr.hold_started td, tr.done td, tr.healthy td { background: #eef8f0; }
#hide-waits:checked ~ table tr.wait { display: none; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "no data"
    return f"{value:.{digits}g}{unit}"


def _share(value: float | None) -> str:
    return "no data" if value is None else f"{100 * value:.2f} %"


def _clock(seconds: float | None) -> str:
    """Seconds since the ramp's start as [h:]mm:ss.s (negative before it)."""
    if seconds is None:
        return "—"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{int(hours)}:{int(minutes):02d}:{secs:04.1f}" if hours >= 1 else f"{sign}{int(minutes)}:{secs:04.1f}"


def _utc(epoch: float | None) -> str:
    return "—" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pairs(mapping: Mapping[str, Any]) -> str:
    parts = []
    for key, value in mapping.items():
        shown = f"{value:.6g}" if isinstance(value, float) else "no data" if value is None else value
        parts.append(f"{key}={shown}")
    return "\n".join(parts)


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    """Two-column rows; the values are already escaped HTML."""
    return "".join(f"<tr><th>{_e(label)}</th><td>{value}</td></tr>" for label, value in rows)


def _summary(summary: RampSummary, params: RampParams) -> str:
    hold: WindowMetrics = summary.hold
    target = params.target_qps
    rows = [
        ("Outcome", _e(summary.outcome)),
        ("Reason", _e(summary.reason)),
        ("Started", _e(_utc(summary.started_at))),
        ("Ended", _e(_utc(summary.ended_at))),
        ("Duration", _e(_clock(summary.duration_s))),
        (
            "Time to band (first sample in band)",
            _e(_clock(summary.time_to_band_s) if summary.time_to_band_s is not None else "never in band"),
        ),
        ("Hold started", _e(_clock(summary.hold_started_s) if summary.hold_started_s is not None else "never")),
        ("Hold lasted", _e(f"{_clock(summary.hold_s)} (asked: {params.hold_s:g} s in band)")),
        (
            "Achieved QPS over the hold (time-weighted mean / min / max)",
            _e(
                f"{_num(hold.achieved_qps_mean)} / {_num(hold.achieved_qps_min)} / {_num(hold.achieved_qps_max)} "
                f"(target {target:g})"
            ),
        ),
        ("Achieved / target over the hold", _e(_share(hold.achieved_ratio))),
        ("In band during the hold (time-weighted)", _e(_share(hold.in_band_share))),
        ("Samples above the high watermark in the hold", _e(_num(hold.samples_above_high))),
        (
            "Error ratio over the hold (failed / all requests; highest sample)",
            _e(f"{_share(hold.error_ratio)}; {_share(hold.error_ratio_max)}"),
        ),
        (
            "Latency over the hold, highest sample: p50 / p95 / p99",
            _e(f"{_num(hold.p50_ms, ' ms')} / {_num(hold.p95_ms, ' ms')} / {_num(hold.p99_ms, ' ms')}"),
        ),
        ("Samples in the hold (time covered)", _e(f"{hold.samples} ({hold.covered_s:.1f} s)")),
        ("Actions", _e(", ".join(f"{k} {v}" for k, v in sorted(summary.actions.items())) or "none")),
    ]
    stages = "".join(
        f"<tr><td class=num>{s.stage}</td><td class=num>{_e(f'{100 * s.fraction:g} %')}</td>"
        f"<td class=num>{_e(f'{s.target_qps:g}')}</td><td class=num>{_e(_clock(s.started_s))}</td>"
        f"<td class=num>{_e(_clock(s.reached_s) if s.reached else 'not reached')}</td>"
        f"<td class=num>{_e(_clock(s.duration_s))}</td></tr>"
        for s in summary.stages
    )
    return (
        f"<table>{_rows(rows)}</table><h3>Stages</h3><table><tr><th>stage</th><th>share</th><th>target QPS</th>"
        f"<th>began</th><th>reached</th><th>took</th></tr>{stages}</table>"
    )


def _checks(results: Sequence[CheckResult]) -> str:
    if not results:
        return "<p>No post-ramp checks were declared.</p>"
    passed = sum(r.passed for r in results)
    rows = "".join(
        f"<tr><td class={'pass' if r.passed else 'fail'}>{'pass' if r.passed else 'FAIL'}</td><td>{_e(r.name)}</td>"
        f"<td class=num>{_e(_num(r.observed, digits=6))}</td><td class=num>{_e(f'{r.operator} {r.limit:g}')}</td>"
        f"<td>{_e(r.message)}</td></tr>"
        for r in results
    )
    return (
        f"<p>{passed} of {len(results)} passed.</p><table><tr><th>result</th><th>check</th><th>observed</th>"
        f"<th>limit</th><th>detail</th></tr>{rows}</table>"
    )


def _capacity_summary(summary: CapacitySummary) -> str:
    result = summary.result
    rows = [
        ("Outcome", _e(summary.outcome)),
        ("Reason", _e(summary.reason)),
        ("Started", _e(_utc(summary.started_at))),
        ("Ended", _e(_utc(summary.ended_at))),
        ("Search took", _e(_clock(result.duration_s if result is not None else summary.duration_s))),
    ]
    if result is not None:
        bracket = result.bracket_qps
        knee = (
            f"{_num(result.knee_qps)} QPS ({result.knee_metric} rose {result.knee_rise:g}; none at "
            f"{_num(result.knee_below_qps)} QPS)"
            if result.knee_qps is not None
            else "no level showed a rise"
        )
        rows += [
            ("Highest sustainable QPS (total, organic included)", _e(_num(result.capacity_qps, digits=6))),
            ("Its generated rate", _e(_num(result.capacity_rate_qps, " QPS", digits=6))),
            (
                "Precision: the bracket the capacity lies in (healthy / unhealthy level)",
                _e(
                    f"{_num(result.precision_qps, ' QPS')}: {bracket[0]:.1f} – {bracket[1]:.1f} QPS"
                    if bracket is not None
                    else "no unhealthy level: no upper side"
                ),
            ),
            ("Found", _e(f"{'yes' if result.found else 'no'} (limited by {result.limited_by or 'nothing yet'})")),
            ("Knee", _e(knee)),
            ("Levels", _e(len(result.steps))),
        ]
    rows.append(("Actions", _e(", ".join(f"{k} {v}" for k, v in sorted(summary.actions.items())) or "none")))
    return f"<table>{_rows(rows)}</table><h3>Levels</h3>{_levels(summary)}"


def _level_row(number: int, step: Mapping[str, Any], origin: float) -> str:
    verdict = step.get("verdict") or "interrupted"
    cells = [
        _num(number),
        _clock(step["began_at"] - origin),
        STAGE_NAMES.get(step["stage"], str(step["stage"])),
        f"{step['rate_qps']:g}",
        _num(step.get("total_qps"), digits=6),
        step.get("verdict") or "—",
        step.get("samples"),
        f"{_share(step.get('error_ratio_mean'))} / {_share(step.get('error_ratio_max'))}",
        f"{_num(step.get('p95_ms_mean'), ' ms')} / {_num(step.get('p99_ms_mean'), ' ms')} / "
        f"{_num(step.get('p99_ms_max'), ' ms')}",
        step.get("reason") or "",
    ]
    return f'<tr class="{_e(verdict)}">' + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>"


def _levels(summary: CapacitySummary) -> str:
    if summary.result is None or not summary.result.steps:
        return "<p>No level was held.</p>"
    origin = summary.started_at or 0.0
    rows = "".join(_level_row(i, step, origin) for i, step in enumerate(summary.result.steps, start=1))
    return (
        "<table><tr><th>#</th><th>began</th><th>stage</th><th>rate QPS</th><th>total QPS</th><th>verdict</th>"
        "<th>samples</th><th>error ratio mean / max</th><th>p95 mean / p99 mean / p99 max</th><th>why</th></tr>"
        f"{rows}</table>"
    )


def _params(params: RampParams | CapacityParams) -> str:
    data = params.to_json()
    data.pop("abort_rules")  # shown by name below
    rows = [(key, _e(value)) for key, value in data.items()]
    if isinstance(params, RampParams):
        rows += [("low / high watermark", _e(f"{params.low_watermark:g} / {params.high_watermark:g}"))]
    rows += [("abort rules", "<br>".join(_e(rule.name) for rule in params.abort_rules) or "none")]
    return f"<table>{_rows(rows)}</table>"


def _charts(charts: Mapping[str, bytes], captions: Mapping[str, str] = CHART_CAPTIONS) -> str:
    names = list(charts)
    figures = []
    for name in names:
        data = base64.b64encode(charts[name]).decode("ascii")
        caption = captions.get(name, CHART_CAPTIONS.get(name, name))
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "".join(figures) or "<p>No charts.</p>"


def _decision_row(d: Decision, origin: float) -> str:
    action = d.action if d.action in _ROW_CLASSES else "other"
    age = "—" if d.sample_age_s is None else f"{d.sample_age_s:.1f} s"
    return (
        f'<tr class="{action}"><td class=num title="{_e(_utc(d.at))}">{_e(_clock(d.at - origin))}</td>'
        f"<td>{_e(d.action)}</td><td class=num>{_e(d.stage)}</td>"
        f"<td class=num>{_e(d.buckets_before)}→{_e(d.buckets_after)}</td><td class=num>{_e(f'{d.rate_qps:g}')}</td>"
        f"<td class=kv>{_e(_pairs(d.values))}</td><td class=kv>{_e(_pairs(d.thresholds))}</td>"
        f"<td class=num>{_e(age)}</td><td>{_e(d.reason)}</td></tr>"
    )


def _decisions(timeline: Timeline, origin: float) -> str:
    waits = sum(d.action == "wait" for d in timeline.decisions)
    rows = "".join(_decision_row(d, origin) for d in timeline.decisions)
    return (
        f'<input type="checkbox" id="hide-waits"> <label for="hide-waits">hide the {waits} waits</label>'
        "<table><tr><th>time</th><th>action</th><th>stage</th><th>buckets</th><th>rate QPS</th><th>values</th>"
        f"<th>thresholds</th><th>sample age</th><th>reason</th></tr>{rows}</table>"
    )


def render_page(
    *,
    stack: str,
    run_id: str,
    params: RampParams | CapacityParams,
    timeline: Timeline,
    summary: RampSummary | CapacitySummary,
    results: Sequence[CheckResult],
    charts: Mapping[str, bytes],
    generated_at: float,
) -> str:
    """The report page as one HTML document (str); `charts` maps file names to PNG bytes (in page order)."""
    origin = summary.started_at if summary.started_at is not None else 0.0
    failed = sum(not r.passed for r in results)
    checks_line = f"checks: {len(results) - failed} of {len(results)} passed" if results else "no checks declared"
    if isinstance(summary, CapacitySummary):
        title, summary_html, captions = "Capacity search report", _capacity_summary(summary), CAPACITY_CAPTIONS
    else:
        assert isinstance(params, RampParams)
        title, summary_html, captions = "Ramp report", _summary(summary, params), CHART_CAPTIONS
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — {_e(stack)} — {_e(run_id)}</title><style>{_STYLE}</style></head>
<body>
<header><h1>{title}: {_e(stack)}</h1>
<p class="meta">run {_e(run_id)} · generated {_e(_utc(generated_at))} · times are since the ramp's start
({_e(_utc(summary.started_at))})</p>
<p><span class="outcome {_OUTCOME_CLASS.get(summary.outcome, "")}">{_e(summary.outcome)}</span>
<span class="{"fail" if failed else "pass" if results else ""}">{_e(checks_line)}</span></p>
<p class="reason">{_e(summary.reason)}</p></header>
<section id="summary"><h2>Summary</h2>{summary_html}</section>
<section id="checks"><h2>Checks</h2>{_checks(results)}</section>
<section id="params"><h2>Parameters</h2>{_params(params)}</section>
<section id="charts"><h2>Charts</h2>{_charts(charts, captions)}</section>
<section id="decisions"><h2>Decisions ({len(timeline.decisions)})</h2>{_decisions(timeline, origin)}</section>
</body></html>
"""
