"""A human's approval of a running ramp at its approval point, through Airflow's human-in-the-loop approval.

Airflow's `ApprovalOperator` is a gate *between* tasks: it cannot signal a task that is already running,
and a ramp must keep its traffic up while a human decides. So the approval task runs beside the ramp:

1. it defers (`RampPhaseTrigger`, no worker slot) until the ramp's checkpoint says `awaiting_approval`
   (the controller stops there and holds its traffic), or skips when the ramp ended before the point;
2. then it asks, as Airflow's ApprovalOperator does (Browse -> Required Actions, or the HITL REST API),
   with the ramp's numbers at that moment in the request's body;
3. its answer becomes its XCom; the ramp task reads it at every tick while it waits (`XComApproval`)
   and goes on, or is terminated and drains when rejected.

Clearing a ramp that a rejection terminated: clear this task too, so that a human is asked again (an
answer given before the ramp asked again is not taken).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from loadstack.airflow.operators.base import TaskProfile
from loadstack.airflow.triggers.ramp import RampPhaseTrigger
from loadstack.ramp.approval import Approval, ApprovalSource, describe_point
from loadstack.ramp.state import TERMINAL_PHASES
from loadstack.ramp_store import RampStore

AWAITING = "awaiting_approval"
COMMENT = "comment"


def is_awaiting(state: dict[str, Any]) -> bool:
    """Whether a checkpointed ramp state waits at its approval point (a pause there still counts)."""
    return state.get("phase") == AWAITING or state.get("paused_phase") == AWAITING


class RampApprovalOperator(ApprovalOperator, TaskProfile):
    """Ask a human to approve `point` ("stage_N" or "hold") of the ramp step `step`, once the ramp is there."""

    ui_color = "#fff7c2"

    def __init__(
        self,
        *,
        stack: str,
        step: str,
        point: str,
        reach_timeout_s: float,
        response_timeout_s: float,
        poll_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subject", f"{stack}: approve {describe_point(point)} of the ramp {step}?")
        # The DAG's run Params arrive here too (default args); the form the human answers shows only this one.
        kwargs.pop("params", None)
        super().__init__(
            params={COMMENT: Param("", type="string", title="Comment", description="Why (kept in the ramp's log)",
                                   source="task")},
            response_timeout=timedelta(seconds=response_timeout_s),
            **kwargs,
        )
        self.stack, self.step, self.point = stack, step, point
        self.reach_timeout_s = reach_timeout_s
        self.poll_s = poll_s

    def execute(self, context, event: dict[str, Any] | None = None):
        if event is not None and event.get("status") != "reached":
            if event.get("status") == "ended":
                raise AirflowSkipException(event["message"])
            raise AirflowFailException(f"{self.step}: {event.get('message')}")
        store = RampStore(self.profile, self.stack, context["run_id"], self.step)
        saved = store.load() or {}
        state = saved.get("state") or {}
        if is_awaiting(state):
            self.body = approval_body(self.stack, self.step, self.point, saved)
            return super().execute(context)
        if state.get("phase") in TERMINAL_PHASES:
            raise AirflowSkipException(
                f"the ramp ended ({state['phase']}: {state.get('end_reason', '')}) before its approval point"
            )
        self.log.info("waiting for the ramp %s to reach its approval point (%s); checkpoint %s",
                      self.step, describe_point(self.point), store.location)
        self.defer(
            trigger=RampPhaseTrigger(
                stack=self.stack, run_id=context["run_id"], step=self.step, phase=AWAITING,
                deadline=time.time() + self.reach_timeout_s, poll_s=self.poll_s,
            ),
            method_name="execute",
            timeout=timedelta(seconds=self.reach_timeout_s + 60),
        )

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        """The answer, as this task's XCom, which the ramp reads: a rejection skips nothing.

        ApprovalOperator skips the downstream tasks of a rejection by raising before it returns, so the answer
        would never reach XCom; and what follows this task is the run's end (its outcome, the stack's unlock and
        teardown), which must run whatever the answer. The ramp terminates itself on a rejection."""
        answer = HITLOperator.execute_complete(self, context=context, event=event)
        self.hitl_summary_extra["approved"] = answer["chosen_options"][0] == self.APPROVE
        self.log.info("%s by %s", "approved" if self.hitl_summary_extra["approved"] else "rejected",
                      answer.get("responded_by_user"))
        return answer


def approval_body(stack: str, step: str, point: str, saved: dict[str, Any]) -> str:
    """What the human reads in Required Actions: where the ramp stands and what each answer does."""
    state, params = saved.get("state") or {}, saved.get("params") or {}
    samples = (state.get("timeline") or {}).get("samples") or []
    last = samples[-1] if samples else {}
    generated = state.get("buckets", 0) * params.get("bucket_qps", 0)
    target = params.get("target_qps")
    threshold = params.get("threshold_qps")
    band = f", band {target - threshold:g}-{target + threshold:g}" if target and threshold else ""
    health = ", ".join(
        text for text in (
            f"measured {last['qps']:.1f} QPS" if last.get("qps") is not None else "",
            f"p99 {last['p99_ms']:.0f} ms" if last.get("p99_ms") is not None else "",
            f"errors {100 * last['error_ratio']:.2f} %" if last.get("error_ratio") is not None else "",
        ) if text
    )
    timeout = params.get("approval_timeout_s")
    return (
        f"The ramp **{step}** of stack **{stack}** is at stage {state.get('stage')} and holds "
        f"{generated:g} QPS generated ({health or 'no sample yet'}).\n\n"
        f"**Approve** to go on to {describe_point(point)} (target {target:g} QPS{band}). "
        f"**Reject** terminates the ramp and drains its traffic."
        + (f" Unanswered for {timeout:g} s, the ramp is terminated." if timeout else "")
    )


class XComApproval(ApprovalSource):
    """The approval task's answer, from its XCom (pushed when a human answered); None until then.

    A failed read (the API server restarting) is no answer: the ramp keeps waiting and asks again next tick.
    """

    def __init__(self, ti: Any, task_id: str, log: Any) -> None:
        self.ti, self.task_id, self.log = ti, task_id, log

    def read(self) -> Approval | None:
        try:
            payload = self.ti.xcom_pull(task_ids=self.task_id)
        except Exception as exc:  # noqa: BLE001 - any failure of the channel is the same to the ramp
            self.log.warning("reading the approval task %s failed (%s); still waiting", self.task_id, exc)
            return None
        if not isinstance(payload, dict) or not payload.get("chosen_options"):
            return None
        user = payload.get("responded_by_user") or {}
        return Approval(
            approved=ApprovalOperator.APPROVE in payload["chosen_options"],
            by=str(user.get("name") or user.get("id") or "") if isinstance(user, dict) else str(user),
            at=_epoch(payload.get("responded_at")),
            comment=str((payload.get("params_input") or {}).get(COMMENT) or ""),
        )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None
