"""The demo stack end to end on the local profile: real modules, real Terraform, moto, ZooKeeper,
MariaDB and Redis.

Build the snapshots (the loadstack_snapshots DAG), apply the stack, rerun it with every plan empty
and every handler unchanged, then the teardown DAG removes it all. Both runs are manual runs (dag.test), so
they keep the stack up (`keep_up` unset): their own teardown tasks are skipped, and each run's outcome is in
the stack's history. The nightly path, which tears down at the end, is tests/integration/airflow/render/
test_guaranteed_teardown.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.run_history import RunHistory
from loadstack.spec import load_stack

pytestmark = [pytest.mark.integration, pytest.mark.long]
ROOT = Path(__file__).resolve().parents[2]



def test_shop_applies_in_parallel_replans_clean_and_tears_down(run_xcoms, run_dag, loadstack_env, local_profile, zookeeper, monkeypatch):
    from airflow.utils.state import DagRunState
    from kazoo.client import KazooClient

    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.restore.local_cache import LocalCache
    from loadstack.restore.local_database import LocalDatabase

    monkeypatch.setenv("LOADSTACK_ZOOKEEPER_HOSTS", zookeeper)
    assert run_dag(build_snapshots_dag(ROOT / "include" / "snapshots")).state == DagRunState.SUCCESS
    stack = load_stack(ROOT / "include" / "stacks" / "shop.yaml")

    # The surge ramp at a smaller target and a short hold: the ramp itself has its own tests.
    short_ramp = {"surge_target_qps": 60, "surge_hold_s": 15}
    first = run_dag(build_dag(stack), run_conf=short_ramp)
    assert first.state == DagRunState.SUCCESS
    outputs = run_xcoms(first)
    assert outputs["app.deploy"]["instances"] == 2 and outputs["app.deploy"]["url"].startswith("http://127.0.0.1:")
    assert outputs["surge.ramp"]["phase"] == "done" and outputs["surge.ramp"]["target_qps"] == 60
    assert outputs["surge.report"]["summary"]["outcome"] == "done"
    assert outputs["app_cluster.apply"]["url"].startswith("http://")
    assert outputs["mail_dumpster.apply"]["mail_dumpster_domain"] == "mail-dumpster.loadstack.internal"
    assert outputs["events_db.restore"]["snapshot"] == "shop-seeded"
    assert outputs["seed_events.summary"]["rows"] > 1_000_000  # events plus base tables, already in the snapshot
    assert outputs["cache.restore"]["keys"] == 250_000
    # A manual run keeps the stack up: recorded as passed, with its spin-up time and its ramp's outcome.
    recorded = outputs["run-outcome"]
    assert (recorded["outcome"], recorded["run_type"], recorded["teardown"]) == ("pass", "manual", "kept_up")
    assert recorded["spin_up_s"] > 0 and recorded["ramps"][0]["outcome"] == "done"
    # dag.test() runs tasks one at a time; parallel applies are shown by the hook test and measured
    # through the real scheduler by `make bench`.

    ssm = local_profile.client("ssm")
    assert ssm.get_parameter(Name="/loadstack/shop/app/url")["Parameter"]["Value"] == outputs["app_cluster.apply"]["url"]
    zk = KazooClient(hosts=zookeeper, timeout=5)
    zk.start(timeout=5)
    try:
        data, _ = zk.get("/loadstack/shop/mail_dumpster_domain")
        assert data.decode() == "mail-dumpster.loadstack.internal"
    finally:
        zk.stop()
        zk.close()

    second = run_dag(build_dag(stack), run_conf=short_ramp)
    assert second.state == DagRunState.SUCCESS
    assert run_xcoms(second, key="changed") == {
        "network.apply": False, "mail_dumpster.apply": False, "app_cluster.apply": False,
    }
    assert {tid: v for tid, v in run_xcoms(second).items() if ".publish_" in tid} == {
        "network.publish_ssm_parameter": "unchanged",
        "network.publish_airflow_variable": "unchanged",
        "mail_dumpster.publish_zookeeper_node": "unchanged",
        "mail_dumpster.publish_ssm_parameter": "unchanged",
        "app_cluster.publish_ssm_parameter": "unchanged",
        "app_cluster.publish_secrets_manager_secret": "unchanged",
    }

    assert [r.run_id for r in RunHistory(local_profile).list("shop")][-2:] == [first.run_id, second.run_id]

    teardown = run_dag(build_teardown_dag(stack))
    assert teardown.state == DagRunState.SUCCESS
    ec2 = local_profile.client("ec2")
    # The moto server is the session's: look only at what this stack made (other tests clean up after themselves).
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": ["shop"]}])["Vpcs"] == []
    balancers = local_profile.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert [lb["LoadBalancerName"] for lb in balancers if lb["LoadBalancerName"].startswith("shop-")] == []
    groups = local_profile.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in groups if g["AutoScalingGroupName"].startswith("shop-")] == []
    assert not LocalDatabase(local_profile, "shop", "events_db").base_dir.exists()
    assert not LocalCache(local_profile, "shop", "cache").base_dir.exists()
    from loadstack.backends import backends_for

    assert backends_for(local_profile).app("shop", "app").teardown() is False  # the teardown DAG stopped it
