"""The drift report: results through the state bucket, summary, and its JSON / Markdown / HTML files."""

from __future__ import annotations

import json

import pytest

from loadstack.drift.changes import AttributeChange, ResourceDrift
from loadstack.drift.report import (
    HTML_FILE,
    JSON_FILE,
    MARKDOWN_FILE,
    DriftReport,
    StepDrift,
    collect_report,
    load_step_result,
    report_prefix,
    result_key,
    run_slug,
    save_step_result,
)

RUN = "scheduled__2026-11-30T03:00:00+00:00"
TAGS = AttributeChange("tags", '{"Owner": "<mallory>"}', "{}")
VALUE = AttributeChange("value", "(sensitive)", "(sensitive)", sensitive=True)


def drifted(step="network", **kwargs) -> StepDrift:
    resource = ResourceDrift("aws_security_group.app", "aws_security_group", ("update",), (TAGS, VALUE))
    return StepDrift(stack="shop", step=step, workspace=f"shop-{step}", variant="minimal", status="drifted",
                     resources=(resource,), outputs=("sg_id",), seconds=4.2, **kwargs)


def clean(step="mail") -> StepDrift:
    return StepDrift(stack="shop", step=step, workspace=f"shop-{step}", variant="minimal", status="clean")


def test_keys_are_per_run_and_safe():
    assert run_slug(RUN) == "scheduled__2026-11-30T03_00_00_00_00"
    assert result_key(RUN, "shop", "network") == f"loadstack/drift/{run_slug(RUN)}/shop/network.json"
    assert report_prefix(RUN) == "drift/scheduled__2026-11-30T03_00_00_00_00/"


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status 'weird'"):
        StepDrift(stack="s", step="a", workspace="w", variant="minimal", status="weird")


def test_step_results_round_trip_through_the_state_bucket(drift_profile):
    result = drifted(reapplied=True, clean_after_reapply=True)
    key = save_step_result(drift_profile, RUN, result)
    assert key == result_key(RUN, "shop", "network")
    assert load_step_result(drift_profile, RUN, "shop", "network") == result
    assert load_step_result(drift_profile, RUN, "shop", "absent") is None


def test_a_step_without_a_result_is_reported_as_an_error(drift_profile):
    save_step_result(drift_profile, RUN, clean())
    report = collect_report(drift_profile, RUN, [("shop", "mail", "shop-mail", "minimal"),
                                                 ("shop", "network", "shop-network", "minimal")], reapply=False)
    summary = report.summary()
    assert summary["clean"] == ["shop/mail"] and summary["errors"] == ["shop/network"]
    assert "recorded no result" in report.steps[1].error


def test_summary_names_drifted_steps_resources_and_reapplies():
    report = DriftReport(run_id=RUN, profile="local", reapply=True, generated_at=0.0, steps=(
        drifted(reapplied=True, clean_after_reapply=False), clean(),
        StepDrift(stack="web", step="cdn", workspace="web-cdn", variant="minimal", status="error", error="lock"),
    ), unreadable_specs={"broken.yaml": "broken.yaml: steps.a.kind: unknown kind"})
    assert report.summary() == {
        "run_id": RUN, "profile": "local", "steps": 3, "stacks": ["shop", "web"],
        "clean": ["shop/mail"], "drifted": ["shop/network"], "errors": ["web/cdn"],
        "drifted_resources": ["shop/network:aws_security_group.app"],
        "reapplied": ["shop/network"], "still_drifted_after_reapply": ["shop/network"],
        "unreadable_specs": ["broken.yaml"],
    }


def test_files_say_the_same_thing_and_escape_values():
    report = DriftReport(run_id=RUN, profile="local", steps=(drifted(), clean()), generated_at=0.0)
    files = report.files()
    assert set(files) == {JSON_FILE, MARKDOWN_FILE, HTML_FILE}
    document = json.loads(files[JSON_FILE])
    assert document["summary"]["drifted"] == ["shop/network"]
    assert document["steps"][0]["resources"][0]["attributes"][1] == VALUE.to_json()
    markdown = files[MARKDOWN_FILE].decode()
    assert "## shop/network — drifted" in markdown
    assert "`aws_security_group.app` (aws_security_group): **update**" in markdown
    assert "`value`: (sensitive) → (sensitive)" in markdown and "outputs that change: sg_id" in markdown
    page = files[HTML_FILE].decode()
    assert "&lt;mallory&gt;" in page and "<mallory>" not in page
    assert "2 Terraform steps in 1 live stacks: 1 clean, 1 drifted (1 resources), 0 errors" in page


def test_an_empty_report_says_no_stack_is_live():
    report = DriftReport(run_id=RUN, profile="local", steps=(), generated_at=0.0)
    assert "No live stack" in report.markdown() and "No live stack" in report.html()
