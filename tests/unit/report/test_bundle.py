import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import TypeAdapter

import loadstack
from loadstack.ramp.checks import Check
from loadstack.ramp.params import RampParams
from loadstack.ramp.timeline import Timeline
from loadstack.report.bundle import (
    INDEX,
    ReportStoreError,
    StoredReport,
    build_report,
    content_type,
    report_prefix,
    store_report,
)

CHECKS = TypeAdapter(list[Check]).validate_python(["p99_ms < 800", "error_ratio < 0.01", "in_band_share >= 0.95"])
FILES = ["timeline.json", "qps.png", "latency.png", "errors.png", "index.html"]


@pytest.fixture(scope="module")
def aborted_report(params, aborted_timeline) -> dict[str, bytes]:
    return build_report(
        stack="shop",
        run_id="manual__2026-01-01T00:00:00+00:00",
        params=params,
        timeline=aborted_timeline,
        checks=CHECKS,
        generated_at=1_767_226_000.0,
    )


def strict_json(data: bytes):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(data, parse_constant=refuse)


def test_the_report_is_its_files(aborted_report, params, aborted_timeline):
    assert list(aborted_report) == FILES
    assert all(aborted_report[name].startswith(b"\x89PNG\r\n\x1a\n") for name in FILES if name.endswith(".png"))
    assert aborted_report[INDEX].startswith(b"<!DOCTYPE html>")
    assert aborted_report[INDEX].count(b"data:image/png;base64,") == 3


def test_timeline_json_carries_what_the_page_was_drawn_from(aborted_report, params, aborted_timeline):
    document = strict_json(aborted_report["timeline.json"])
    assert (document["format"], document["stack"], document["run_id"]) == (
        1,
        "shop",
        "manual__2026-01-01T00:00:00+00:00",
    )
    assert RampParams.from_json(document["params"]) == params
    assert Timeline.from_json(document["timeline"]) == aborted_timeline
    assert document["summary"]["outcome"] == "aborted"
    assert document["summary"]["reason"].startswith("error_ratio > 0.05 for 30 s")
    assert [c["metric"] for c in document["checks"]] == ["p99_ms", "error_ratio", "in_band_share"]
    assert [r["passed"] for r in document["check_results"]] == [True, False, True]
    assert document["passed"] is False


def test_numbers_json_cannot_carry_become_no_data(params, done_timeline):
    decisions = list(done_timeline.decisions)
    decisions[1] = replace(decisions[1], values={"qps": math.nan, "p99_ms": math.inf, "odd": {1, 2}})
    files = build_report(
        stack="shop",
        run_id="r1",
        params=params,
        timeline=Timeline(samples=done_timeline.samples[:30], decisions=decisions[:30]),
    )
    values = strict_json(files["timeline.json"])["timeline"]["decisions"][1]["values"]
    assert values == {"qps": None, "p99_ms": None, "odd": "{1, 2}"}
    assert strict_json(files["timeline.json"])["passed"] is True  # no checks declared


def test_report_prefix():
    assert (
        report_prefix("shop", "manual__2026-01-01T00:00:00+00:00") == "reports/shop/manual__2026-01-01T00:00:00+00:00/"
    )
    assert report_prefix("shop", "r1", "ramp") == "reports/shop/r1/ramp/"
    for parts in (("", "r1"), ("shop", "a/b"), ("shop", ".."), ("sh/op", "r1"), ("shop", "r1", "")):
        with pytest.raises(ValueError, match="cannot name a report folder"):
            report_prefix(*parts)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("qps.png", "image/png"),
        ("timeline.json", "application/json"),
        ("notes", "application/octet-stream"),
    ],
)
def test_content_types(name, expected):
    assert content_type(name) == expected


class Recording:
    """The real (moto) client, with the order of its uploads written down."""

    def __init__(self, client):
        self.client, self.keys = client, []

    def put_object(self, **kwargs):
        self.keys.append(kwargs["Key"])
        return self.client.put_object(**kwargs)


def test_store_report_uploads_every_file_with_its_type_index_last(mocked_aws, aborted_report):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="loadstack-reports")
    client = Recording(s3)
    prefix = report_prefix("shop", "run-1")
    stored = store_report(client, "loadstack-reports", prefix, aborted_report)
    assert client.keys[-1] == "reports/shop/run-1/index.html"
    assert stored.keys == {name: prefix + name for name in FILES}
    assert stored.uri() == "s3://loadstack-reports/reports/shop/run-1/index.html"
    assert stored.index_key == "reports/shop/run-1/index.html"
    for name in FILES:
        got = s3.get_object(Bucket="loadstack-reports", Key=prefix + name)
        assert got["Body"].read() == aborted_report[name]
        assert got["ContentType"] == content_type(name)
    listed = s3.list_objects_v2(Bucket="loadstack-reports", Prefix="reports/shop/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(stored.keys.values())
    assert (
        json.loads(json.dumps(stored.to_json()))["uris"]["qps.png"]
        == "s3://loadstack-reports/reports/shop/run-1/qps.png"
    )
    assert StoredReport(**{k: v for k, v in stored.to_json().items() if k != "uris"}) == stored


def test_store_report_normalises_the_prefix(mocked_aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="reports-b")
    assert store_report(s3, "reports-b", "/reports/x//", {"a.json": b"{}"}).keys == {"a.json": "reports/x/a.json"}
    assert store_report(s3, "reports-b", "", {"a.json": b"{}"}).keys == {"a.json": "a.json"}


def test_a_missing_bucket_is_named(mocked_aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(ReportStoreError, match="report bucket nowhere does not exist: create it") as error:
        store_report(s3, "nowhere", "reports/shop/r1/", {"timeline.json": b"{}", INDEX: b"<!DOCTYPE html>"})
    assert "s3://nowhere/reports/shop/r1/timeline.json not stored" in str(error.value)


def test_importing_the_bundle_does_not_import_matplotlib():
    plugins = os.path.dirname(os.path.dirname(loadstack.__file__))
    code = "import sys, loadstack.report.bundle; print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": plugins},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


class Refusing(Recording):
    """Lets the first upload through to moto and refuses the next (a policy moto does not enforce)."""

    def put_object(self, **kwargs):
        if self.keys:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
        return super().put_object(**kwargs)


def test_a_refused_upload_names_the_file_the_key_and_what_was_stored(mocked_aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="loadstack-reports")
    files = {"timeline.json": b"{}", "qps.png": b"png", INDEX: b"<!DOCTYPE html>"}
    with pytest.raises(ReportStoreError) as error:
        store_report(Refusing(s3), "loadstack-reports", "reports/shop/r1", files)
    assert str(error.value) == (
        "could not store the report file timeline.json at s3://loadstack-reports/reports/shop/r1/timeline.json: "
        "AccessDenied: Access Denied (stored before it: ['qps.png'])"
    )
