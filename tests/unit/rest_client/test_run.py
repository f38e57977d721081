"""loadstack.rest_client.run (the demo's core) against the fake api-server of tests/unit/conftest.py."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import unquote

from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from airflow_client.client import DAGResponse

from loadstack.rest_client.run import Narrator, catch_up_due, run_dag, wait_for_dag

PAST_NIGHT = "2026-01-02T02:00:00Z"
TRACEBACK = 'Traceback (most recent call last):\n  File "/srv/dags/shop.py", line 3\nSyntaxError: invalid syntax'


def _setup(fake):
    client = AirflowRestClient(ApiSettings(base_url=fake.url, user="admin", password=fake.password))
    out, err = io.StringIO(), io.StringIO()
    return client, Narrator(out, err), out, err


def test_waits_until_the_dag_is_parsed(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    fake.parse_delay["shop"] = 2
    client, narrator, out, _ = _setup(fake)
    dag = wait_for_dag(client, "shop", timeout=10, narrator=narrator, poll=0.01)
    assert dag.dag_id == "shop"
    assert "waiting for the dag-processor to parse DAG 'shop' ..." in out.getvalue()
    assert len(fake.calls("GET", "/api/v2/dags/shop")) == 3


def test_an_import_error_of_the_dags_file_is_shown_at_once(fake_airflow):
    fake, _ = fake_airflow
    fake.add_import_error("other.py", "NameError: x")
    fake.add_import_error("shop.py", TRACEBACK)
    client, narrator, _, err = _setup(fake)
    assert wait_for_dag(client, "shop", timeout=10, narrator=narrator, poll=0.01, grace=10) is None
    text = err.getvalue()
    assert "--- import error in dags-folder:shop.py" in text and "SyntaxError: invalid syntax" in text
    assert "other.py" not in text
    assert f"(also in the UI: {fake.url}/dags  ->  import errors)" in text
    assert "FAILED: DAG 'shop' is not available: a DAG file fails to import" in text


def test_other_files_import_errors_are_shown_after_the_grace_time(fake_airflow):
    fake, _ = fake_airflow
    fake.add_import_error("common.py", "ImportError: cannot import name 'x'")
    client, narrator, _, err = _setup(fake)
    assert wait_for_dag(client, "shop", timeout=10, narrator=narrator, poll=0.01, grace=0.1) is None
    assert "import error in dags-folder:common.py" in err.getvalue()


def test_a_parsed_dag_whose_file_broke_later_is_reported(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop", has_import_errors=True)
    fake.add_import_error("shop.py", TRACEBACK)
    client, narrator, _, err = _setup(fake)
    assert wait_for_dag(client, "shop", timeout=10, narrator=narrator, poll=0.01) is None
    assert "was parsed before, but its file now fails to import" in err.getvalue()


def test_a_dag_never_parsed_times_out_naming_the_known_dags(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("loadstack_snapshots")
    client, narrator, _, err = _setup(fake)
    assert wait_for_dag(client, "shop", timeout=0.05, narrator=narrator, poll=0.01, not_found_hint="DAG folder: /x") is None
    assert "DAG 'shop' not found after 0 s (DAGs known to Airflow: loadstack_snapshots). DAG folder: /x" in err.getvalue()


def test_a_successful_run_is_unpaused_triggered_and_followed(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop", is_paused=True)
    fake.frames = [
        ("queued", {("network.apply", -1): (None, 0), ("seed", 0): (None, 0)}),
        ("running", {("network.apply", -1): ("running", 1), ("seed", 0): ("scheduled", 0)}),
        ("running", {("network.apply", -1): ("success", 1), ("seed", 0): ("running", 2)}),
        ("success", {("network.apply", -1): ("success", 1), ("seed", 0): ("success", 2)}),
    ]
    client, narrator, out, err = _setup(fake)
    outcome = run_dag(client, "shop", {"users": 5}, timeout=30, parse_timeout=10, poll=0.01, narrator=narrator)
    assert outcome.succeeded and outcome.state == "success" and outcome.summary() == "2 success"
    assert fake.dags["shop"]["is_paused"] is False
    assert fake.calls("POST", "/api/v2/dags/shop/dagRuns")[0][2] == {"logical_date": None, "conf": {"users": 5}}
    text = out.getvalue()
    for expected in (
        "DAG 'shop' is parsed (shop.py)", "unpaused 'shop'", f"triggered run {outcome.run_id} with conf " + '{"users": 5}',
        f"follow it in the UI: {fake.url}/dags/shop/runs/{outcome.run_id.replace(':', '%3A').replace('+', '%2B')}",
        f"run {outcome.run_id}: running", "network.apply                none \u2192 running",
        "network.apply                running \u2192 success  (1.2 s)", "seed[0]                      none \u2192 scheduled",
        "seed[0]                      scheduled \u2192 running  (try 2)", "seed[0]                      running \u2192 success",
        f"run {outcome.run_id} succeeded in 0 s (2 success)",
    ):
        assert expected in text, expected
    assert err.getvalue() == ""


def test_a_failed_run_shows_the_failed_tasks_and_their_log_tails(fake_airflow, tmp_path):
    fake, _ = fake_airflow
    fake.add_dag("shop", is_paused=False)
    fake.frames = [
        ("running", {("load", -1): ("running", 1), ("report", -1): (None, 0)}),
        ("failed", {("load", -1): ("failed", 1), ("report", -1): ("upstream_failed", 0)}),
    ]
    fake.logs["load"] = (
        [{"event": "the error that matters", "timestamp": "2026-01-02T03:04:05.000Z", "level": "error",
          "error_detail": [{"exc_type": "ValueError", "exc_value": "bad row 7",
                            "frames": [{"filename": "/srv/load.py", "lineno": 12, "name": "load"}]}]}]
        + [{"event": f"progress {i}", "timestamp": "2026-01-02T03:04:06.000Z", "level": "info"} for i in range(30)]
    )
    client, narrator, _, err = _setup(fake)
    outcome = run_dag(client, "shop", None, timeout=30, parse_timeout=10, poll=0.01, narrator=narrator, log_folder=tmp_path)
    assert outcome.state == "failed" and not outcome.succeeded
    assert not fake.calls("PATCH", "/api/v2/dags/shop")  # not paused: left alone
    text = err.getvalue()
    assert f"FAILED: run {outcome.run_id} ended failed after 0 s (1 failed, 1 upstream_failed)" in text
    assert "  load                                     failed" in text and "  report                                   upstream_failed" in text
    assert "--- load: last lines of its log ---" in text and "--- report:" not in text
    assert "03:04:05 ERROR   the error that matters\n    at /srv/load.py:12 in load\n    ValueError: bad row 7\n    ..." in text
    assert "03:04:06 INFO    progress 29" in text and "progress 4\n" not in text  # the tail: 25 lines
    assert f"log file: {tmp_path}/dag_id=shop/run_id={outcome.run_id}/task_id=load/attempt=1.log" in text
    assert f"in the UI: {fake.url}/dags/shop/runs/" in text and "/tasks/load" in text


def test_a_refused_conf_ends_before_any_run(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop", is_paused=False)
    client, narrator, _, err = _setup(fake)
    outcome = run_dag(client, "shop", {"forbidden": True}, timeout=30, parse_timeout=10, poll=0.01, narrator=narrator)
    assert outcome.state == "refused" and outcome.run_id is None
    assert "FAILED: the run was refused: POST /api/v2/dags/shop/dagRuns -> HTTP 400: Invalid input for param forbidden" in err.getvalue()


def test_a_run_still_going_at_the_timeout_is_left_running(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop", is_paused=False)
    fake.frames = [("running", {("load", -1): ("running", 1)})]
    client, narrator, _, err = _setup(fake)
    outcome = run_dag(client, "shop", {}, timeout=0.05, parse_timeout=10, poll=0.01, narrator=narrator)
    assert outcome.state == "timeout" and outcome.run_id
    assert f"run {outcome.run_id} still running after 0 s (1 running); it goes on in Airflow" in err.getvalue()


def _nightly(fake, next_run_after: str) -> None:
    fake.add_dag("shop", is_paused=True).update(timetable_summary="0 2 * * *", next_dagrun_run_after=next_run_after)


def test_unpausing_a_dag_whose_missed_run_is_due_says_that_run_comes_too(fake_airflow):
    fake, _ = fake_airflow
    _nightly(fake, PAST_NIGHT)
    fake.frames = [("success", {("network.apply", -1): ("success", 1)})]
    client, narrator, out, _ = _setup(fake)
    outcome = run_dag(client, "shop", {}, timeout=30, parse_timeout=10, poll=0.01, narrator=narrator)
    assert outcome.succeeded and list(fake.runs) == [outcome.run_id]
    assert ("unpausing 'shop' (0 2 * * *) also starts its run due at 2026-01-02 02:00 UTC (catchup off): one runs "
            "after the other") in out.getvalue()


def test_a_scheduled_dag_whose_next_run_is_ahead_is_triggered_with_no_word_of_a_missed_run(fake_airflow):
    fake, _ = fake_airflow
    _nightly(fake, "2999-01-01T02:00:00Z")
    fake.frames = [("success", {("network.apply", -1): ("success", 1)})]
    client, narrator, out, _ = _setup(fake)
    assert run_dag(client, "shop", {}, timeout=30, parse_timeout=10, poll=0.01, narrator=narrator).succeeded
    assert "also starts" not in out.getvalue()
    assert not fake.calls("GET", "/api/v2/dags/shop/dagRuns")  # nothing looked for, nothing waited for


def test_catch_up_due_reads_the_next_run_against_the_clock(fake_airflow):
    fake, _ = fake_airflow
    shop = fake.add_dag("shop")
    nightly = DAGResponse.model_validate(shop | {"timetable_summary": "0 2 * * *", "next_dagrun_run_after": PAST_NIGHT})
    assert catch_up_due(nightly, now=datetime(2026, 1, 2, 1, 59, tzinfo=UTC)) is None
    assert catch_up_due(nightly, now=datetime(2026, 1, 2, 2, 0, tzinfo=UTC)) == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert catch_up_due(DAGResponse.model_validate(shop | {"next_dagrun_run_after": PAST_NIGHT})) is None
