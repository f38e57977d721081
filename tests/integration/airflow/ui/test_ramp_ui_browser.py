"""The ramp page in a real browser (Playwright driving Debian's chromium) on a real api-server.

A ramp runs in this process on the simulator in real time (SystemClock): it checkpoints to the state
bucket the api-server reads and takes its control record from the ramp task's task state store through
the REST API, exactly as the RampOperator does through its task context. The browser logs in through
Airflow's form, opens the task instance's "Ramp" tab, watches the chart move, and presses Pause, Resume
and Terminate; the ramp obeys each (paused: its traffic stays flat; terminated: drained, ended with the
reason typed on the page).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from loadstack.airflow.operators.ramp import TaskStateControl
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.control import CONTROL_KEY
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import RampOutcome, run_ramp
from loadstack.ramp.simulator import PlantConfig, SimulatedDriver, SimulatedSource, Simulator
from loadstack.ramp_store import RampStore


pytestmark = pytest.mark.integration

STACK, STEP, RAMP_TASK = "ramp_probe", "surge", "surge.ramp"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# A ramp that takes a few seconds per stage and would hold for ten minutes: the test ends it.
PARAMS = RampParams(
    target_qps=300.0, threshold_qps=20.0, bucket_qps=10.0, bucket_group=5, group_interval_s=2.0,
    bucket_interval_s=1.0, hold_s=600.0, max_staleness_s=10.0, no_data_limit_s=30.0, organic_qps=20.0,
    abort_rules=(AbortRule("error_ratio", 0.5, 5.0),),
)
PLANT = PlantConfig(seed=5, organic_qps=20.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.5, window_s=2,
                    settle_s=0.5, knee_qps=5000.0)


class RestTaskStateStore:
    """The ramp task's task state store through the REST API: what `context["task_state_store"]` is in a task."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def get(self, key: str) -> Any:
        return self.client.task_state(STACK, self.run_id, RAMP_TASK, key)


class LiveRamp:
    """The controller over the simulator in a thread, checkpointing and reading its control as a ramp task."""

    def __init__(self, api_server, run_id: str) -> None:
        self.store = RampStore(api_server.profile, STACK, run_id, STEP)
        self.client = api_server.client()
        self.sim = Simulator(PLANT, SystemClock())
        self.driver = SimulatedDriver(self.sim)
        self.outcome: RampOutcome | None = None
        self.error: BaseException | None = None
        self.run_id = run_id
        self.thread = threading.Thread(target=self._run, name="live-ramp", daemon=True)

    def _run(self) -> None:
        try:
            with self.client:
                self.outcome = run_ramp(
                    RampController(PARAMS), self.driver, SimulatedSource(self.sim),
                    TaskStateControl(RestTaskStateStore(self.client, self.run_id), _Log()), SystemClock(),
                    self._checkpoint, 0.5, checkpoint_every_s=1.0,
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _checkpoint(self, state: dict[str, Any]) -> None:
        self.store.save({"stack": STACK, "run_id": self.run_id, "step": STEP, "params": PARAMS.to_json(), "state": state})

    def state(self) -> dict[str, Any]:
        return self.store.load()["state"]


class _Log:
    def warning(self, message: str, *args: Any) -> None:
        print("ramp control:", message % args)


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Playwright drives Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def test_watch_pause_resume_and_terminate_a_ramp_from_the_task_instances_ramp_tab(api_server, browser, tmp_path):
    run_id = api_server.new_run()
    ramp = LiveRamp(api_server, run_id)
    ramp.thread.start()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # Log in through Airflow's form, then open the ramp task instance and its "Ramp" tab.
        task_page = f"{api_server.url}/dags/{STACK}/runs/{run_id}/tasks/{RAMP_TASK}"
        page.goto(task_page)
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(api_server.passwords["admin"])
        page.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "/auth/" not in url, timeout=30_000)
        if not page.url.startswith(task_page):
            page.goto(task_page)
        page.get_by_role("link", name="Ramp", exact=True).click()
        page.wait_for_url(f"**/tasks/{RAMP_TASK}/plugin/loadstack-ramp", timeout=30_000)
        frame = page.frame_locator('iframe[title="Ramp"]')

        # The chart moves while the ramp runs.
        chart = frame.locator("#qps-chart")
        first = wait_for(lambda: int(chart.get_attribute("data-samples") or 0), 30, "samples on the chart")
        wait_for(lambda: int(chart.get_attribute("data-samples") or 0) >= first + 3, 30, "the chart to move")
        assert chart.locator("path.series").count() == 1
        assert frame.locator("#decision-rows tr").count() >= 1

        # Pause: the ramp says paused and its traffic stays flat.
        frame.locator("#command-reason").fill("checking an alert")
        frame.locator("#pause").click()
        sync_api.expect(frame.locator("#phase")).to_have_text("paused", timeout=30_000)
        with api_server.client() as client:
            record = client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY)
        assert (record["action"], record["seq"], record["by"], record["reason"]) == (
            "pause", 1, "admin", "checking an alert")
        held = ramp.state()
        time.sleep(3)
        later = ramp.state()
        assert later["phase"] == "paused" and later["buckets"] == held["buckets"] > 0
        assert ramp.driver.applied_rate() == held["buckets"] * PARAMS.bucket_qps
        flat = held["buckets"] * PARAMS.bucket_qps + PLANT.organic_qps
        measured = [s["qps"] for s in later["timeline"]["samples"][-3:]]
        assert all(abs(qps - flat) < 0.15 * flat for qps in measured), (flat, measured)
        sync_api.expect(frame.locator("#resume")).to_be_enabled()
        sync_api.expect(frame.locator("#pause")).to_be_disabled()

        # Resume: the ramp goes on from where it was.
        frame.locator("#resume").click()
        sync_api.expect(frame.locator("#phase")).not_to_have_text("paused", timeout=30_000)
        assert ramp.state()["phase"] in ("ramping", "holding")

        # Terminate: drained, ended with the reason given on the page.
        frame.locator("#command-reason").fill("db CPU at 95 %")
        frame.locator("#terminate").click()
        sync_api.expect(frame.locator("#terminate")).to_have_text("Confirm terminate")
        with api_server.client() as client:  # one click only asks
            assert client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY)["action"] == "resume"
        frame.locator("#terminate").click()
        sync_api.expect(frame.locator("#phase")).to_have_text("terminated", timeout=30_000)
        ramp.thread.join(30)
        assert ramp.error is None, ramp.error
        assert ramp.outcome is not None and not ramp.outcome.succeeded and ramp.outcome.phase == "terminated"
        assert "terminate #3 by admin: db CPU at 95 %" in ramp.outcome.reason
        assert ramp.driver.applied_rate() == 0
        sync_api.expect(frame.locator("#terminate")).to_be_disabled()
        sync_api.expect(frame.locator("#decision-rows tr.terminate")).to_have_count(1)
    finally:
        page.screenshot(path=str(tmp_path / "ramp-page.png"), full_page=True)
        page.close()
        if ramp.thread.is_alive():
            with api_server.client() as client:  # stop the ramp as a human would
                record = client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY) or {}
                client.set_task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY, {
                    "action": "terminate", "seq": int(record.get("seq", 0)) + 1, "at": time.time(), "by": "test"})
            ramp.thread.join(30)
