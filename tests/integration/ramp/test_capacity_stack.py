"""The ramp step in capacity mode through Airflow (dag.test) on a local stack: real MariaDB, Redis, the app
behind HAProxy, Prometheus and Locust.

A bounded search (at most 1500 QPS, 200 s) finds the highest QPS the app sustains here: a value above zero
with the bracket it lies in, load above an abort limit never held longer than one interval (read from the
timeline), its checks passed and its report stored.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from loadstack.ramp_store import RampStore

pytestmark = pytest.mark.integration
STACK = "it_capacity"
STEP = "search"
# One interval: a change reaches the app (the Locust driver's settle, 2 s), a sample shows it (the 4 s rate window
# and a 1 s scrape), the search reads it at its next tick (1 s), plus a scrape's jitter.
INTERVAL_S = 2 + 4 + 1 + 1 + 2


def longest_above_a_limit(state: dict, rules: list[dict]) -> float:
    """The longest time from a sample showing a metric above its abort limit to the decision that took the rate
    in effect then down (0 without such a sample)."""
    decisions = [d for d in state["timeline"]["decisions"] if d["action"] != "wait"]
    end = state["ended_at"]
    longest = 0.0
    for sample in state["timeline"]["samples"]:
        if not any(sample.get(rule["metric"]) is not None and sample[rule["metric"]] > rule["limit"] for rule in rules):
            continue
        before = [d for d in decisions if d["at"] <= sample["at"]]
        rate = before[-1]["rate_qps"] if before else 0.0
        lowered = next((d["at"] for d in decisions if d["at"] > sample["at"] and d["rate_qps"] < rate), end)
        longest = max(longest, lowered - sample["at"])
    return longest


def test_a_bounded_capacity_search_on_the_real_app_finds_a_value_with_its_bracket(run_xcoms, stack_dag, run_dag,
                                                                                   local_profile):  # fmt: skip
    import urllib.request

    from airflow.utils.state import DagRunState

    dag = stack_dag(STACK)
    logical_date = datetime.now(timezone.utc)
    started = time.monotonic()
    run = run_dag(dag, logical_date=logical_date, run_after=logical_date)
    took = time.monotonic() - started
    out = run_xcoms(run)
    assert run.state == DagRunState.SUCCESS, out

    ramp = out[f"{STEP}.ramp"]
    found = ramp["capacity"]
    assert ramp["succeeded"] and ramp["mode"] == "capacity" and found["found"], ramp
    assert found["capacity_qps"] > 0 and found["duration_s"] < 200
    if found["limited_by"] != "max_qps":  # the app gave out below max_qps: the capacity is bracketed
        low, high = found["bracket_qps"]
        assert low <= found["capacity_qps"] <= high and found["precision_qps"] == pytest.approx(high - low)
        # Asked: 15 % (or a 5 QPS bucket); a confirmation that lands lower (noise moved) may leave it wider, after
        # its tries run out.
        assert found["precision_qps"] <= 2 * max(0.15 * found["capacity_qps"], 5.0), found
    verdicts = [step["verdict"] for step in found["steps"]]
    assert verdicts.count("healthy") >= 2, found["steps"]

    saved = RampStore(local_profile, STACK, run.run_id, STEP).load()
    state = saved["state"]
    assert saved["params"]["mode"] == "capacity" and state["phase"] == "done" and state["buckets"] == 0
    assert state["timeline"]["decisions"][-1]["action"] == "drain"
    rules = saved["params"]["abort_rules"]
    assert longest_above_a_limit(state, rules) <= INTERVAL_S, longest_above_a_limit(state, rules)

    assert all(result["passed"] for result in out[f"{STEP}.checks"])
    report = out[f"{STEP}.report"]
    assert report["summary"]["outcome"] == "done"
    assert report["summary"]["capacity"]["capacity_qps"] == found["capacity_qps"]
    with urllib.request.urlopen(report["url"], timeout=10) as page:
        assert page.status == 200 and b"Capacity search report" in page.read()
    s3 = local_profile.client("s3")
    prefix = f"reports/{STACK}/{run.run_id}/{STEP}/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=local_profile.report_bucket, Prefix=prefix)["Contents"]}
    assert {prefix + name for name in ("index.html", "timeline.json", "levels.png", "latency.png", "errors.png")} <= keys
    document = json.loads(s3.get_object(Bucket=local_profile.report_bucket, Key=prefix + "timeline.json")["Body"].read())
    assert document["mode"] == "capacity" and document["capacity"]["capacity_qps"] == found["capacity_qps"]
    print(
        f"capacity search on the real app: {found['capacity_qps']:.1f} QPS, bracket {found['bracket_qps']}, "
        f"limited by {found['limited_by']}, knee {found['knee_qps']}, search {found['duration_s']:.0f} s, "
        f"{len(found['steps'])} levels; the DAG run took {took:.0f} s"
    )
