import io
import struct

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.image import imread

from loadstack.ramp.samples import Sample
from loadstack.ramp.timeline import Decision, Timeline
from loadstack.report.charts import (
    CHARTS,
    DPI,
    LEVELS_CHART,
    SIZE_IN,
    error_figure,
    latency_figure,
    levels_figure,
    qps_figure,
    render_charts,
    to_png,
)

T0 = 1_767_225_600.0


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def legend(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def line(figure, label):
    (found,) = [ln for ln in figure.axes[0].get_lines() if ln.get_label() == label]
    return found


def test_every_chart_is_a_decodable_png_of_the_configured_size(done_charts):
    charts = done_charts
    assert list(charts) == list(CHARTS) == ["qps.png", "latency.png", "errors.png"]
    for name, data in charts.items():
        width, height = png_size(data)
        assert (width, height) == (round(SIZE_IN[0] * DPI), round(SIZE_IN[1] * DPI)), name
        pixels = imread(io.BytesIO(data))
        assert pixels.shape[:2] == (height, width)
        assert 10_000 < len(data) < 400_000, name
        assert pixels.std() > 0.05, f"{name} is blank"


def test_charts_are_drawn_from_the_data(params, done_timeline, done_charts, aborted_charts):
    assert all(done_charts[name] != aborted_charts[name] for name in done_charts)
    assert to_png(qps_figure(params, done_timeline)) == done_charts["qps.png"]  # same timeline, same bytes

    achieved = line(qps_figure(params, done_timeline), "achieved QPS")
    expected = [np.nan if s.qps is None else s.qps for s in sorted(done_timeline.samples, key=lambda s: s.at)]
    np.testing.assert_allclose(achieved.get_ydata(), expected)
    np.testing.assert_allclose(
        achieved.get_xdata(), [s.at - T0 for s in sorted(done_timeline.samples, key=lambda s: s.at)]
    )


def test_the_qps_chart_shows_band_target_stages_and_every_action(params, done_timeline):
    figure = qps_figure(params, done_timeline)
    labels = legend(figure)
    for label in (
        "band (low–high watermark)",
        "target",
        "hold",
        "paused",
        "stage reached",
        "hold started",
        "done",
        "achieved QPS",
        "driver rate",
        "start (1)",
        "step up (8)",
        "stage reached (3)",
        "hold started (1)",
        "done (1)",
        "pause (1)",
        "resume (1)",
        "drain (1)",
    ):
        assert label in labels
    assert not any(label.startswith(("wait", "abort")) for label in labels)
    stage_lines = [ln.get_xdata()[0] for ln in figure.axes[0].get_lines() if ln.get_label() == "stage reached"]
    reached = [d.at - T0 for d in done_timeline.decisions if d.action == "stage_reached"]
    assert stage_lines == reached[:1]  # one legend entry; the other stages' lines are unlabelled
    marks = [a for a in figure.axes[0].texts if a.get_text().startswith("stage ")]
    assert [m.get_text() for m in marks] == ["stage 1", "stage 2", "stage 3"]
    assert line(figure, "target").get_ydata()[0] == params.target_qps


def test_an_aborted_ramp_marks_the_abort_on_every_chart(params, aborted_timeline):
    (abort,) = [d for d in aborted_timeline.decisions if d.action == "abort"]
    for draw in (qps_figure, latency_figure, error_figure):
        figure = draw(params, aborted_timeline)
        assert line(figure, "abort").get_xdata()[0] == abort.at - T0
    assert "abort (1)" in legend(qps_figure(params, aborted_timeline))


def test_abort_rules_are_drawn_as_limits(params, done_timeline):
    latency = latency_figure(params, done_timeline)
    assert line(latency, "abort: p99_ms > 2000 (hard limit)").get_ydata()[0] == 2000
    assert line(latency, "abort: p95_ms > 800 for 60 s").get_linestyle() == "--"
    errors = error_figure(params, done_timeline)
    assert line(errors, "abort: error_ratio > 0.05 for 30 s").get_ydata()[0] == 0.05
    assert "abort: p99_ms > 2000 (hard limit)" not in legend(errors)


def test_long_ramps_are_drawn_in_minutes(params):
    samples = [Sample(at=T0 + s, taken_at=T0 + s + 5, qps=290.0) for s in range(0, 1200, 10)]
    start = Decision(at=T0, action="start", reason="go", stage=1, buckets_before=0, buckets_after=0, rate_qps=0.0)
    figure = qps_figure(params, Timeline(samples=samples, decisions=[start]))
    assert figure.axes[0].get_xlabel() == "time since the ramp's start (min)"
    assert line(figure, "achieved QPS").get_xdata()[-1] == pytest.approx(1190 / 60)
    short = qps_figure(params, Timeline(samples=samples[:10], decisions=[start]))
    assert short.axes[0].get_xlabel() == "time since the ramp's start (s)"


def test_an_empty_timeline_still_draws_and_says_so(params):
    for draw, what in ((qps_figure, "samples"), (latency_figure, "latency"), (error_figure, "error ratio")):
        figure = draw(params, Timeline())
        assert f"no {what} recorded" in [t.get_text() for t in figure.axes[0].texts]
    assert png_size(to_png(qps_figure(params, Timeline()))) == (1200, 440)


def test_a_capacity_search_draws_its_levels_bracket_and_trip_levels(capacity_run):
    params, timeline, result = capacity_run.params, capacity_run.state.timeline, capacity_run.result
    charts = render_charts(params, timeline, result)
    assert list(charts) == [LEVELS_CHART, "latency.png", "errors.png"]
    assert all(png_size(data) == (int(SIZE_IN[0] * DPI), int(SIZE_IN[1] * DPI)) for data in charts.values())
    figure = levels_figure(params, timeline, result)
    labels = legend(figure)
    assert {"bracket (precision)", "highest sustainable", "healthy level", "unhealthy level", "achieved QPS"} <= set(labels)
    assert f"{result.capacity_qps:.1f} QPS" in figure.axes[0].get_title(loc="left")
    # One segment per level, at the total QPS it put on the stack.
    segments = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
    heights = sorted(seg[0][1] for c in segments for seg in c.get_segments())
    assert heights == sorted(step["total_qps"] for step in result.steps)
    errors = legend(error_figure(params, timeline))
    assert "abort: error_ratio > 0.05 for 2 s" in errors and "trip: 0.8 x error_ratio 0.05" in errors
    nothing = levels_figure(params, type(timeline)(), None)
    assert "nothing found" in nothing.axes[0].get_title(loc="left")
