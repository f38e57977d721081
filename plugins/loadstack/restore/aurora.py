"""The aws profile's database restore: an Aurora cluster restored from the snapshot's RDS cluster snapshot.

Restoring creates the cluster and the variant's instances, then waits (deferred) until all are
available; resuming turns on the RDS-managed master secret and reads the endpoint. A rerun finds the
cluster restored from the same snapshot (tagged) and reuses it.
"""

from __future__ import annotations

from loadstack.aws.names import aurora_cluster_id
from loadstack.aws.rds import cluster_endpoint, delete_cluster, ensure_instances, restore_cluster_from_snapshot
from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore.database import DatabaseRestore
from loadstack.snapshots.catalog import Catalog, CatalogEntry
from loadstack.snapshots.names import SNAPSHOT_DATABASE
from loadstack.waits import RDS_CLUSTER_AVAILABLE, Progress, Ready, UnexpectedPhase, Wait, WaitEvent, WaitFailed

CLUSTER_AVAILABLE = "cluster_available"


class AuroraRestore(DatabaseRestore):
    @property
    def cluster_id(self) -> str:
        return aurora_cluster_id(self.stack, self.step)

    def restore(self, entry: CatalogEntry, size: AuroraSize, placement: AuroraPlacement) -> Progress:
        client = self.profile.client("rds")
        tags = {"loadstack:stack": self.stack, "loadstack:step": self.step}
        restore_cluster_from_snapshot(
            client, self.cluster_id, entry.location, placement.engine, placement.subnet_group,
            placement.resolved_security_group_ids(), tags=tags,
        )
        ensure_instances(client, self.cluster_id, size.instances, size.instance_class, tags=tags)
        return Wait(kind=RDS_CLUSTER_AVAILABLE, args={"cluster_id": self.cluster_id}, phase=CLUSTER_AVAILABLE)

    def resume(self, snapshot: str, event: WaitEvent) -> Progress:
        if event.phase != CLUSTER_AVAILABLE:
            raise UnexpectedPhase(f"restoring {self.cluster_id}", event.phase, (CLUSTER_AVAILABLE,))
        if not event.succeeded:
            raise WaitFailed(f"restoring {self.cluster_id}: {event.message}")
        endpoint = cluster_endpoint(self.profile.client("rds"), self.cluster_id)
        entry = Catalog(self.profile).get(snapshot)
        return Ready({
            "engine": endpoint["engine"], "host": endpoint["host"], "port": endpoint["port"],
            "database": SNAPSHOT_DATABASE, "username": endpoint["username"], "secret_id": endpoint["secret_arn"],
            "snapshot": snapshot, "snapshot_kind": entry.kind if entry else "",
        })

    def teardown(self) -> str:
        if delete_cluster(self.profile.client("rds"), self.cluster_id):
            return f"deleting DB cluster {self.cluster_id} and its instances"
        return "nothing to remove"
