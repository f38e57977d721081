"""RampOperator on the simulator (open_rig and the clock replaced, the state bucket in moto's memory):
this run's parameters, resuming a checkpoint, the control record in the task state store, the status
it publishes, and how a ramp ends (done, aborted, terminated, a rig that cannot be made)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators import ramp as operators
from loadstack.airflow.operators.ramp import RampOperator, TaskStateControl, status_of
from loadstack.profiles import PROJECT_ROOT
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlRecord
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import RampTickLimit, run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator
from loadstack.ramp.state import RampState
from loadstack.ramp_rig import RampRig, RampRigError
from loadstack.ramp_store import RampStore

RUN_ID = "manual__2026-01-02T03:04:05+00:00"
APP_OUTPUTS = {"url": "http://127.0.0.1:8123", "prometheus_url": "http://127.0.0.1:9123"}
# A short ramp the simulator finishes in about a minute of simulated time (a few dozen ticks).
PARAMS = RampParams(
    target_qps=100,
    threshold_qps=10,
    bucket_qps=5,
    group_interval_s=5,
    bucket_interval_s=3,
    hold_s=20,
    max_staleness_s=15,
    no_data_limit_s=30,
    abort_rules=(AbortRule("error_ratio", 0.2, 0.0),),
)
PLANT = PlantConfig(organic_qps=0, organic_swing_qps=0, organic_walk_qps=0, noise=0.5, window_s=2, delay_s=1)



class FakeTaskStore:
    """The task instance's task state store: JSON values by key; `failing` makes every call raise."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})
        self.failing = False
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        if self.failing:
            raise ConnectionError("api-server restarting")
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self.failing:
            raise ConnectionError("api-server restarting")
        self.values[key] = json.loads(json.dumps(value))  # stored as JSON, as the API does


@pytest.fixture
def context(make_context):
    context = make_context()
    context["ti"].xcom_pull.side_effect = lambda task_ids: {"app.deploy": APP_OUTPUTS}[task_ids]
    context["ti"].task_id = "surge.ramp"
    context["ti"].dag_id, context["ti"].run_id = "shop", RUN_ID
    context["run_id"] = RUN_ID
    context["task_state_store"] = FakeTaskStore()
    return context


class Rig:
    """open_rig's stand-in: the simulator's driver and source, on the clock the operator is given."""

    def __init__(self, monkeypatch, plant: PlantConfig = PLANT) -> None:
        self.clock = FakeClock()
        self.sim = Simulator(plant, self.clock)
        self.opened: list[dict[str, Any]] = []
        self.closed = 0
        monkeypatch.setattr(operators, "open_rig", self.open)
        monkeypatch.setattr(operators, "SystemClock", lambda: self.clock)

    def open(self, **kwargs: Any) -> RampRig:
        self.opened.append(kwargs)
        rig = RampRig(driver=self.sim.driver, source=self.sim.source)
        original = rig.close

        def close() -> None:
            self.closed += 1
            original()

        rig.close = close  # type: ignore[method-assign]
        return rig


def build(
    profile,
    *,
    params: RampParams = PARAMS,
    overrides: dict[str, str] | None = None,
    variant: str = "minimal",
    approval_task_id: str | None = None,
) -> RampOperator:
    op = RampOperator(
        approval_task_id=approval_task_id,
        task_id="ramp",
        stack="shop",
        step="surge",
        variant=variant,
        params_by_variant={"minimal": params.to_json(), "production": {**params.to_json(), "target_qps": 500.0}},
        overrides=overrides if overrides is not None else {"target_qps": "None", "hold_s": "None"},
        target_url="${steps.app.outputs.url}",
        load={"driver": "locust", "locustfile": "include/locust/shop.py", "workers": 1, "master_url": ""},
        metrics={
            "source": "prometheus",
            "url": "${steps.app.outputs.prometheus_url}",
            "window_s": 4,
            "scrape_interval_s": 1,
        },
        output_sources={"app": "app.deploy"},
    )
    op.__dict__["profile"] = profile
    return op


def store(profile) -> RampStore:
    return RampStore(profile, "shop", RUN_ID, "surge")


