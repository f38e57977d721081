"""What the restore kinds share: a step restored from a catalogued snapshot, and its teardown.

The task asks `loadstack.backends.backends_for` for the profile's implementation and never looks at
the profile itself. A restore that has to wait (an Aurora cluster, an ElastiCache group) defers to
the trigger for that wait and resumes the implementation in `execute_complete`.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.airflow.waits import result_or_defer
from loadstack.backends import Backends, backends_for
from loadstack.issues import issue_line, issues_from_validation
from loadstack.restore.step import StepRestore
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.snapshots.current import current_entry
from loadstack.waits import WaitEvent

RESTORE_TIMEOUT = timedelta(hours=2)


class SnapshotRestoreOperator(StackStepOperator):
    """Restore the step from `snapshot` with the variant's size (`sizes`) and its `placement` (aws only)."""

    template_fields = ("snapshot", "variant", "placement")
    ui_color = "#e8f6e8"
    # The spec models the dicts given to the constructor follow (JSON in the serialized DAG).
    size_model: type[BaseModel]
    placement_model: type[BaseModel]

    def __init__(
        self,
        *,
        snapshot: str,
        snapshots_dir: str,
        sizes: dict[str, dict[str, Any]],
        placement: dict[str, Any],
        output_sources: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.snapshots_dir = snapshots_dir
        self.sizes = sizes
        self.placement = placement
        self.output_sources = output_sources

    @abstractmethod
    def restorer(self, backends: Backends) -> StepRestore:
        """This kind's restore from the profile's backends."""

    def catalog_entry(self) -> CatalogEntry:
        self.check_account()
        return current_entry(self.profile, self.snapshot, Path(self.snapshots_dir))

    def execute(self, context) -> dict[str, Any]:
        entry = self.catalog_entry()
        # Resolving first also checks the variant.
        resolved = self.resolve_references(self.placement, context, output_sources=self.output_sources)
        placement = self._typed("placement", self.placement_model, resolved)
        size = self._typed(f"variants.{self.variant}", self.size_model, self.sizes[self.variant])
        progress = self.restorer(backends_for(self.profile)).restore(entry, size, placement)
        return self.record_outputs(result_or_defer(self, progress, profile=self.profile, timeout=RESTORE_TIMEOUT))

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        progress = self.restorer(backends_for(self.profile)).resume(self.snapshot, WaitEvent.from_payload(event))
        return self.record_outputs(result_or_defer(self, progress, profile=self.profile, timeout=RESTORE_TIMEOUT))

    def _typed(self, field: str, model: type[BaseModel], value: Any) -> Any:
        """`value` as `model`; an error names the step's field (a reference may resolve to the wrong type)."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            issues = issues_from_validation(exc, model, f"steps.{self.step}.{field}")
            raise ValueError("; ".join(issue_line(f"{i.path}: {i.message}") for i in issues)) from None


class RestoredStepTeardownOperator(StackStepOperator):
    """Remove what the step's restore made (server and datadir, or the AWS resource) and its outputs."""

    ui_color = "#ffe4e4"

    @abstractmethod
    def restorer(self, backends: Backends) -> StepRestore:
        """This kind's restore from the profile's backends."""

    def execute(self, context) -> None:
        self.check_account()
        removed = self.restorer(backends_for(self.profile)).teardown()
        self.log.info("%s: %s", self.step, removed)
        self.forget_outputs()
