"""Test-wide environment and fixtures.

Airflow reads AIRFLOW_HOME and its configuration once, when `airflow` is first imported, so the
environment below is set here, before any test module imports it. It is overridden, never
defaulted: a shell that sourced scripts/env.sh must not lead tests to reset the real metadata DB.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import MemoryControl
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, SimulatedDriver, SimulatedSource, Simulator

ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="loadstack-tests-"))
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)

os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_HOME / "airflow"),
        "AIRFLOW_CONFIG": str(_SESSION_HOME / "airflow" / "airflow.cfg"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",  # test config: fernet key, JWT secret
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",  # unit test mode turns examples on; they cost seconds
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_HOME}/airflow/airflow.db",
        "LOADSTACK_HOME": str(_SESSION_HOME / "loadstack"),
    }
)
# LOADSTACK_FUZZ_RANDOM steers the spec fuzzer (`make fuzz`), not loadstack: it stays.
for _name in [n for n in os.environ if n.startswith("LOADSTACK_") and n not in ("LOADSTACK_HOME", "LOADSTACK_FUZZ_RANDOM")]:
    del os.environ[_name]
(_SESSION_HOME / "airflow").mkdir()


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A moto server process on a free loopback port, stopped by its PID at the end; yields its URL."""
    from loadstack.supervisor import free_port

    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{endpoint}/moto-api/", timeout=30)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A freshly reset Airflow metadata DB: SQLite in the test session's temporary AIRFLOW_HOME."""
    from airflow.configuration import AIRFLOW_HOME, conf

    home = Path(AIRFLOW_HOME).resolve()
    url = conf.get("database", "sql_alchemy_conn")
    in_tmp = home.is_relative_to(Path(tempfile.gettempdir()).resolve())
    if not (in_tmp and url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).resolve().is_relative_to(home)):
        # Never reset a database the test session did not create.
        pytest.fail(
            f"refusing to reset the Airflow DB {url} (AIRFLOW_HOME={home}): tests need a throwaway "
            "AIRFLOW_HOME under the temp dir, set before airflow is imported (tests/conftest.py)"
        )
    from airflow.utils import db

    db.resetdb()
    return home


@pytest.fixture
def run_dag(airflow_db, tmp_path, monkeypatch):
    """Run a DAG defined in a test with `dag.test()` and return the DagRun.

    `dag.test()` only runs DAGs that are serialized in the metadata DB, and normally gets them by
    parsing its bundle (the dags folder). A DAG built inside a test is in no file, so it is written to
    the DB directly, as the dag processor would, under a bundle of its own that points at an empty
    directory: dag.test() then re-parses that empty bundle rather than the project's dags/. Plugins
    are off for the same reason (tests/conftest.py points plugins_folder at plugins/).
    """
    bundle_dir = tmp_path / "dag-bundle"
    bundle_dir.mkdir()
    bundle = {
        "name": "loadstack-test-dags",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(bundle_dir), "refresh_interval": 0},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle_dir))
    monkeypatch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", str(tmp_path / "no-plugins"))

    def run(dag: Any, **kwargs: Any):
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.collection import update_dag_parsing_results_in_db
        from airflow.serialization.serialized_objects import LazyDeserializedDAG
        from airflow.utils.session import create_session

        with create_session() as session:
            DagBundlesManager().sync_bundles_to_db(session=session)
            session.flush()
            update_dag_parsing_results_in_db(
                bundle["name"], None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
            )
        return dag.test(**kwargs)

    return run


@pytest.fixture(scope="session")
def finished_ramp_checkpoint() -> dict[str, Any]:
    """What the RampOperator checkpoints (stack, run, step, params, state) for a ramp the simulator took to
    its end ("done": target 600 QPS, band 560..640, three stages), on a fake clock: for the ramp page."""
    params = RampParams(
        target_qps=600.0, threshold_qps=40.0, bucket_qps=10.0, bucket_group=10, group_interval_s=10.0,
        bucket_interval_s=4.0, hold_s=30.0, organic_qps=100.0,
        abort_rules=(AbortRule("error_ratio", 0.05, 5.0), AbortRule("p99_ms", 800.0, 0.0)),
    )
    clock = FakeClock()
    plant = PlantConfig(seed=3, organic_qps=100.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, window_s=5)
    sim = Simulator(plant, clock)
    saved: list[dict[str, Any]] = []
    outcome = run_ramp(RampController(params), SimulatedDriver(sim), SimulatedSource(sim), MemoryControl(), clock,
                       saved.append, 1.0, max_ticks=2000)
    assert outcome.succeeded, outcome
    return {"stack": "shop", "run_id": "manual__1", "step": "surge", "params": params.to_json(), "state": saved[-1]}


# The test files that take longest, longest first (file totals from the run log's --durations, 2026-12-01).
# scripts/pytest.sh runs two workers with --dist loadfile --no-loadscope-reorder, which hand out files in
# collection order: started first, these end together instead of one running alone at the end (xdist's own
# order, most tests first, put these one-test files last). The files all of whose tests are `long` come last:
# `make test-long` runs them on one worker, in any order.
SLOWEST_FIRST = (
    "tests/integration/test_stack_dag.py",
    "tests/integration/airflow/render/test_guaranteed_teardown.py",
    "tests/integration/ramp/test_capacity_stack.py",
    "tests/integration/terraform/test_module_layouts.py",
    "tests/integration/airflow/ui/test_ramp_ui_browser.py",
    "tests/integration/airflow/ui/test_trigger_form_browser.py",
    "tests/integration/ramp/test_metric_source_faults.py",
    "tests/integration/airflow/test_ramp_approval.py",
    "tests/integration/distributed/test_distributed_profile.py",
    "tests/integration/ramp/test_live_shift_stack.py",
    "tests/integration/airflow/test_stack_triggered_twice.py",
    "tests/integration/ramp/test_ramp_faults.py",
    "tests/integration/ramp/test_ramp_stack.py",
    "tests/integration/terraform/test_killed_apply.py",
    "tests/integration/snapshots/test_aws_path_on_moto_server.py",
    "tests/integration/airflow/render/test_reaper_dag.py",
    "tests/integration/test_data_stack.py",
    "tests/integration/test_stack_across_homes.py",
    "tests/integration/terraform/test_moto_restarted.py",
    "tests/integration/test_shop_stack.py",
    "tests/integration/airflow/test_nightly_backfill.py",
    "tests/integration/airflow/test_ramp_host_lost.py",
    "tests/integration/drift/test_drift_dag.py",
    "tests/integration/airflow/test_snapshots_rebuild_on_airflow.py",
)


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {path: position for position, path in enumerate(SLOWEST_FIRST)}
    root = Path(str(config.rootpath))
    missing = [path for path in SLOWEST_FIRST if not (root / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py SLOWEST_FIRST names files that do not exist: {', '.join(missing)} "
                                "(renamed or removed? correct the list)")

    def key(item) -> int:
        return rank.get(Path(str(item.path)).relative_to(root).as_posix(), len(rank))

    items.sort(key=key)  # stable: every other file keeps its place, and every file its tests' order