# --- construction and this run's parameters ------------------------------------------------------
def test_constructor_is_keyword_only_and_does_no_io(profile):
    op = build(profile)  # the conftest's profile: any use of it here would fail (is_local) or reach no S3
    assert op.template_fields == ("variant", "overrides") and op.tick_s == 1.0
    with pytest.raises(TypeError):
        RampOperator(
            "ramp",
            stack="shop",
            step="surge",
            variant="minimal",
            params_by_variant={},
            overrides={},
            target_url="",
            load={},
            metrics={},
            output_sources={},
        )


@pytest.mark.parametrize("not_given", ["None", "", None])
def test_a_param_left_empty_keeps_the_variants_value(profile, not_given):
    op = build(profile, overrides={"target_qps": not_given, "hold_s": not_given})
    assert op.run_params() == PARAMS
    op.variant = "production"
    assert op.run_params().target_qps == 500


def test_given_params_override_the_variant(profile):
    params = build(profile, overrides={"target_qps": "150", "hold_s": "45.5"}).run_params()
    assert (params.target_qps, params.hold_s) == (150.0, 45.5)
    assert params.threshold_qps == PARAMS.threshold_qps and params.abort_rules == PARAMS.abort_rules


def test_the_band_and_the_bucket_size_are_overridden_the_same_way(profile):
    overrides = {"target_qps": "None", "threshold_qps": "7.5", "bucket_qps": "12", "hold_s": "None"}
    params = build(profile, overrides=overrides).run_params()
    assert (params.threshold_qps, params.bucket_qps) == (7.5, 12.0)
    assert params.target_qps == PARAMS.target_qps and params.hold_s == PARAMS.hold_s
    # A band as wide as the target does not hold together: refused before any traffic, without retry.
    with pytest.raises(AirflowFailException, match="threshold_qps must be > 0 and below target_qps"):
        build(profile, overrides={**overrides, "threshold_qps": str(PARAMS.target_qps)}).run_params()


@pytest.mark.parametrize("rendered", ["fast", "nan", "inf", "-5", "1e999"])
def test_a_param_that_is_not_a_usable_number_fails_without_retry(profile, rendered):
    with pytest.raises(AirflowFailException, match=rf"surge: hold_s '{rendered}' is not a number >= 0"):
        build(profile, overrides={"target_qps": "None", "hold_s": rendered}).run_params()


def test_params_that_do_not_hold_together_fail_naming_why(profile):
    # A target of 8 QPS with a band of +-10: the low watermark would be below zero.
    with pytest.raises(
        AirflowFailException,
        match="surge: this run's ramp parameters do not hold together: threshold_qps must be > 0 and below target_qps",
    ):
        build(profile, overrides={"target_qps": "8", "hold_s": "None"}).run_params()


# --- the checkpoint -------------------------------------------------------------------------------
def test_a_checkpoint_of_the_same_params_is_resumed(s3_profile):
    state = RampState(phase="ramping", stage=2, buckets=15, started_at=1_700_000_000.0, tries=1)
    store(s3_profile).save({"params": PARAMS.to_json(), "state": state.to_json()})
    resumed = build(s3_profile)._resumed_state(store(s3_profile), PARAMS)
    assert resumed is not None and (resumed.stage, resumed.buckets, resumed.tries) == (2, 15, 1)


def test_a_checkpoint_made_with_other_params_is_ignored(s3_profile):
    store(s3_profile).save({"params": PARAMS.to_json(), "state": RampState(stage=3, buckets=19).to_json()})
    other = RampParams(
        **{**PARAMS.to_json(), "stages": (0.75, 0.9, 1.0), "abort_rules": PARAMS.abort_rules, "target_qps": 150}
    )
    assert build(s3_profile)._resumed_state(store(s3_profile), other) is None
    assert build(s3_profile)._resumed_state(RampStore(s3_profile, "shop", "another-run", "surge"), PARAMS) is None


# --- the control record and the status -----------------------------------------------------------
def test_control_reads_the_record_and_keeps_the_last_one_when_the_store_fails():
    pause = ControlRecord(action="pause", seq=1, at=10.0, by="ana", reason="look at the dashboards")
    task_store, log = FakeTaskStore({CONTROL_KEY: pause.to_json()}), mock.Mock()
    control = TaskStateControl(task_store, log)
    assert control.read() == pause
    task_store.failing = True
    assert control.read() == pause  # a hiccup neither stops the ramp nor loses the pause
    assert "keeping the last one" in log.warning.call_args.args[0]
    task_store.failing = False
    task_store.values.clear()
    assert control.read() is None  # the record was deleted: nothing in force


