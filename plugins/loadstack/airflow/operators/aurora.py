"""The aurora_restore kind's tasks: restore the step's database from a snapshot, and tear it down."""

from __future__ import annotations

from loadstack.airflow.operators.snapshot_restore import RestoredStepTeardownOperator, SnapshotRestoreOperator
from loadstack.backends import Backends
from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore.database import DatabaseRestore


class AuroraRestoreOperator(SnapshotRestoreOperator):
    """Outputs host, port, database, username, secret id, snapshot and its kind."""

    size_model = AuroraSize
    placement_model = AuroraPlacement

    def restorer(self, backends: Backends) -> DatabaseRestore:
        return backends.database(self.stack, self.step)


class AuroraTeardownOperator(RestoredStepTeardownOperator):
    def restorer(self, backends: Backends) -> DatabaseRestore:
        return backends.database(self.stack, self.step)
