"""SnapshotBuildOperator: make one logical snapshot current for this profile (no-op when it is).

How a snapshot is built is the profile's builder's business (`loadstack.backends.backends_for`): in
the task, or (aws database snapshots) in a build cluster, with the waits for the cluster and for its
snapshot deferred to triggers. A failed try keeps what the builder says it leaves for the retry to
resume in; the last try deletes it.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, BaseOperator

from loadstack.airflow.operators.base import TaskProfile
from loadstack.airflow.waits import result_or_defer
from loadstack.backends import backends_for
from loadstack.data.migrate import schema_hash
from loadstack.snapshots.builder import SnapshotBuilder
from loadstack.snapshots.catalog import Catalog, SnapshotDefinition
from loadstack.waits import WaitEvent

# Creating an Aurora cluster or snapshotting a large one takes from minutes to an hour or two.
BUILD_WAIT_TIMEOUT = timedelta(hours=3)


def snapshot_asset(snapshot: str) -> Asset:
    """The Asset a logical snapshot's build updates (one per definition; each build run adds an event)."""
    return Asset(name=f"loadstack-snapshot.{snapshot}", group="loadstack-snapshots")


class SnapshotBuildOperator(BaseOperator, TaskProfile):
    template_fields = ("rebuild",)
    ui_color = "#e8f6e8"

    def __init__(self, *, snapshot: str, definition: dict[str, Any], rebuild: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.definition = definition
        self.rebuild = rebuild

    @property
    def typed_definition(self) -> SnapshotDefinition:
        return SnapshotDefinition.model_validate(self.definition)

    def builder(self) -> SnapshotBuilder:
        return backends_for(self.profile).snapshots()

    def execute(self, context) -> dict[str, Any]:
        definition = self.typed_definition
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        builder = self.builder()
        entry = Catalog(self.profile).get(self.snapshot)
        if entry and entry.is_current(definition, schema_hash()) and str(self.rebuild).lower() not in ("true", "1"):
            self.log.info("%s is current (built %s, %s): nothing to do", self.snapshot, entry.built_at, entry.location)
            if deleted := builder.clean_up(self.snapshot, definition):
                self.log.info("deleted the %s a previous try left behind", deleted)
            return self._announced(context, {"snapshot": self.snapshot, "location": entry.location, "built": False})
        with self._abandon_on_last_try(context, builder):
            progress = builder.build(self.snapshot, definition, say=self.log.info)
            return self._announced(context, result_or_defer(self, progress, profile=self.profile,
                                                            timeout=BUILD_WAIT_TIMEOUT))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        # Wrapped here rather than in execute_complete: a trigger that fails or times out makes the
        # base class raise without calling it, and the last try must still clean up.
        with self._abandon_on_last_try(context, self.builder()):
            return super().resume_execution(next_method, next_kwargs, context)

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        progress = self.builder().resume(self.snapshot, self.typed_definition, WaitEvent.from_payload(event),
                                         say=self.log.info)
        return self._announced(context, result_or_defer(self, progress, profile=self.profile, timeout=BUILD_WAIT_TIMEOUT))

    def _announced(self, context, result: dict[str, Any]) -> dict[str, Any]:
        """`result`, once the snapshot's Asset event says what the catalog holds now (and what it was built from)."""
        definition = self.typed_definition
        context["outlet_events"][snapshot_asset(self.snapshot)].extra = {
            "location": result.get("location"),
            "built": bool(result.get("built")),
            "params_hash": definition.params_hash(),
            # Only a database's data follows from the migrations (CatalogEntry.is_current).
            "schema_hash": schema_hash() if definition.engine == "mariadb" else "",
        }
        return result

    @contextmanager
    def _abandon_on_last_try(self, context, builder: SnapshotBuilder):
        """A failed try keeps what the builder leaves (e.g. the build cluster), so the retry resumes in
        it; the last one deletes it (with its snapshot, unless that is catalogued)."""
        try:
            yield
        except Exception:
            leftover = builder.leftover(self.snapshot, self.typed_definition)
            if leftover is None:
                raise
            ti = context.get("ti")
            try_number = getattr(ti, "try_number", 1)
            max_tries = getattr(ti, "max_tries", self.retries)
            if try_number > max_tries:
                self.log.error("last try failed: deleting %s", leftover)
                builder.clean_up(self.snapshot, self.typed_definition)
            else:
                self.log.warning("keeping %s for the retry to resume in", leftover)
            raise