def test_control_ignores_a_malformed_record_and_keeps_the_last_good_one():
    resume = ControlRecord(action="resume", seq=2, at=20.0)
    task_store, log = FakeTaskStore({CONTROL_KEY: resume.to_json()}), mock.Mock()
    control = TaskStateControl(task_store, log)
    assert control.read() == resume
    for malformed in (
        {"action": "explode", "seq": 3, "at": 30.0},
        {"action": "pause"},
        {"action": "pause", "seq": 0, "at": 1},
    ):
        task_store.values[CONTROL_KEY] = malformed
        assert control.read() == resume
    assert log.warning.call_count == 3 and "malformed" in log.warning.call_args.args[0]
    task_store.values[CONTROL_KEY] = "pause"  # not a record at all
    assert control.read() == resume


def finished_state(plant: PlantConfig = PLANT) -> RampState:
    clock = FakeClock()
    sim = Simulator(plant, clock)
    controller = RampController(PARAMS)
    assert run_ramp(controller, sim.driver, sim.source, None, clock, lambda state: None, max_ticks=500).succeeded
    return controller.state


def test_status_is_small_json_with_the_numbers_a_human_asks_for():
    status = status_of(finished_state(), PARAMS)
    assert json.loads(json.dumps(status)) == status and len(json.dumps(status)) < 1024
    assert status["phase"] == "done" and (status["stage"], status["stages"]) == (3, 3)
    assert status["target_qps"] == 100 and status["band_qps"] == [90, 110] and status["hold_s"] == 20
    assert status["generated_qps"] == status["buckets"] * 5 and 90 <= status["measured_qps"] <= 110
    assert status["in_band_s"] >= 20 and status["last_decision"].startswith("[ramp] drain stage 3, buckets 20 -> 0")
    assert status["reason"].startswith("held 20 s in band")


def test_status_of_a_ramp_that_has_not_begun():
    status = status_of(RampState(), PARAMS)
    assert (status["phase"], status["buckets"], status["measured_qps"], status["last_decision"]) == (
        "ramping",
        0,
        None,
        "",
    )
    assert status["applied_control_seq"] == 0


# --- execute -------------------------------------------------------------------------------------
def test_execute_ramps_to_the_target_checkpoints_and_publishes_its_status(s3_profile, context, monkeypatch):
    rig = Rig(monkeypatch)
    result = build(s3_profile).execute(context)
    assert result["succeeded"] is True and result["phase"] == "done" and result["target_qps"] == 100
    assert result["checkpoint"] == f"s3://state/ramps/shop/{RUN_ID}/surge/state.json"
    # The rig got the resolved references and a run directory of this try; it was closed (drained).
    [opened] = rig.opened
    assert opened["target_url"] == APP_OUTPUTS["url"] and opened["metrics"]["url"] == APP_OUTPUTS["prometheus_url"]
    assert opened["project_root"] == PROJECT_ROOT and opened["load"]["locustfile"] == "include/locust/shop.py"
    digest = hashlib.sha256(f"{RUN_ID}/surge.ramp".encode()).hexdigest()[:10]
    assert opened["run_dir"] == s3_profile.work_dir / "ramps" / f"shop-surge-{digest}-1"
    assert opened["profile"] is s3_profile  # the AWS clients of a shift or CloudWatch come from the task's profile
    assert rig.closed == 1 and rig.sim.driver.applied_rate() == 0
    # The live page's link is there from the start (Airflow would store it only when the task ends).
    context["ti"].xcom_push.assert_any_call(
        key="_link_RampPageLink", value=f"/loadstack/ramps/shop/{quote(RUN_ID, safe='')}/surge.ramp/page")
    saved = store(s3_profile).load()
    assert (saved["stack"], saved["run_id"], saved["step"], saved["params"]) == (
        "shop",
        RUN_ID,
        "surge",
        PARAMS.to_json(),
    )
    assert saved["state"]["phase"] == "done"
    status = context["task_state_store"].values[STATUS_KEY]
    assert status["phase"] == "done" and status["target_qps"] == 100


