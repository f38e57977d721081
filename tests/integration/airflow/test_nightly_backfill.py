"""A nightly run that fails in the middle, retried by a backfill started from the Airflow UI, on a real running
Airflow (scheduler, LocalExecutor, dag-processor, triggerer, api-server) with real Terraform on the moto server.

The stack's schedule is a daily cron a minute before the test starts: a stack's tick at most five minutes past
still runs when it is unpaused (`TICK_GRACE`), so the scheduler itself runs that night at once (run type
`scheduled`, keep_up unset: it tears down).
Its middle step fails while the name of its SSM parameter is taken out of band (the injected fault). The run
tears down what it made and records the failure. The test removes the fault, then checks the command the README
documents, with `--dry-run`:

    airflow backfill create --dag-id D --from-date A --to-date B --reprocess-behavior failed --dry-run

lists that failed night's logical date and nothing else, and creates nothing. The backfill itself is made in a
real browser (Playwright driving Debian's chromium): log in, open the stack's DAG, press Trigger, choose
"Backfill" (not "Single Run") in the dialog, set "From" and "To" (date and time, UTC) around the failed night,
see the preview say "No runs matching selected criteria." under the default "Missing Runs" and "1 run will be
triggered." under "Missing and Errored Runs", press "Run Backfill". That clears the failed run (same run id, now
a backfill run) and the scheduler reruns it: it converges (every step applied, checked, torn down), the history
holds one record for that night, now a pass, and no stack, lock or registry entry is left behind. Screenshots
of each browser step are left in the test's tmp_path.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from playwright import sync_api

from loadstack.airflow.render.context import TICK_GRACE
from loadstack.run_history import RunHistory
from loadstack.stack_lock import StackLock
from loadstack.stack_registry import StackRegistry

pytestmark = [pytest.mark.integration, pytest.mark.long]
ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
STACK = "it_backfilled"
PARAMS = ("/it/backfilled/base", "/it/backfilled/gated", "/it/backfilled/top")
SQUATTED = PARAMS[1]
DAG_FILE = '''
from pathlib import Path

from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

dag = build_dag(load_stack("{spec}", modules_dir=Path("{modules}")))
'''


def spec(schedule: str) -> dict:
    """it_nightly (tests/fixtures/it_stacks) under its own name and parameters, on the given schedule."""
    chain = yaml.safe_load((FIXTURES / "it_stacks" / "it_nightly.yaml").read_text())
    chain.update(name=STACK, schedule=schedule)
    for step, name in zip(("base", "gated", "top"), PARAMS):
        chain["steps"][step]["vars"]["name"] = name
    return chain


def airflow_cli(airflow, *args: str) -> str:
    """An `airflow` command against the running Airflow's metadata DB, as its components see it."""
    done = subprocess.run([AIRFLOW, *args], env=airflow.env, cwd=airflow.home, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def value(enum_or_str) -> str | None:
    return None if enum_or_str is None else str(getattr(enum_or_str, "value", enum_or_str))


def states(airflow, run_id: str) -> dict[str, str | None]:
    with airflow.client() as client:
        return {ti.task_id: value(ti.state) for ti in client.task_instances(STACK, run_id)}


def existing(ssm) -> list[str]:
    return sorted(p["Name"] for p in ssm.get_parameters(Names=list(PARAMS))["Parameters"])


def wait_for_scheduled_run(airflow, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with airflow.client() as client:
            runs = [r for r in client.runs(STACK) if value(r.run_type) == "scheduled"]
        if runs:
            return runs[0]
        time.sleep(2)
    pytest.fail(f"no scheduled run of {STACK} within {timeout:.0f} s; scheduler log:\n"
                f"{airflow.component_log('scheduler')}")


def runs_to_be_attempted(dry_run_output: str) -> list[datetime]:
    """The logical dates in the table that `airflow backfill create --dry-run` prints after "Runs to be attempted:"."""
    _, marker, table = dry_run_output.partition("Runs to be attempted:")
    assert marker, f"no run table in the dry run's output:\n{dry_run_output}"
    return [datetime.fromisoformat(found) for found in
            re.findall(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?", table)]


def backfill_from_the_ui(airflow, browser, log_in, start: datetime, end: datetime, shots_dir: Path) -> None:
    """Create the backfill of the failed night from the stack DAG's Trigger dialog, as an operator would."""
    # The UI shows and reads dates in the browser's time zone unless the user picks another: make it UTC.
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, timezone_id="UTC")
    shots = iter(range(1, 100))

    def screenshot(name: str) -> None:
        page.screenshot(path=str(shots_dir / f"{next(shots):02d}-{name}.png"), full_page=True)

    try:
        log_in(page, airflow, f"{airflow.url}/dags/{STACK}")
        screenshot("dag")

        page.get_by_role("button", name="Trigger").first.click()
        # The date picker's popover is a dialog too: the Trigger dialog is the one offering "Single Run".
        dialog = page.get_by_role("dialog").filter(has_text="Single Run")
        sync_api.expect(dialog).to_be_visible()
        dialog.get_by_text("Backfill", exact=True).click()
        sync_api.expect(dialog.get_by_role("radio", name="Backfill")).to_be_checked()
        sync_api.expect(dialog.get_by_role("heading", name=f"Run Backfill - {STACK}")).to_be_visible()
        screenshot("backfill-dialog")

        set_date(page, dialog, "From", start)
        set_date(page, dialog, "To", end)
        # The default "Missing Runs" skips the night: it has a run, a failed one.
        sync_api.expect(dialog.get_by_role("radio", name="Missing Runs")).to_be_checked()
        sync_api.expect(dialog.get_by_text("No runs matching selected criteria.")).to_be_visible(timeout=30_000)
        screenshot("date-range-missing-runs")
        dialog.get_by_text("Missing and Errored Runs", exact=True).click()
        sync_api.expect(dialog.get_by_role("radio", name="Missing and Errored Runs")).to_be_checked()
        sync_api.expect(dialog.get_by_text("1 run will be triggered.")).to_be_visible(timeout=30_000)
        screenshot("missing-and-errored-runs")

        run_backfill = dialog.get_by_role("button", name="Run Backfill")
        sync_api.expect(run_backfill).to_be_enabled()
        run_backfill.click()
        sync_api.expect(dialog).to_be_hidden(timeout=30_000)
        sync_api.expect(page.get_by_text("Backfill generated")).to_be_visible()
        screenshot("backfill-generated")
    finally:
        screenshot("last")
        page.close()


def set_date(page, dialog, label: str, when: datetime) -> None:
    """Type a date and time into one of the dialog's date pickers (a popover with a Date and a Time field)."""
    picker = dialog.get_by_role("group").filter(has=page.get_by_text(label, exact=True))
    picker.get_by_test_id("datetime-input").click()
    page.get_by_placeholder("YYYY/MM/DD").fill(when.strftime("%Y/%m/%d"))
    page.get_by_placeholder("HH:mm").fill(when.strftime("%H:%M"))
    dialog.get_by_text("Date Range", exact=True).click()  # closes the popover
    sync_api.expect(page.get_by_placeholder("YYYY/MM/DD")).to_be_hidden()
    sync_api.expect(picker).to_contain_text(when.strftime("%b %d, %Y %H:%M"))


def test_a_failed_nightly_run_is_retried_by_a_backfill_from_the_ui_and_converges(
    start_airflow, local_env, local_profile, browser, log_in, tmp_path,
):
    ssm = local_profile.client("ssm")
    ssm.delete_parameters(Names=list(PARAMS))
    ssm.put_parameter(Name=SQUATTED, Value="squatter", Type="String")  # the injected fault
    # A daily cron a minute ago, within a stack's grace for a just-missed tick (Airflow starts well inside it): the
    # scheduler runs that night at once, and the next one is a day away.
    tick = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    assert datetime.now(UTC) - tick < TICK_GRACE - timedelta(minutes=2)
    spec_path = tmp_path / f"{STACK}.yaml"
    spec_path.write_text(yaml.safe_dump(spec(f"{tick.minute} {tick.hour} * * *")))
    # PostgreSQL, as Airflow requires for a backfill: on SQLite, creating one while the scheduler writes fails
    # with 503 "Database is locked" after the backfill's row is in, and the UI's retry then reads 409 "There is
    # already a running backfill" (seen on a loaded CI machine).
    airflow = start_airflow({STACK: DAG_FILE.format(spec=spec_path, modules=FIXTURES / "tf_modules")},
                            database="postgres")
    try:
        with airflow.client() as client:
            client.unpause(STACK)
        nightly = wait_for_scheduled_run(airflow, timeout=180)
        run_id = nightly.dag_run_id
        assert nightly.logical_date == tick, (nightly.logical_date, tick)
        assert value(airflow.wait_for_run(STACK, run_id, ["failed", "success"], timeout=600).state) == "failed"
        failed = states(airflow, run_id)
        assert (failed["base.apply"], failed["gated.apply"], failed["top.apply"]) == (
            "success", "failed", "upstream_failed")
        assert failed["teardown-decide"] == "success"  # a scheduled run tears down (keep_up unset)
        assert {failed[f"stack-teardown.{s}.destroy"] for s in ("base", "gated", "top")} == {"success"}
        assert existing(ssm) == [SQUATTED]
        [night] = [r for r in RunHistory(local_profile).list(STACK)]
        assert (night.run_id, night.run_type, night.outcome, night.failed_tasks) == (
            run_id, "scheduled", "fail", ("gated.apply",))

        ssm.delete_parameter(Name=SQUATTED)  # the fix
        # The window around the failed night: it holds that night's logical date and no other (a daily cron).
        start, end = tick - timedelta(hours=1), tick + timedelta(minutes=1)
        dry_run = airflow_cli(airflow, "backfill", "create", "--dag-id", STACK,
                              "--from-date", start.isoformat(), "--to-date", end.isoformat(),
                              "--reprocess-behavior", "failed", "--dry-run")
        assert runs_to_be_attempted(dry_run) == [tick], dry_run
        with airflow.client() as client:
            untouched = client.run(STACK, run_id)
        # A dry run creates nothing: the night's run is as the schedule left it.
        assert (value(untouched.state), value(untouched.run_type)) == ("failed", "scheduled")

        backfill_from_the_ui(airflow, browser, log_in, start, end, tmp_path)
        airflow.wait_for_run(STACK, run_id, ["queued", "running"], timeout=60)
        rerun = airflow.wait_for_run(STACK, run_id, ["failed", "success"], timeout=600)
        assert value(rerun.state) == "success", states(airflow, run_id)
        assert value(rerun.run_type) == "backfill"
        with airflow.client() as client:
            assert [r.dag_run_id for r in client.runs(STACK)] == [run_id]  # the same run, not a second one
        converged = states(airflow, run_id)
        assert {converged[f"{s}.apply"] for s in ("base", "gated", "top")} == {"success"}
        assert converged["teardown-decide"] == "success" and converged["registry-remove"] == "success"

        # Nothing duplicated, nothing left: one record for that night (now a pass), no stack, no lock.
        [night] = RunHistory(local_profile).list(STACK)
        assert (night.run_id, night.run_type, night.outcome, night.failed_tasks, night.teardown) == (
            run_id, "backfill", "pass", (), "torn_down")
        assert night.spin_up_s is not None and night.spin_up_s > 0
        assert existing(ssm) == []
        assert StackRegistry(local_profile).get(STACK) is None
        assert StackLock(local_profile, STACK).holder() == (None, None)
    finally:
        ssm.delete_parameters(Names=list(PARAMS))
