"""A stack run shaped from the typed Trigger form in a real browser (Playwright driving Debian's chromium) on a
real running Airflow (tests/integration/airflow/conftest.py: api-server, scheduler, dag-processor, triggerer).

The test DAG is a real stack DAG (`build_dag` of tests/fixtures/it_stacks/it_form.yaml: a Terraform step on the moto
server, a ramp step, its checks and report, the registry task); only the ramp's rig is replaced, in the DAG file, by the simulator's driver and source,
as test_ramp_ui_browser.py does (the simulator stands for the application under test and its monitoring).

The browser logs in, opens the stack's DAG, opens the Trigger form, picks the minimal variant (the spec's default
is production), types a target QPS, sees the form refuse a TTL that is not a duration, sets one, triggers, follows
the run to success, and opens the ramp report from the report task's "Ramp report" link. The run's conf, the
ramp's result (the target it ramped to) and the registry entry (the TTL) show the form's values reached the tasks.

"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright import sync_api

from loadstack.ramp.simulator import PlantConfig
from loadstack.stack_registry import StackRegistry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
MODULES = ROOT / "tests" / "fixtures" / "tf_modules"
SPEC = ROOT / "tests" / "fixtures" / "it_stacks" / "it_form.yaml"
STACK, RAMP_TASK, REPORT_TASK = "it_form", "surge.ramp", "surge.report"
TARGET_QPS = 200
PLANT = PlantConfig(seed=7, organic_qps=20.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.5, window_s=2,
                    settle_s=0.5, knee_qps=5000.0)
STACK_DAG = f'''
from pathlib import Path

from loadstack.airflow.operators.ramp import RampOperator
from loadstack.airflow.render import build_dag
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.simulator import PlantConfig, Simulator
from loadstack.ramp_rig import RampRig
from loadstack.spec import load_stack

PLANT = PlantConfig(**{PLANT.__dict__!r})


def simulated_rig(self, context, resolved):
    """The simulator stands for the application under test and its monitoring."""
    simulator = Simulator(PLANT, SystemClock())
    return RampRig(driver=simulator.driver, source=simulator.source)


RampOperator.open_rig = simulated_rig
dag = build_dag(load_stack(Path({str(SPEC)!r}), modules_dir=Path({str(MODULES)!r})))
'''


@pytest.fixture(scope="module")
def airflow(start_airflow):
    return start_airflow({STACK: STACK_DAG})


@pytest.fixture
def cleanup(airflow):
    """The run keeps its stack up (a manual run): remove what it stood up and its registry entry afterwards."""
    yield
    ssm = airflow.profile.client("ssm")
    try:
        ssm.delete_parameter(Name="/it/form/param")
    except ssm.exceptions.ParameterNotFound:
        pass
    StackRegistry(airflow.profile).remove(STACK)


def test_trigger_a_stack_from_the_typed_form_follow_it_and_open_its_report(airflow, browser, log_in, wait_for, cleanup,
                                                                           tmp_path):
    print(f"Airflow started in {airflow.started_in_s} s")
    with airflow.client() as client:
        client.unpause(STACK)  # the project's airflow.cfg pauses new DAGs
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    shots = iter(range(1, 100))

    def screenshot(name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{next(shots):02d}-{name}.png"), full_page=True)

    try:
        log_in(page, airflow, f"{airflow.url}/dags/{STACK}")

        # The Trigger form: the stack's section and the ramp step's, each field typed and described.
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        sync_api.expect(dialog).to_be_visible()
        for section in ("Stack", "Step surge (ramp)"):
            sync_api.expect(section_trigger(dialog, section)).to_be_visible()
        open_section(dialog, "Stack")
        sync_api.expect(dialog.get_by_text("keep the stack up after the run; empty: manual runs keep it, "
                                           "scheduled runs tear it down")).to_be_visible()
        screenshot("form-stack")
        dialog.locator("#element_variant").click()
        page.get_by_role("option", name="minimal: small and fast to iterate").click()
        sync_api.expect(field(dialog, "variant")).to_have_value("minimal")
        open_section(dialog, "Step surge (ramp)")
        sync_api.expect(dialog.get_by_text("surge: threshold (QPS)")).to_be_visible()
        field(dialog, "surge_target_qps").fill(str(TARGET_QPS))
        screenshot("form-ramp")
        open_section(dialog, "Stack")

        # Not a duration: the form refuses it, and no run is made.
        field(dialog, "ttl").fill("soon")
        trigger = dialog.get_by_role("button", name="Trigger", exact=True)
        if trigger.is_enabled():
            trigger.click()
        sync_api.expect(page.get_by_text(re.compile("does not match")).first).to_be_visible(timeout=15_000)
        screenshot("ttl-refused")
        with airflow.client() as client:
            assert client.runs(STACK) == []

        field(dialog, "ttl").fill("30m")
        sync_api.expect(trigger).to_be_enabled()
        trigger.click()
        sync_api.expect(dialog).to_be_hidden(timeout=30_000)

        with airflow.client() as client:
            [run] = wait_for(lambda: client.runs(STACK), 30, "the triggered run")
        run_id = run.dag_run_id
        assert run.conf["variant"] == "minimal" and run.conf["ttl"] == "30m"
        assert float(run.conf["surge_target_qps"]) == TARGET_QPS
        airflow.wait_for_task(STACK, run_id, RAMP_TASK, {"success"}, timeout=150, try_number=1)
        airflow.wait_for_run(STACK, run_id, {"success"}, timeout=60)

        # The form's values reached the tasks: the ramp's target and the registry's expiry.
        with airflow.client() as client:
            assert client.xcom(STACK, run_id, RAMP_TASK)["target_qps"] == TARGET_QPS
        entry = StackRegistry(airflow.profile).get(STACK)
        assert (entry.variant, entry.run_id) == ("minimal", run_id)
        assert (entry.expires_at - entry.created_at).total_seconds() == 30 * 60
        assert airflow.profile.client("ssm").get_parameter(Name="/it/form/param")["Parameter"]["Value"] == "from-the-form"

        # The report, from the report task's link.
        with airflow.client() as client:
            report_url = client.xcom(STACK, run_id, REPORT_TASK)["url"]
            assert client.extra_links(STACK, run_id, REPORT_TASK) == {"Ramp report": report_url}
        # The task instance's Details tab lists its extra links.
        page.goto(airflow.task_page(STACK, run_id, REPORT_TASK))
        page.get_by_role("link", name="Details", exact=True).click()
        link = page.get_by_role("link", name="Ramp report")
        sync_api.expect(link).to_be_visible(timeout=30_000)
        screenshot("report-task")
        href = link.get_attribute("href")
        assert href == report_url
        report = browser.new_page()
        report.goto(href)
        sync_api.expect(report.locator("body")).to_contain_text(STACK)
        sync_api.expect(report.locator("body")).to_contain_text(f"{TARGET_QPS:g}")
        report.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        report.close()
    finally:
        screenshot("last")
        page.close()


def field(dialog, param: str):
    """The input of one Param in the form (Airflow names each `element_<param>`)."""
    return dialog.locator(f"input[name=element_{param}]")


def section_trigger(dialog, title: str):
    return dialog.locator("[data-part=item-trigger]", has_text=title)


def open_section(dialog, title: str) -> None:
    """Open one section of the form (an accordion: opening one may close another)."""
    trigger = section_trigger(dialog, title)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    sync_api.expect(trigger).to_have_attribute("aria-expanded", "true")