def test_a_retry_resumes_at_the_stage_its_checkpoint_reached(s3_profile, context, monkeypatch):
    rig = Rig(monkeypatch)
    op = build(s3_profile)
    # Try 1 dies (the worker was lost) after some ticks: its checkpoint stays in the state bucket.
    monkeypatch.setattr(operators, "run_ramp", lambda *args, **kwargs: run_ramp(*args, **kwargs, max_ticks=25))
    with pytest.raises(RampTickLimit):
        op.execute(context)
    first = store(s3_profile).load()["state"]
    assert first["phase"] == "ramping" and first["buckets"] > 0 and rig.closed == 1
    monkeypatch.undo()
    rig = Rig(monkeypatch)
    result = build(s3_profile).execute(context)
    final = store(s3_profile).load()["state"]
    assert result["succeeded"] and final["tries"] == 2 and final["started_at"] == first["started_at"]
    # The new try's first move starts from the buckets reached, not from zero (in the last stage one
    # group below, to approach the band from below again: organic traffic may have moved meanwhile).
    last_stage = first["stage"] == len(PARAMS.stages)
    resumed = first["buckets"] - (PARAMS.bucket_group if last_stage else 0)
    assert rig.sim.driver.calls[0][1] >= resumed * PARAMS.bucket_qps > 0


def test_an_abort_drains_and_fails_without_retry(s3_profile, context, monkeypatch):
    rig = Rig(monkeypatch)
    rig.sim.inject_error_burst(rig.clock.now() + 15, error_ratio=0.5)
    with pytest.raises(AirflowFailException, match=r"ramp aborted at stage \d: .*error_ratio"):
        build(s3_profile).execute(context)
    assert rig.closed == 1 and rig.sim.driver.applied_rate() == 0
    assert store(s3_profile).load()["state"]["phase"] == "aborted"
    assert context["task_state_store"].values[STATUS_KEY]["phase"] == "aborted"


def test_at_its_approval_point_the_ramp_waits_for_the_approval_tasks_answer(s3_profile, context, monkeypatch):
    rig = Rig(monkeypatch)
    params = dataclasses.replace(PARAMS, approve_before="stage_3")
    answered_after = 40.0
    asked: list[float] = []

    def pull(task_ids: str) -> Any:
        if task_ids == "surge.approve_stage_3":
            asked.append(rig.clock.now())
            if rig.clock.now() - asked[0] < answered_after:
                return None
            return {"chosen_options": ["Approve"], "params_input": {"comment": ""}, "responded_at": rig.clock.now(),
                    "responded_by_user": {"id": "ana", "name": "ana"}}
        return {"app.deploy": APP_OUTPUTS}[task_ids]

    context["ti"].xcom_pull.side_effect = pull
    result = build(s3_profile, params=params, approval_task_id="surge.approve_stage_3").execute(context)
    assert result["succeeded"]
    decisions = store(s3_profile).load()["state"]["timeline"]["decisions"]
    approved = next(d for d in decisions if d["action"] == "approved")
    assert approved["reason"] == "approved by ana: going on to stage 3" and approved["at"] - asked[0] >= answered_after


def test_terminate_from_the_task_state_store_drains_and_fails(s3_profile, context, monkeypatch):
    rig = Rig(monkeypatch)
    task_store = context["task_state_store"]
    terminate_at = rig.clock.now() + 12
    record = ControlRecord(action="terminate", seq=1, at=terminate_at, by="ana", reason="wrong target")

    def get(key: str, default: Any = None) -> Any:
        # `loadstack ramp terminate` writes the record 12 s into the ramp.
        if key == CONTROL_KEY and rig.clock.now() >= terminate_at:
            return record.to_json()
        return FakeTaskStore.get(task_store, key, default)

    task_store.get = get
    with pytest.raises(AirflowFailException, match=r"ramp terminated at stage 1: .*wrong target"):
        build(s3_profile).execute(context)
    assert rig.closed == 1 and rig.sim.driver.applied_rate() == 0
    assert store(s3_profile).load()["state"]["applied_control_seq"] == 1
    # The status says which record was applied: the CLI numbers its next one after it.
    assert context["task_state_store"].values[STATUS_KEY]["applied_control_seq"] == 1


