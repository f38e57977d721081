"""The TTL reaper's choice: which listed stacks to tear down now, and why (the teardown runs are then
started by Airflow's TriggerDagRunOperator, one mapped task per stack)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.airflow.operators.base import TaskProfile
from loadstack.stack_registry import MAX_REAP_ATTEMPTS, StackEntry, StackRegistry, describe_expiry, format_duration


def reap_reason(entry: StackEntry, now: datetime, reaper_dag: str, reaper_run: str) -> str:
    reason = (f"{describe_expiry(entry, now)} (up since {entry.created_at:%Y-%m-%d %H:%M} UTC, stood up by run "
              f"{entry.run_id}, ttl {format_duration(entry.expires_at - entry.created_at)}); reaped by {reaper_dag} "
              f"run {reaper_run}")
    if entry.status == "teardown_failed":
        reason += f"; attempt {entry.teardown_attempts + 1} of {MAX_REAP_ATTEMPTS}, the last failed: {entry.reason}"
    return reason


def teardown_run_id(reaper_run: str) -> str:
    """The teardown run the reaper starts for a stack: named after the reaper's run, so a retried task
    finds the run it started before instead of starting a second one."""
    return f"reaped__{reaper_run}"


class SelectExpiredStacksOperator(BaseOperator, TaskProfile):
    """Marks every stack past its expiry tearing_down, logs why, and returns the arguments of its teardown
    trigger (`TriggerDagRunOperator.expand_kwargs`).

    First it settles teardowns that ended without saying so: an entry still tearing_down whose teardown
    run failed, or never started (a teardown DAG missing or paused), becomes teardown_failed.
    """

    ui_color = "#fff2d9"

    @cached_property
    def registry(self) -> StackRegistry:
        return StackRegistry(self.profile)

    def execute(self, context) -> list[dict[str, Any]]:
        ti, reaper_run = context["ti"], context["dag_run"].run_id
        run_id = teardown_run_id(reaper_run)
        entries = self.registry.list()
        self._settle_silent_teardowns(ti, [e for e in entries if e.status == "tearing_down" and e.teardown_run != run_id])
        now = self.registry.clock()
        # A retry of this task takes again the stacks its first try marked, whose trigger may not have run.
        chosen = [e for e in self.registry.list() if e.is_reapable(now) or
                  (e.status == "tearing_down" and e.teardown_run == run_id)]
        triggers = []
        for entry in sorted(chosen, key=lambda e: e.expires_at):
            reason = entry.reason if entry.status == "tearing_down" else reap_reason(entry, now, ti.dag_id, reaper_run)
            self.registry.mark_tearing_down(entry.stack, reason=reason, teardown_run=run_id)
            self.log.warning("reaping %s: %s; starting %s run %s (variant %s)", entry.stack, reason,
                             entry.teardown_dag, run_id, entry.variant)
            triggers.append({"trigger_dag_id": entry.teardown_dag, "trigger_run_id": run_id,
                             "conf": {"variant": entry.variant, "reason": reason}})
        if not triggers:
            upcoming = sorted((e for e in entries if e.status == "up"), key=lambda e: e.expires_at)
            self.log.info("nothing to reap: %d stack(s) listed%s", len(entries),
                          f", next {upcoming[0].stack} ({describe_expiry(upcoming[0], now)})" if upcoming else "")
        for entry in entries:
            if entry.status == "teardown_failed" and entry.teardown_attempts >= MAX_REAP_ATTEMPTS:
                self.log.error("%s: teardown failed %d times, left for a person: %s", entry.stack,
                               entry.teardown_attempts, entry.reason)
        return triggers

    def _settle_silent_teardowns(self, ti, tearing_down: list[StackEntry]) -> None:
        for entry in tearing_down:
            if not entry.teardown_run:
                continue
            if ti.get_dr_count(dag_id=entry.teardown_dag, run_ids=[entry.teardown_run]) == 0:
                reason = (f"teardown run {entry.teardown_run} of {entry.teardown_dag} never started "
                          f"(is the DAG missing or paused?); was: {entry.reason}")
            elif (state := ti.get_dagrun_state(dag_id=entry.teardown_dag, run_id=entry.teardown_run)) == "failed":
                reason = f"teardown run {entry.teardown_run} of {entry.teardown_dag} failed (see its task logs)"
            else:
                self.log.info("%s: teardown run %s is %s", entry.stack, entry.teardown_run, state)
                continue
            self.log.error("%s: %s", entry.stack, reason)
            self.registry.mark_teardown_failed(entry.stack, reason=reason)
