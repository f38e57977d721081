"""SnapshotsCurrentOperator: before a stack run stands anything up, every snapshot it restores must be built for
this profile from its definition as it is today.

A definition changed since its last build (seed parameters, source, or the migrations) makes the restore's
snapshot out of date, and one never built is missing. With the run's `rebuild_snapshots` Param on (the default)
the check returns them as `stale`, and `snapshots-rebuild` (operators.snapshots_rebuild) has the
`loadstack_snapshots` DAG rebuild them before the steps run. With it off the run fails here, without retries and
before any Terraform step, naming each snapshot and that DAG. A snapshot that is not defined at all fails the
run either way: no build can make it. Its inlets are the snapshots' Assets (`snapshots.snapshot_asset`), so
Airflow's asset graph links every stack to the builds it restores from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators.base import TaskProfile
from loadstack.snapshots.catalog import load_definitions
from loadstack.snapshots.current import sort_by_currency


def is_on(flag: Any) -> bool:
    """A boolean Param as a rendered template gives it ("True"), or as given in Python."""
    return str(flag).strip().lower() in ("true", "1")


class SnapshotsCurrentOperator(BaseOperator, TaskProfile):
    """Check `snapshots` ({step: snapshot name, a template for a snapshot Param}) against the catalog.

    Returns `{"current": {step: {snapshot, location, built_at}}, "stale": {step: {snapshot, reason}}}`; `stale`
    is empty unless `rebuild` (a template for the `rebuild_snapshots` Param) allows a rebuild.
    """

    template_fields = ("snapshots", "rebuild")
    ui_color = "#e8f6e8"

    def __init__(self, *, stack: str, snapshots: dict[str, str], snapshots_dir: str, rebuild: Any = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.snapshots = snapshots
        self.snapshots_dir = snapshots_dir
        self.rebuild = rebuild

    def execute(self, context) -> dict[str, dict[str, dict[str, str]]]:
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        defined = load_definitions(Path(self.snapshots_dir))
        undefined = [f"step {step}: snapshot '{snapshot}' is not defined in {self.snapshots_dir} (known: "
                     f"{', '.join(sorted(defined))}): define it there or choose another"
                     for step, snapshot in sorted(self.snapshots.items()) if snapshot not in defined]
        if undefined:
            raise AirflowFailException(f"{self.stack}: a snapshot no build can make, so nothing was stood up:\n"
                                       + "\n".join(undefined))
        entries, stale = sort_by_currency(self.profile, self.snapshots, Path(self.snapshots_dir))
        current: dict[str, dict[str, str]] = {}
        for step, entry in entries.items():
            current[step] = {"snapshot": self.snapshots[step], "location": entry.location, "built_at": entry.built_at}
            self.log.info("step %s restores %s: current (built %s, %s)", step, self.snapshots[step], entry.built_at,
                          entry.location)
        if stale and not is_on(self.rebuild):
            # A retry cannot help: the snapshots DAG has to run first. Nothing of the stack is up yet.
            raise AirflowFailException(
                f"{self.stack}: not every snapshot is current, so nothing was stood up (this run's rebuild_snapshots "
                "is off; leave it on to have the run rebuild them first):\n"
                + "\n".join(f"step {step}: {found['reason']}" for step, found in stale.items()))
        for step, found in stale.items():
            self.log.warning("step %s: %s; snapshots-rebuild has it rebuilt before the steps run", step, found["reason"])
        return {"current": current, "stale": stale}
