"""Benchmarks of the spine, measured side by side in one run; results to bench/results.json and README.

1. The demo stack through the real scheduler: DAG run wall time vs the sum of its step durations (an
   ordered list of steps) vs its critical path. Target: wall <= 1.15 x critical. Its surge ramp on
   the real app (bench/ramp_stack.py): achieved / target QPS during the hold, share in band, and the
   Locust workers' requests per CPU second.
2. Terraform's fixed cost per step: init + workspace select on a fresh working copy. Target < 2 s.
3. DAG parse time of 50 generated stacks in one DagBag. Target < 1 s.
4. The data tier on one 1 M-event dataset (bench/data.py): physical restore vs logical dump
   restore vs seeding from scratch; seeding rows/s vs a plain executemany; Redis restore of 1 M
   keys. Targets: physical restore < 2 s; seeding >= 60 k rows/s end to end.
5. The ramp controller on the simulator (bench/ramp.py, no services: `python -m bench ramp`): time to
   band, share of the hold in band, samples above the high watermark, abort latency, at metric delays
   0, 10 and 30 s. Targets: in band >= 95 % of the hold, none above, abort within a bucket interval
   plus the delay.
6. Capacity search on the simulator (bench/capacity.py, no services: `python -m bench capacity`): found vs
   known capacity, precision, search time, knee, time above an abort limit, at delays 0, 10 and 30 s.
7. Capacity search on the real app through the scheduler (`python -m bench capacity_real`, services up):
   the shop_capacity stack's highest sustainable QPS, its precision, the knee and how long the search took;
   the stack is torn down after.
8. The demo stack on the distributed profile (bench/demo_distributed.py): the same as 1 on PostgreSQL + Celery
   with two workers, next to 1's wall time.
9. Distributed Locust (bench/locust_workers.py, no services: `python -m bench locust_workers`): achieved
   requests per second with 1 and with 2 workers of a standing cluster attached by URL, against one fast
   local target, from below one worker's capacity to above it, and the cores each part used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from loadstack.rest_client.run import Narrator, follow_run, wait_for_dag

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- 3. parse time -------------------------------------------------------------------------------
def bench_parse(stacks: int, repeats: int) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    tmp = Path(tempfile.mkdtemp(prefix="loadstack-bench-parse-"))
    try:
        (tmp / "stacks").mkdir()
        (tmp / "dags").mkdir()
        (tmp / "terraform").symlink_to(ROOT / "include" / "terraform")
        (tmp / "snapshots").symlink_to(ROOT / "include" / "snapshots")
        template = (ROOT / "include" / "stacks" / "shop.yaml").read_text()
        for i in range(stacks):
            name = f"stack_{i:03d}"
            (tmp / "stacks" / f"{name}.yaml").write_text(template.replace("name: shop", f"name: {name}"))
            shutil.copy(ROOT / "dags" / "shop.py", tmp / "dags" / f"{name}.py")
        os.environ["LOADSTACK_STACKS_DIR"] = str(tmp / "stacks")
        DagBag(dag_folder=str(tmp / "dags"), safe_mode=True)  # warm-up: first imports of Airflow/loadstack
        totals, per_file = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            bag = DagBag(dag_folder=str(tmp / "dags"), safe_mode=True)
            totals.append(time.perf_counter() - started)
            per_file.extend(stat.duration.total_seconds() for stat in bag.dagbag_stats)
            assert not bag.import_errors, bag.import_errors
            assert len(bag.dags) == 2 * stacks
        return {
            "stacks": stacks,
            "dags": 2 * stacks,
            "repeats": repeats,
            "total_median_s": round(statistics.median(totals), 3),
            "total_max_s": round(max(totals), 3),
            "per_file_median_ms": round(1000 * statistics.median(per_file), 1),
            "per_file_max_ms": round(1000 * max(per_file), 1),
        }
    finally:
        os.environ.pop("LOADSTACK_STACKS_DIR", None)
        shutil.rmtree(tmp, ignore_errors=True)


# --- 2. Terraform fixed cost ---------------------------------------------------------------------
def bench_fixed_cost(repeats: int) -> dict:
    from loadstack.kinds.terraform import TerraformStep
    from loadstack.profiles import load_profile
    from loadstack.terraform.runner import TerraformRunner

    profile = load_profile()
    profile.verify_account()
    module = ROOT / "include" / "terraform" / "network"
    key = TerraformStep(kind="terraform", module="network").state_key()
    samples = []
    for i in range(repeats):
        hook = TerraformRunner(profile=profile, working_dir=profile.work_dir / "bench" / f"fixed-{i}")
        hook.prepare(module, "minimal", {"name": "bench-network"})
        started = time.perf_counter()
        hook.init(key, f"bench-fixed-{i}")
        samples.append(time.perf_counter() - started)
        hook.cleanup(keep_working_dir=False)
    return {
        "module": "network",
        "repeats": repeats,
        "init_plus_workspace_median_s": round(statistics.median(samples), 2),
        "init_plus_workspace_max_s": round(max(samples), 2),
        "samples_s": [round(s, 2) for s in samples],
    }


# --- 1. demo stack through the scheduler ----------------------------------------------------------
def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _run(client, dag_id: str, timeout: float) -> tuple[dict, list[dict]]:
    narrator = Narrator()
    dag = wait_for_dag(client, dag_id, timeout=120, narrator=narrator)
    if dag is None:
        raise SystemExit(f"DAG {dag_id} is not available")
    if dag.is_paused:
        client.unpause(dag_id)  # a stack's schedule starts no run on unpause: the run measured is the only one
    run_id = client.trigger(dag_id, {}).dag_run_id
    log(f"{dag_id}: run {run_id}")
    state, tis = follow_run(client, dag_id, run_id, timeout=timeout, poll=1.0, narrator=narrator)
    if state != "success":
        raise SystemExit(f"{dag_id} run {run_id} ended {state}")
    # JSON-shaped dicts (ISO timestamps), as the measurements below read them.
    return client.run(dag_id, run_id).model_dump(mode="json"), [ti.model_dump(mode="json") for ti in tis]


def bench_demo_stack(timeout: float, settings: ApiSettings | None = None) -> dict:
    """On the Airflow of `settings` (default: the single-machine profile's, from the environment)."""
    from bench.ramp_stack import ramp_measures
    from loadstack.spec import load_stack

    client = AirflowRestClient(settings or ApiSettings.from_environment())
    client.login()
    stack = load_stack(ROOT / "include" / "stacks" / "shop.yaml")
    _run(client, "loadstack_snapshots", timeout)  # the stack restores from them; no-op when current
    log("bringing the shop stack up to date, then tearing it down, so every step applies from nothing")
    _run(client, "shop", timeout)
    _run(client, "shop__teardown", timeout)
    run, tis = _run(client, "shop", timeout)
    wall = _parse_time(run["end_date"]) - _parse_time(run["start_date"])
    first_task = min(_parse_time(ti["start_date"]) for ti in tis)
    last_task = max(_parse_time(ti["end_date"]) for ti in tis)
    steps: dict[str, float] = {}
    applies: dict[str, float] = {}
    for name in stack.steps:
        group = [ti for ti in tis if ti["task_id"].startswith(f"{name}.")]
        steps[name] = max(_parse_time(t["end_date"]) for t in group) - min(_parse_time(t["start_date"]) for t in group)
        applies.update({name: t["duration"] for t in group if t["task_id"] == f"{name}.apply"})
    critical = stack.graph.critical_path(steps)
    ordered = sum(steps.values())
    return {
        "run_id": run["dag_run_id"],
        "wall_s": round(wall, 1),
        "tasks_span_s": round(last_task - first_task, 1),
        "sum_of_steps_s": round(ordered, 1),
        "critical_path_s": round(critical.duration, 1),
        "critical_path": list(critical.steps),
        "wall_over_critical": round(wall / critical.duration, 3),
        "wall_over_sum": round(wall / ordered, 3),
        "step_s": {k: round(v, 1) for k, v in sorted(steps.items())},
        "apply_task_s": {k: round(v, 1) for k, v in sorted(applies.items())},
        "ramp": ramp_measures(client, "shop", run["dag_run_id"]),
    }


# --- 7. capacity search on the real app -----------------------------------------------------------------
def bench_capacity_real(timeout: float) -> dict:
    from bench.capacity import real_app_measures

    client = AirflowRestClient(ApiSettings.from_environment())
    client.login()
    _run(client, "loadstack_snapshots", timeout)  # the stack restores from them; no-op when current
    narrator = Narrator()
    if wait_for_dag(client, "shop_capacity", timeout=120, narrator=narrator) is None:
        raise SystemExit("DAG shop_capacity is not available")
    client.unpause("shop_capacity")
    run_id = client.trigger("shop_capacity", {}).dag_run_id
    log(f"shop_capacity: run {run_id}")
    # A search that gives up fails its run: the numbers it found so far are measured all the same.
    state, _ = follow_run(client, "shop_capacity", run_id, timeout=timeout, poll=1.0, narrator=narrator)
    measures = real_app_measures(client, "shop_capacity", run_id)
    _run(client, "shop_capacity__teardown", timeout)
    return {"run_id": run_id, "run_state": state, **(measures or {"capacity_qps": None, "reason": "no ramp XCom"})}


# --- output ------------------------------------------------------------------------------------------
def table(results: dict) -> str:
    rows = ["| measure | result | target |", "|---|---|---|"]
    demo_r = results.get("demo_stack")
    if demo_r:
        rows += [
            f"| shop DAG run, wall time (scheduler, real Terraform on moto) | {demo_r['wall_s']} s | |",
            f"| sum of step durations (an ordered list of steps) | {demo_r['sum_of_steps_s']} s | |",
            f"| critical path ({' → '.join(demo_r['critical_path'])}) | {demo_r['critical_path_s']} s | |",
            f"| wall / critical path | **{demo_r['wall_over_critical']}** | ≤ 1.15 |",
            f"| wall / sum of steps (gain over an ordered list) | **{demo_r['wall_over_sum']}** | |",
        ]
        if demo_r.get("ramp"):
            from bench.ramp_stack import table_rows as real_ramp_rows

            rows += real_ramp_rows(demo_r["ramp"])
    from bench.demo_distributed import table_rows as distributed_rows

    rows += distributed_rows(results)
    fixed = results.get("terraform_fixed_cost")
    if fixed:
        rows.append(
            f"| Terraform fixed cost per step (init + workspace select, median of {fixed['repeats']}) "
            f"| **{fixed['init_plus_workspace_median_s']} s** (max {fixed['init_plus_workspace_max_s']} s) | < 2 s |"
        )
    parse = results.get("parse")
    if parse:
        rows.append(
            f"| DAG parse, {parse['stacks']} generated stacks ({parse['dags']} DAGs) in one DagBag, median of "
            f"{parse['repeats']} | **{parse['total_median_s']} s** (per file: median {parse['per_file_median_ms']} ms, "
            f"max {parse['per_file_max_ms']} ms) | < 1 s |"
        )
    data = results.get("data")
    if data:
        from bench.data import table_rows

        rows += table_rows(data)
    ramp = results.get("ramp")
    if ramp:
        from bench.ramp import table_rows as ramp_rows

        rows += ramp_rows(ramp)
    capacity = results.get("capacity")
    if capacity:
        from bench.capacity import table_rows as capacity_rows

        rows += capacity_rows(capacity)
    capacity_real = results.get("capacity_real")
    if capacity_real:
        from bench.capacity import real_table_rows

        rows += real_table_rows(capacity_real)
    locust_workers = results.get("locust_workers")
    if locust_workers:
        from bench.locust_workers import table_rows as locust_rows

        rows += locust_rows(locust_workers)
    machine = results["machine"]
    rows.append("")
    rows.append(f"Measured {results['measured_at']} on {machine['cpus']} cores, Python {machine['python']}; "
                "raw numbers in `bench/results.json`.")
    return "\n".join(rows)


def update_readme(text: str) -> None:
    readme = README.read_text()
    if MARK_START in readme and MARK_END in readme:
        head, rest = readme.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        README.write_text(f"{head}{MARK_START}\n{text}\n{MARK_END}{tail}")
        log("README benchmark table updated")
    else:
        log(f"README has no {MARK_START} ... {MARK_END} block; table not written there")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    every = ["demo", "demo_distributed", "fixed", "parse", "data", "ramp", "capacity", "capacity_real",
             "locust_workers"]
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"parts to run ({', '.join(every)}); same as --only")
    parser.add_argument("--only", choices=every, action="append",
                        help="run only these parts (repeatable); default: all")
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--ramp-seeds", type=int, default=20, help="simulated ramps per metric delay (ramp part)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(every))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    only = (args.only or []) + args.parts
    parts = set(only or every)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() and only else {}
    results["measured_at"] = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}
    if "parse" in parts:
        log(f"parse: {args.stacks} generated stacks")
        results["parse"] = bench_parse(args.stacks, args.repeats)
        log(json.dumps(results["parse"]))
    if "fixed" in parts:
        log("terraform fixed cost per step")
        results["terraform_fixed_cost"] = bench_fixed_cost(args.repeats)
        log(json.dumps(results["terraform_fixed_cost"]))
    if "data" in parts:
        from bench.data import bench_data

        log("data tier: 1 M events, 1 M cache keys (about a minute)")
        results["data"] = bench_data()
        log(json.dumps(results["data"])[:2000])
    if "ramp" in parts:
        from bench.ramp import bench_ramp

        log(f"ramp controller on the simulator: {args.ramp_seeds} seeds x delays 0, 10, 30 s (about a minute)")
        results["ramp"] = bench_ramp(args.ramp_seeds)
        log(json.dumps(results["ramp"]["delays"])[:2000])
    if "capacity" in parts:
        from bench.capacity import bench_capacity

        log(f"capacity search on the simulator: {args.ramp_seeds} seeds x delays 0, 10, 30 s")
        results["capacity"] = bench_capacity(args.ramp_seeds)
        log(json.dumps(results["capacity"]["delays"])[:2000])
    if "capacity_real" in parts:
        log("capacity search on the real app through the scheduler (shop_capacity; a few minutes)")
        results["capacity_real"] = bench_capacity_real(args.timeout)
        log(json.dumps(results["capacity_real"]))
    if "locust_workers" in parts:
        from bench.locust_workers import bench_locust_workers

        log("distributed Locust: 1 and 2 workers against one fast local target (a few minutes, every core)")
        results["locust_workers"] = bench_locust_workers()
        log(json.dumps(results["locust_workers"]))
    if "demo" in parts:
        log("demo stack through the scheduler (takes a few minutes)")
        results["demo_stack"] = bench_demo_stack(args.timeout)
        log(json.dumps(results["demo_stack"]))
    if "demo_distributed" in parts:
        from bench.demo_distributed import bench_demo_distributed

        log("demo stack on the distributed profile (PostgreSQL, Celery, two workers; starts it if needed)")
        results["demo_distributed"] = bench_demo_distributed(args.timeout, bench_demo_stack)
        log(json.dumps(results["demo_distributed"]))
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    log(f"wrote {RESULTS}")
    update_readme(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
