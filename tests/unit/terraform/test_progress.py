from __future__ import annotations

import json

from loadstack.terraform.progress import TerraformProgress


def feed(*messages):
    lines: list[str] = []
    progress = TerraformProgress(lines.append)
    for message in messages:
        progress(json.dumps(message))
    return progress, lines


def test_plan_apply_stream_becomes_short_lines():
    progress, lines = feed(
        {"type": "version", "@message": "Terraform 1.11.4"},
        {"type": "planned_change", "change": {"resource": {"addr": "aws_lb.this"}, "action": "create"}},
        {"type": "change_summary", "@message": "Plan: 1 to add, 0 to change, 0 to destroy.",
         "changes": {"add": 1, "change": 0, "remove": 0, "operation": "plan"}},
        {"type": "apply_start", "hook": {"resource": {"addr": "aws_lb.this"}, "action": "create"}},
        {"type": "apply_progress", "hook": {"resource": {"addr": "aws_lb.this"}, "action": "create", "elapsed_seconds": 30}},
        {"type": "apply_complete", "hook": {"resource": {"addr": "aws_lb.this"}, "action": "create", "elapsed_seconds": 61}},
        {"type": "outputs", "outputs": {"password": {"sensitive": True, "value": "hunter2"}}},
        {"type": "resource_drift", "change": {"resource": {"addr": "aws_vpc.this"}}},
    )
    assert lines == [
        "plan     + aws_lb.this (create)",
        "Plan: 1 to add, 0 to change, 0 to destroy.",
        "start    aws_lb.this: creating",
        "running  aws_lb.this: still creating (30s elapsed)",
        "done     aws_lb.this: created in 61s",
    ]
    assert progress.planned == [("aws_lb.this", "create")]
    assert progress.summary == {"add": 1, "change": 0, "remove": 0}
    assert progress.applied == 1


def test_errors_are_collected_for_the_failure_message():
    progress, lines = feed(
        {"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Error acquiring the state lock",
                                              "detail": "412 Precondition Failed"}},
        {"type": "apply_errored", "hook": {"resource": {"addr": "aws_vpc.this"}, "action": "create", "elapsed_seconds": 2}},
    )
    assert progress.errors == ["error: Error acquiring the state lock: 412 Precondition Failed"]
    assert lines[-1] == "FAILED   aws_vpc.this: create failed after 2s"


def test_non_json_lines_pass_through():
    lines: list[str] = []
    TerraformProgress(lines.append)("plain text")
    assert lines == ["plain text"]


def test_apply_phase_does_not_repeat_the_plan():
    lines: list[str] = []
    progress = TerraformProgress(lines.append, show_planned=False)
    progress(json.dumps({"type": "planned_change", "change": {"resource": {"addr": "aws_lb.this"}, "action": "create"}}))
    progress(json.dumps({"type": "change_summary", "@message": "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."}))
    assert lines == ["Apply complete! Resources: 1 added, 0 changed, 0 destroyed."]
    assert progress.planned == [("aws_lb.this", "create")]
