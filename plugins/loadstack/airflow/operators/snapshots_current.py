"""SnapshotsCurrentOperator: before a stack run stands anything up, every snapshot it restores must be built for
this profile from its definition as it is today.

A definition changed since its last build (seed parameters, source, or the migrations) makes the restore's
snapshot out of date; the run then fails here, without retries and before any Terraform step, naming each
snapshot and the DAG that rebuilds it (`loadstack_snapshots`). Its inlets are the snapshots' Assets
(`snapshots.snapshot_asset`), so Airflow's asset graph links every stack to the builds it restores from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators.base import TaskProfile
from loadstack.snapshots.current import SnapshotNotReady, current_entry


class SnapshotsCurrentOperator(BaseOperator, TaskProfile):
    """Check `snapshots` ({step: snapshot name, a template for a snapshot Param}) against the catalog."""

    template_fields = ("snapshots",)
    ui_color = "#e8f6e8"

    def __init__(self, *, stack: str, snapshots: dict[str, str], snapshots_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.snapshots = snapshots
        self.snapshots_dir = snapshots_dir

    def execute(self, context) -> dict[str, dict[str, str]]:
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        current: dict[str, dict[str, str]] = {}
        stale: list[str] = []
        for step, snapshot in sorted(self.snapshots.items()):
            try:
                entry = current_entry(self.profile, snapshot, Path(self.snapshots_dir))
            except SnapshotNotReady as exc:
                stale.append(f"step {step}: {exc}")
                continue
            current[step] = {"snapshot": snapshot, "location": entry.location, "built_at": entry.built_at}
            self.log.info("step %s restores %s: current (built %s, %s)", step, snapshot, entry.built_at, entry.location)
        if stale:
            # A retry cannot help: the snapshots DAG has to run first. Nothing of the stack is up yet.
            raise AirflowFailException(f"{self.stack}: not every snapshot is current, so nothing was stood up:\n"
                                       + "\n".join(stale))
        return current
