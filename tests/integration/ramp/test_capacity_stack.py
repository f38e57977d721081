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
SETTLE_S = 2.0  # the Locust driver's: a rate set at t is the traffic from t + 2 s
# One interval: a breach shows in a sample (the 4 s rate window and a 1 s scrape), the search reads it at its next
# tick (1 s), and the lower rate reaches the app (the settle, 2 s); plus the jitter of a scrape and a tick on a
# busy machine (CI's two cores also run the app, Locust, Prometheus and another test: 10.3 s was seen there).
INTERVAL_S = 4 + 1 + 1 + SETTLE_S + 3


def longest_above_a_limit(state: dict, rules: list[dict]) -> tuple[float, dict | None]:
    """The longest a level stayed after its traffic went above an abort limit, and the sample that showed it.

    A level is a rate the search set, in effect from its decision + the settle time until the next rate's; a
    sample above a limit blames the highest level in effect over its window (the traffic it reflects), from
    its start (or the level's, if later) until the level ended: as on the simulator (bench/capacity.py), each
    visit above a limit is measured on its own.
    """
    levels: list[tuple[float, float]] = []  # (decided at, rate), one per rate change
    for d in state["timeline"]["decisions"]:
        if not levels or d["rate_qps"] != levels[-1][1]:
            levels.append((d["at"], d["rate_qps"]))
    longest, worst = 0.0, None
    for sample in state["timeline"]["samples"]:
        if not any(sample.get(rule["metric"]) is not None and sample[rule["metric"]] > rule["limit"] for rule in rules):
            continue
        start, end = sample["at"], sample["at"] + (sample.get("window_s") or 0.0)
        in_effect = [
            (i, at, rate) for i, (at, rate) in enumerate(levels)
            if at + SETTLE_S <= end and (i + 1 == len(levels) or levels[i + 1][0] + SETTLE_S > start)
        ]  # fmt: skip
        if not in_effect:
            continue
        i, at, rate = max(in_effect, key=lambda level: level[2])  # the highest rate over the window is to blame
        left = levels[i + 1][0] if i + 1 < len(levels) else state["ended_at"]
        held = left - max(at + SETTLE_S, start) + SETTLE_S
        if held > longest:
            longest, worst = held, {"sample": sample, "rate_qps": rate, "set_at": at, "left_at": left}
    return longest, worst


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
    held, worst = longest_above_a_limit(state, rules)
    if held > INTERVAL_S:  # what the search saw and did over that level, to tell a slow tick from a wrong call
        window = (worst["set_at"] - 1, worst["left_at"] + 1)
        seen = [d for d in state["timeline"]["decisions"] if window[0] <= d["at"] <= window[1]]
        shown = [s for s in state["timeline"]["samples"] if window[0] <= s["at"] <= window[1]]
        print(json.dumps({"decisions": seen, "samples": shown}, indent=1, default=str))
    assert held <= INTERVAL_S, (held, worst)

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
        f"{len(found['steps'])} levels; longest above an abort limit {held:.1f} s; the DAG run took {took:.0f} s"
    )
