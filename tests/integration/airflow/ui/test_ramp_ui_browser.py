"""The ramp page in a real browser (Playwright driving Debian's chromium) on a real running Airflow.

Airflow runs whole (api-server, scheduler with the LocalExecutor, dag-processor, triggerer: the factory of
tests/integration/airflow/conftest.py). The test DAG is built as a stack DAG's ramp step is: a RampOperator
with a stack, a step, the variant Param, parameters per variant, and a retry. Only its rig is replaced, in the
DAG file, by the simulator's driver and source (the simulator stands for the application under test and its
monitoring); the task, its task state store, the checkpoint in the state bucket, the AirflowFailException with
the reason and the clear semantics are the real ones.

The browser logs in through Airflow's form, opens the running ramp task's "Ramp" tab, watches the chart move,
and presses Pause (the ramp says paused and its traffic stays flat), Resume, and Terminate (the traffic drains,
the task fails at once despite its retry, with the reason in its log and on the page). Then it clears the task
with the task instance's "Clear Task Instance" button, and the ramp runs again from where it was drained and
succeeds once it has held its band.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright import sync_api

from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.simulator import PlantConfig
from loadstack.ramp_store import RampStore

pytestmark = pytest.mark.integration

STACK, STEP, RAMP_TASK = "ramp_live", "surge", "surge.ramp"
# Small buckets in groups of two: stage 1 alone takes about 30 s of real time, long enough to pause, resume and
# terminate in it; a cleared try then ramps on from the drained level and holds its band for 10 s.
PARAMS = RampParams(
    target_qps=300.0, threshold_qps=20.0, bucket_qps=10.0, bucket_group=2, group_interval_s=3.0,
    bucket_interval_s=2.0, hold_s=10.0, max_staleness_s=10.0, no_data_limit_s=30.0, organic_qps=20.0,
    abort_rules=(AbortRule("error_ratio", 0.5, 5.0),),
)
PLANT = PlantConfig(seed=5, organic_qps=20.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.5, window_s=2,
                    settle_s=0.5, knee_qps=5000.0)
RAMP_DAG = f'''
from datetime import timedelta

from airflow.sdk import DAG, Param, TaskGroup

from loadstack.airflow.operators.ramp import RampOperator
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.simulator import PlantConfig, Simulator
from loadstack.ramp_rig import RampRig

PARAMS = {PARAMS.to_json()!r}
PLANT = PlantConfig(**{PLANT.__dict__!r})


class SimulatedRampOperator(RampOperator):
    """A real RampOperator whose traffic and metrics are the simulator's (it stands for the app under test)."""

    def open_rig(self, context, resolved):
        simulator = Simulator(PLANT, SystemClock())
        return RampRig(driver=simulator.driver, source=simulator.source)


with DAG(dag_id="{STACK}", schedule=None, params={{"variant": Param("minimal", enum=["minimal", "production"])}}):
    with TaskGroup("{STEP}"):
        SimulatedRampOperator(
            task_id="ramp",
            stack="{STACK}",
            step="{STEP}",
            variant="{{{{ params.variant }}}}",
            params_by_variant={{"minimal": PARAMS, "production": PARAMS}},
            overrides={{}},
            target_url="http://127.0.0.1:9/",
            load={{"driver": "locust", "locustfile": "include/locust/shop.py", "workers": 1, "master_url": ""}},
            metrics={{"source": "prometheus", "url": "http://127.0.0.1:9/", "window_s": 2, "scrape_interval_s": 1}},
            output_sources={{}},
            tick_s=0.5,
            retries=1,
            retry_delay=timedelta(seconds=1),
            execution_timeout=timedelta(minutes=5),
        )
