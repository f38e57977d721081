import base64
from dataclasses import replace
from html.parser import HTMLParser

from pydantic import TypeAdapter

from loadstack.ramp.checks import Check, evaluate_checks
from loadstack.ramp.summary import summarize, summarize_capacity
from loadstack.ramp.timeline import Timeline
from loadstack.report.page import render_page

CHECKS = TypeAdapter(list[Check]).validate_python(
    ["p99_ms < 800", "error_ratio < 0.01", "in_band_share >= 0.95", "achieved_ratio >= 0.97"]
)
HOSTILE = '</td></tr></table><script>alert("x")</script><img src="http://evil.example/x.png" onerror="alert(1)"> & co'
FAKE_CHARTS = {"qps.png": b"\x89PNG-qps", "latency.png": b"\x89PNG-latency", "errors.png": b"\x89PNG-errors"}
# Attributes through which a page fetches something.
FETCHING = ("src", "href", "srcset", "action", "formaction", "data", "poster", "background", "cite", "manifest")


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.data: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        self.data.append(data)
        if self._in_style:
            self.style += data

    @property
    def text(self) -> str:
        return "".join(self.data)

    def rows(self) -> list[str]:
        """The decision log's row classes (only its rows carry one)."""
        return [attrs["class"] for tag, attrs in self.tags if tag == "tr" and "class" in attrs]


def page(params, timeline, *, stack="shop", run_id="manual__2026-01-01T00:00:00+00:00", charts=FAKE_CHARTS):
    return render_page(
        stack=stack,
        run_id=run_id,
        params=params,
        timeline=timeline,
        summary=summarize(params, timeline),
        results=evaluate_checks(CHECKS, params, timeline),
        charts=charts,
        generated_at=1_767_226_000.0,
    )


def test_the_page_is_self_contained(params, done_timeline, done_charts):
    html = page(params, done_timeline, charts=done_charts)
    parsed = Page(html)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base", "frame", "meta http-equiv"}
    for tag, attrs in parsed.tags:
        for name in FETCHING:
            if name in attrs:
                assert attrs[name].startswith("data:"), (tag, name, attrs[name][:60])
    assert "url(" not in parsed.style and "@import" not in parsed.style
    assert "http://" not in html and "https://" not in html
    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert [base64.b64decode(src.removeprefix("data:image/png;base64,")) for src in images] == list(
        done_charts.values()
    )


def test_the_page_holds_header_summary_checks_params_and_every_decision(params, aborted_timeline):
    parsed = Page(page(params, aborted_timeline))
    text = parsed.text
    (abort,) = [d for d in aborted_timeline.decisions if d.action == "abort"]
    assert "Ramp report: shop" in text and "run manual__2026-01-01T00:00:00+00:00" in text
    assert "aborted" in text and abort.reason in text
    summary = summarize(params, aborted_timeline)
    assert f"{100 * summary.hold.in_band_share:.2f} %" in text
    assert "checks: 2 of 4 passed" in text
    results = evaluate_checks(CHECKS, params, aborted_timeline)
    assert [r.passed for r in results] == [True, False, True, False]
    for result in results:
        assert (
            result.message in text
            and f"{result.observed:.6g}" in text
            and f"{result.operator} {result.limit:g}" in text
        )
    assert text.count("FAIL") == 2
    assert "abort rules" in text and "p99_ms > 2000 (hard limit)" in text and "bucket_interval_s" in text
    assert parsed.rows() == [d.action for d in aborted_timeline.decisions]
    for d in aborted_timeline.decisions:
        assert d.reason in text
    assert "29→0" in text  # the drain's buckets before → after
    assert f"qps={abort.values['qps']:.6g}\nerror_ratio=0.2" in text
    assert f"{abort.sample_age_s:.1f} s" in text


def test_everything_user_given_is_escaped(params, aborted_timeline):
    decisions = list(aborted_timeline.decisions)
    decisions[-2] = replace(decisions[-2], reason=HOSTILE, values={HOSTILE: HOSTILE}, thresholds={"x": HOSTILE})
    hostile = Timeline(samples=aborted_timeline.samples, decisions=decisions)
    html = page(params, hostile, stack=HOSTILE, run_id=HOSTILE)
    parsed = Page(html)
    assert "<script>" not in html and 'onerror="' not in html
    assert not [tag for tag, _ in parsed.tags if tag == "script"]
    assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]
    assert len([tag for tag, _ in parsed.tags if tag == "img"]) == len(FAKE_CHARTS)
    assert parsed.text.count(HOSTILE) >= 6  # shown as text: header x3, summary, decision reason/values/thresholds
    assert parsed.rows() == [d.action for d in decisions]


def test_a_page_without_checks_or_samples_still_renders(params):
    parsed = Page(
        render_page(
            stack="shop",
            run_id="r1",
            params=params,
            timeline=Timeline(),
            summary=summarize(params, Timeline()),
            results=[],
            charts={},
            generated_at=0.0,
        )
    )
    assert "not started" in parsed.text and "No post-ramp checks were declared." in parsed.text
    assert parsed.rows() == []


def test_a_capacity_search_page_shows_what_it_found_and_every_level(capacity_run):
    result = capacity_run.result
    results = evaluate_checks([Check.model_validate("capacity_qps > 50")], capacity_run.params,
                              capacity_run.state.timeline, result)  # fmt: skip
    page = render_page(
        stack="shop", run_id="r1", params=capacity_run.params, timeline=capacity_run.state.timeline,
        summary=summarize_capacity(capacity_run.state.timeline, result), results=results,
        charts={"levels.png": b"\x89PNG"}, generated_at=0.0,
    )  # fmt: skip
    assert "<h1>Capacity search report: shop</h1>" in page and "checks: 1 of 1 passed" in page
    assert f"{result.bracket_qps[0]:.1f} – {result.bracket_qps[1]:.1f} QPS" in page
    assert "limited by precision" in page and "start_qps" in page and "low / high watermark" not in page
    assert page.count('<tr class="healthy">') + page.count('<tr class="unhealthy">') == len(result.steps)
    assert "Every level the capacity search held" in page
