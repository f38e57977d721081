"""The ramp kind's main task: drive load onto the stack through the controller until it holds its band.

The task runs the controller's loop (`loadstack.ramp.runner.run_ramp`) in the worker, one tick a
second. Two stores make it durable and steerable:

- its checkpoint (params, state, timeline) goes to the state bucket (`loadstack.ramp_store`) after
  every action and every few seconds, so a retry on any worker resumes at the stage reached;
- its control record (pause / resume / terminate, set by `loadstack ramp ...` through the REST API)
  and a short status live in the task instance's own task state store, read at every tick.

Terminate and abort drain the traffic and fail the task without retries (AirflowFailException): a
human or a rule said stop. A lost worker or an error retries and resumes. Clearing a terminated task
runs it again: the controller does not re-apply a control record it already applied.

With an approval point, the ramp holds its traffic there and reads the approval task's answer
(`ramp_approval.XComApproval`) at every tick until a human answers in Airflow's Required Actions.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.airflow.operators.ramp_approval import XComApproval
from loadstack.airflow.ui.plugin import RampPageLink
from loadstack.profiles import PROJECT_ROOT
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlRecord, ControlSource
from loadstack.ramp.capacity import CapacityParams, CapacityState
from loadstack.ramp.modes import (
    Params, State, build_controller, capacity_status, describe_plan, outcome_extras, params_from_json, state_from_json,
)  # fmt: skip
from loadstack.ramp.runner import describe, run_ramp
from loadstack.ramp.state import RampState
from loadstack.ramp_rig import RampRig, RampRigError, open_rig
from loadstack.ramp_store import RampStore


class TaskStateControl(ControlSource):
    """The control record in the running task instance's task state store (one API call per read).

    A read that fails (the API server restarting) keeps the last record seen: a hiccup of the
    control channel must neither stop a ramp nor lose a pause.
    """

    def __init__(self, store: Any, log: Any) -> None:
        self.store = store
        self.log = log
        self._last: ControlRecord | None = None

    def read(self) -> ControlRecord | None:
        try:
            raw = self.store.get(CONTROL_KEY)
        except Exception as exc:  # noqa: BLE001 - any failure of the channel is the same to the ramp
            self.log.warning("reading the ramp's control record failed (%s); keeping the last one", exc)
            return self._last
        if raw is None:
            self._last = None
        elif isinstance(raw, dict):
            try:
                self._last = ControlRecord.from_json(raw)
            except ValueError as exc:
                self.log.warning("ignoring a malformed control record %r: %s", raw, exc)
        return self._last


def source_failure_note(source: Any) -> str:
    """Why the metric source's last read gave nothing (e.g. Prometheus not answering), for the failure message.

    The controller only sees "no sample"; the source keeps the reason in `last_error` (None after a good read).
    """
    error = getattr(source, "last_error", None)
    return f"; the metric source's last read failed: {error}" if isinstance(error, str) and error else ""


def status_of(state: State, params: Params) -> dict[str, Any]:
    """The few numbers `loadstack ramp status` shows (the task state store keeps small values)."""
    if isinstance(params, CapacityParams):
        assert isinstance(state, CapacityState)
        return capacity_status(state, params)
    assert isinstance(state, RampState)
    last = state.timeline.decisions[-1] if state.timeline.decisions else None
    sample = state.timeline.samples[-1] if state.timeline.samples else None
    return {
        "phase": state.phase,
        "stage": state.stage,
        "stages": len(params.stages),
        "buckets": state.buckets,
        "generated_qps": round(state.buckets * params.bucket_qps, 3),
        "target_qps": params.target_qps,
        "band_qps": [params.low_watermark, params.high_watermark],
        "measured_qps": None if sample is None or sample.qps is None else round(sample.qps, 2),
        "in_band_s": round(state.in_band_s, 1),
        "hold_s": params.hold_s,
        "last_decision": describe(last) if last else "",
        "reason": state.end_reason,
        # `loadstack ramp pause|resume|terminate` numbers its record after this one (see rest_client.ramp).
        "applied_control_seq": state.applied_control_seq,
        "updated_at": time.time(),
    }


class RampOperator(StackStepOperator):
    """Ramp to the variant's target QPS in stages and hold it in band, or search for the highest sustainable
    QPS (the step's mode, `loadstack.ramp.modes`); returns the outcome (and the search's result)."""

    template_fields = ("variant", "overrides")
    ui_color = "#fff0e0"
    operator_extra_links = (RampPageLink(),)

    def __init__(
        self,
        *,
        params_by_variant: dict[str, dict[str, Any]],
        overrides: dict[str, str],
        target_url: str,
        load: dict[str, Any],
        metrics: dict[str, Any],
        output_sources: dict[str, str],
        tick_s: float = 1.0,
        approval_task_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.params_by_variant = params_by_variant
        self.overrides = overrides
        self.target_url = target_url
        self.load = load
        self.metrics = metrics
        self.output_sources = output_sources
        self.tick_s = tick_s
        self.approval_task_id = approval_task_id
        self._rig: RampRig | None = None

    def execute(self, context) -> dict[str, Any]:
        self.check_account()
        self._publish_page_link(context)
        resolved = self.resolve_references(
            {"target_url": self.target_url, "load": self.load, "metrics": self.metrics},
            context, output_sources=self.output_sources,
        )
        params = self.run_params()
        store = RampStore(self.profile, self.stack, context["run_id"], self.step)
        state = self._resumed_state(store, params)
        controller = build_controller(params, state)
        task_store = context["task_state_store"]

        def checkpoint(state_json: dict[str, Any]) -> None:
            store.save({"stack": self.stack, "run_id": context["run_id"], "step": self.step,
                        "params": params.to_json(), "state": state_json})
            try:
                task_store.set(STATUS_KEY, status_of(controller.state, params))
            except Exception as exc:  # noqa: BLE001 - the status is for humans; the checkpoint is what counts
                self.log.warning("publishing the ramp's status failed: %s", exc)

        self.log.info(
            "%s; checkpoint %s; control: loadstack ramp pause|resume|terminate %s",
            describe_plan(params), store.location, self.stack,
        )
        try:
            self._rig = self.open_rig(context, resolved)
        except RampRigError as exc:  # the step's settings are wrong: a retry cannot help
            raise AirflowFailException(f"{self.step}: {exc}") from None
        source = self._rig.source
        try:
            outcome = run_ramp(
                controller, self._rig.driver, source, TaskStateControl(task_store, self.log),
                SystemClock(), checkpoint, self.tick_s, log=self.log.info,
                approval=XComApproval(context["ti"], self.approval_task_id, self.log) if self.approval_task_id else None,
            )
            usage = self._rig.usage()
        finally:
            self._rig.close()
            self._rig = None
        self.log.info("load generator: %s", usage)
        result = {**outcome.to_json(), "checkpoint": store.location, **outcome_extras(controller),
                  "load_generator": usage}
        if not outcome.succeeded:
            raise AirflowFailException(
                f"ramp {outcome.phase} at stage {outcome.stage}: {outcome.reason}{source_failure_note(source)}"
            )
        return result

    def _publish_page_link(self, context) -> None:
        # Airflow stores extra links when a task ends; the live page matters while the ramp runs.
        link = RampPageLink()
        try:
            context["ti"].xcom_push(key=link.xcom_key, value=link.get_link(self, ti_key=context["ti"]))
        except Exception as exc:  # noqa: BLE001 - a missing link must not stop a ramp
            self.log.warning("publishing the ramp page link failed: %s", exc)

    def open_rig(self, context, resolved: dict[str, Any]) -> RampRig:
        """The traffic driver and metric source of this try, from the step's resolved settings."""
        return open_rig(
            run_dir=self._run_dir(context), project_root=PROJECT_ROOT, target_url=resolved["target_url"],
            load=resolved["load"], metrics=resolved["metrics"], profile=self.profile,
        )

    def run_params(self) -> Params:
        """The variant's parameters with this run's overrides (rendered Params: "None" means not given)."""
        values = dict(self.params_by_variant[self.variant])
        for field, rendered in self.overrides.items():
            if rendered not in (None, "", "None"):
                try:
                    number = float(rendered)
                except (TypeError, ValueError):
                    number = math.nan
                # float() also reads "nan", "inf" and negatives, which RampParams does not all refuse.
                if not math.isfinite(number) or number < 0:
                    raise AirflowFailException(f"{self.step}: {field} {rendered!r} is not a number >= 0")
                values[field] = number
        try:
            return params_from_json(values)
        except ValueError as exc:
            raise AirflowFailException(f"{self.step}: this run's ramp parameters do not hold together: {exc}") from None

    def on_kill(self) -> None:
        # SIGTERM from Airflow (task marked failed, timeout): drain and stop the load before dying.
        if self._rig is not None:
            self._rig.close()

    def _resumed_state(self, store: RampStore, params: Params) -> State | None:
        saved = store.load()
        if saved is None:
            return None
        if saved.get("params") != params.to_json():
            self.log.warning("the checkpoint at %s was made with other parameters: starting from zero", store.location)
            return None
        state = state_from_json(params, saved["state"])
        self.log.info("resuming the ramp from its checkpoint: phase %s, stage %s, %s buckets",
                      state.phase, state.stage, state.buckets)
        return state

    def _run_dir(self, context) -> Any:
        # The load generator's PID files and logs: this worker's own processes, for this try only.
        ti = context["ti"]
        digest = hashlib.sha256(f"{context['run_id']}/{ti.task_id}".encode()).hexdigest()[:10]
        return self.profile.work_dir / "ramps" / f"{self.stack}-{self.step}-{digest}-{ti.try_number}"