'''


@pytest.fixture(scope="module")
def airflow(start_airflow):
    return start_airflow({STACK: RAMP_DAG})


def test_watch_pause_resume_terminate_and_clear_a_ramp_task_from_the_airflow_ui(airflow, browser, log_in, wait_for,
                                                                                tmp_path):
    print(f"Airflow started in {airflow.started_in_s} s")
    run_id = airflow.trigger(STACK)
    store = RampStore(airflow.profile, STACK, run_id, STEP)
    task_page = airflow.task_page(STACK, run_id, RAMP_TASK)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    shots = iter(range(1, 100))

    def screenshot(name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{next(shots):02d}-{name}.png"), full_page=True)

    def checkpoint() -> dict[str, Any]:
        return store.load()["state"]

    def control_record() -> dict[str, Any] | None:
        with airflow.client() as client:
            return client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY)

    try:
        # Log in through Airflow's form while the scheduler starts the task.
        log_in(page, airflow, task_page, back_to_url=False)
        airflow.wait_for_task(STACK, run_id, RAMP_TASK, {"running"}, timeout=90, try_number=1)
        if not page.url.startswith(task_page):
            page.goto(task_page)

        # The running task instance's "Ramp" tab: the chart moves.
        page.get_by_role("link", name="Ramp", exact=True).click()
        page.wait_for_url(f"**/tasks/{RAMP_TASK}/plugin/loadstack-ramp", timeout=30_000)
        frame = page.frame_locator('iframe[title="Ramp"]')
        chart = frame.locator("#qps-chart")
        first = wait_for(lambda: int(chart.get_attribute("data-samples") or 0), 60, "samples on the chart")
        wait_for(lambda: int(chart.get_attribute("data-samples") or 0) >= first + 3, 30, "the chart to move")
        assert chart.locator("path.series").count() == 1
        sync_api.expect(frame.locator("#task-state")).to_have_text("running")
        sync_api.expect(frame.locator("#phase")).to_have_text("ramping")
        screenshot("ramp-running")

        # Pause: the controller says paused, and its traffic stays flat.
        frame.locator("#command-reason").fill("checking an alert")
        frame.locator("#pause").click()
        sync_api.expect(frame.locator("#phase")).to_have_text("paused", timeout=30_000)
        sync_api.expect(frame.locator("#control")).to_have_text("pause #1 by admin: checking an alert (applied)")
        sync_api.expect(frame.locator("#command-result")).to_have_text("")  # "sent" only until applied
        record = control_record()
        assert (record["action"], record["seq"], record["by"], record["reason"]) == (
            "pause", 1, "admin", "checking an alert")
        held = checkpoint()
        [paused_at] = [d["at"] for d in held["timeline"]["decisions"] if d["action"] == "pause"]
        assert held["phase"] == "paused" and held["buckets"] > 0
        with airflow.client() as client:
            assert client.task_state(STACK, run_id, RAMP_TASK, STATUS_KEY)["phase"] == "paused"
        # Samples whose window began after the last change took effect (settle 0.5 s) are the held rate.
        flat = held["buckets"] * PARAMS.bucket_qps + PLANT.organic_qps
        def samples_while_paused() -> list[float] | None:
            found = [s["qps"] for s in checkpoint()["timeline"]["samples"] if s["at"] >= paused_at + 1.0]
            return found if len(found) >= 4 else None

        settled = wait_for(samples_while_paused, 30, "samples taken while paused")
        later = checkpoint()
        assert later["phase"] == "paused" and later["buckets"] == held["buckets"]
        assert all(abs(qps - flat) < 0.15 * flat for qps in settled), (flat, settled)
        sync_api.expect(frame.locator("#resume")).to_be_enabled()
        sync_api.expect(frame.locator("#pause")).to_be_disabled()
        screenshot("ramp-paused")

        # Resume: the ramp goes on from where it was.
        frame.locator("#resume").click()
        sync_api.expect(frame.locator("#phase")).to_have_text("ramping", timeout=30_000)

        # Terminate (two clicks: the first only asks): the traffic drains and the task fails, its retry unused.
        frame.locator("#command-reason").fill("db CPU at 95 %")
        frame.locator("#terminate").click()
        sync_api.expect(frame.locator("#terminate")).to_have_text("Confirm terminate")
        assert control_record()["action"] == "resume"
        frame.locator("#terminate").click()
        sync_api.expect(frame.locator("#phase")).to_have_text("terminated", timeout=30_000)
        # failed, not up_for_retry: AirflowFailException (a human said stop) skips the retry the task has.
        airflow.wait_for_task(STACK, run_id, RAMP_TASK, {"failed"}, timeout=60, try_number=1)
        ended = checkpoint()
        drain = ended["timeline"]["decisions"][-1]
        assert ended["phase"] == "terminated" and ended["buckets"] == 0 and ended["drained_from"] > 0
        assert (drain["action"], drain["buckets_after"], drain["rate_qps"]) == ("drain", 0, 0)
        reason = "terminate #3 by admin: db CPU at 95 %"
        assert reason in ended["end_reason"]
        log = airflow.log_tail(STACK, run_id, RAMP_TASK, 1, lines=80)
        assert re.search(rf"ramp terminated at stage \d: terminated \({re.escape(reason)}\)", log), log
        sync_api.expect(frame.locator("#task-state")).to_have_text("failed", timeout=30_000)
        sync_api.expect(frame.locator("#reason")).to_contain_text(reason)
        sync_api.expect(frame.locator("#terminate")).to_be_disabled()
        sync_api.expect(frame.locator("#decision-rows tr.terminate")).to_have_count(1)
        screenshot("ramp-terminated")

        # Clear the task instance from its page: it runs again from where it was drained and holds its band.
        # The button's accessible name is its tooltip, which names the shortcut when shortcuts are on.
        clear = page.get_by_role("button", name=re.compile(r"^(Clear Task Instance|Press shift\+c to clear)$"))
        sync_api.expect(clear).to_have_count(1)
        clear.click()
        dialog = page.get_by_role("dialog")
        sync_api.expect(dialog).to_be_visible()
        screenshot("clear-dialog")
        dialog.get_by_role("button", name="Confirm").click()
        sync_api.expect(dialog).to_be_hidden(timeout=30_000)
        airflow.wait_for_task(STACK, run_id, RAMP_TASK, {"running", "success"}, timeout=90, try_number=2)
        sync_api.expect(frame.locator("#task-state")).to_have_text("running", timeout=30_000)
        sync_api.expect(frame.locator("#phase")).to_have_text("ramping", timeout=30_000)
        # The cleared try does not apply the terminate again: the page says it is history.
        sync_api.expect(frame.locator("#control")).to_have_text(f"{reason} (applied)")
        airflow.wait_for_task(STACK, run_id, RAMP_TASK, {"success"}, timeout=150, try_number=2)
        done = checkpoint()
        assert done["phase"] == "done" and done["tries"] == 2 and done["applied_control_seq"] == 3
        restart = next(d for d in done["timeline"]["decisions"] if d["action"] == "start" and "cleared after" in d["reason"])
        assert restart["values"]["buckets_checkpointed"] == ended["drained_from"]
        assert done["in_band_s"] >= PARAMS.hold_s
        with airflow.client() as client:
            result = client.xcom(STACK, run_id, RAMP_TASK)
        assert result["succeeded"] is True and result["phase"] == "done"
        airflow.wait_for_run(STACK, run_id, {"success"}, timeout=30)
        sync_api.expect(frame.locator("#task-state")).to_have_text("success", timeout=30_000)
        sync_api.expect(frame.locator("#phase")).to_have_text("done", timeout=30_000)
        screenshot("ramp-done-after-clear")
    finally:
        screenshot("last")
        page.close()