def test_a_status_store_that_fails_does_not_stop_the_ramp(s3_profile, context, monkeypatch):
    Rig(monkeypatch)
    context["task_state_store"].failing = True  # no control can be read, no status published
    assert build(s3_profile).execute(context)["succeeded"] is True
    assert store(s3_profile).load()["state"]["phase"] == "done"


def test_a_rig_that_cannot_be_made_fails_naming_the_step(s3_profile, context, monkeypatch):
    def refuse(**kwargs):
        raise RampRigError("metrics.url '' is not a Prometheus URL")

    monkeypatch.setattr(operators, "open_rig", refuse)
    with pytest.raises(AirflowFailException, match=r"^surge: metrics.url '' is not a Prometheus URL$"):
        build(s3_profile).execute(context)


def test_on_kill_closes_the_rig_it_has_open(profile):
    op = build(profile)
    op.on_kill()  # nothing open yet: nothing to do
    op._rig = mock.Mock(spec=RampRig)
    op.on_kill()
    op._rig.close.assert_called_once_with()


# --- mode: capacity ------------------------------------------------------------------------------
def test_execute_in_capacity_mode_searches_checkpoints_and_returns_what_it_found(s3_profile, context, monkeypatch,
                                                                                 capacity_run):  # fmt: skip
    rig = Rig(monkeypatch, capacity_run.plant)
    result = build(s3_profile, params=capacity_run.params, overrides={"max_qps": "None"}).execute(context)
    assert result["succeeded"] and result["mode"] == "capacity" and "target_qps" not in result
    found = result["capacity"]
    assert found["found"] and found["capacity_qps"] == pytest.approx(capacity_run.result.capacity_qps)
    assert found["bracket_qps"] == list(capacity_run.result.bracket_qps) and found["limited_by"] == "precision"
    assert rig.closed == 1 and rig.sim.driver.applied_rate() == 0
    saved = store(s3_profile).load()
    assert saved["params"] == capacity_run.params.to_json() and saved["state"]["result"] == found
    status = context["task_state_store"].values[STATUS_KEY]
    assert status["mode"] == "capacity" and status["phase"] == "done" and status["capacity_qps"] == pytest.approx(
        found["capacity_qps"], abs=0.01
    )


def test_a_capacity_search_retried_resumes_its_levels_and_a_run_may_lower_its_ceiling(s3_profile, context,
                                                                                     monkeypatch, capacity_run):  # fmt: skip
    Rig(monkeypatch, capacity_run.plant)
    op = build(s3_profile, params=capacity_run.params, overrides={"max_qps": "None"})
    monkeypatch.setattr(operators, "run_ramp", lambda *args, **kwargs: run_ramp(*args, **kwargs, max_ticks=30))
    with pytest.raises(RampTickLimit):
        op.execute(context)
    first = store(s3_profile).load()["state"]
    assert first["phase"] == "ramping" and len(first["levels"]) >= 3
    monkeypatch.undo()
    rig = Rig(monkeypatch, capacity_run.plant)
    rig.clock.advance(60)  # the retry starts later than the first try's last sample
    result = build(s3_profile, params=capacity_run.params, overrides={"max_qps": "None"}).execute(context)
    final = store(s3_profile).load()["state"]
    assert result["succeeded"] and final["tries"] == 2 and final["started_at"] == first["started_at"]
    assert final["levels"][: len(first["levels"]) - 1] == first["levels"][:-1]  # judged levels are not judged again
    starts = [d for d in final["timeline"]["decisions"] if d["action"] == "start"]
    assert len(starts) == 2 and "resumed from a checkpoint (try 2)" in starts[1]["reason"]
    lowered = build(s3_profile, params=capacity_run.params, overrides={"max_qps": "50"}).run_params()
    assert lowered.max_qps == 50 and lowered.start_qps == capacity_run.params.start_qps
    with pytest.raises(AirflowFailException, match="max_qps 5.0 must be >= start_qps 10.0"):
        build(s3_profile, params=capacity_run.params, overrides={"max_qps": "5"}).run_params()
