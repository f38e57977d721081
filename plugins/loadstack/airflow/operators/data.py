"""Data-tier tasks: restore a database from a catalogued snapshot, seed it shard by shard, tear it down.

local profile: the step's own MariaDB server (restored in about a second). aws profile: an Aurora
cluster restored from the RDS snapshot, its instances created, then the wait deferred to a trigger.
"""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.airflow.triggers.aws import (
    ElastiCacheReplicationGroupAvailableTrigger,
    RdsClusterAvailableTrigger,
)
from loadstack.aws import (
    ELASTICACHE_GROUP_ID_LIMIT,
    RDS_CLUSTER_ID_LIMIT,
    resource_identifier,
)
from loadstack.aws.elasticache import (
    create_replication_group_from_snapshot,
    delete_replication_group,
    rdb_s3_arn,
    replication_group_endpoint,
)
from loadstack.aws.rds import (
    cluster_endpoint,
    delete_cluster,
    ensure_instances,
    restore_cluster_from_snapshot,
)
from loadstack.cache.rdb import RDB_PREFIX
from loadstack.credentials import get_json_secret
from loadstack.data.mariadb import ConnectionParams
from loadstack.data.migrate import schema_hash
from loadstack.data.params import SeedParams
from loadstack.data.seed import (
    count_mismatches,
    count_rows,
    expected_counts,
    seed_base,
    seed_shard,
)
from loadstack.restore.local_cache import LocalCache
from loadstack.restore.local_database import LocalDatabase
from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions

RESTORE_TIMEOUT = timedelta(hours=2)


def aurora_cluster_id(stack: str, step: str) -> str:
    """One name for restore and teardown alike (RDS ids have hyphens where step names have "_")."""
    return resource_identifier(f"{stack}-{step}".replace("_", "-"), RDS_CLUSTER_ID_LIMIT)


def cache_group_id(stack: str, step: str) -> str:
    return resource_identifier(f"{stack}-{step}".replace("_", "-"), ELASTICACHE_GROUP_ID_LIMIT)


class SnapshotNotReady(RuntimeError):
    pass


def current_entry(profile, snapshot: str, snapshots_dir: Path) -> CatalogEntry:
    """The catalogued build of `snapshot` for this profile, if it matches its definition today."""
    definitions = load_definitions(snapshots_dir)
    if snapshot not in definitions:
        raise SnapshotNotReady(f"snapshot '{snapshot}' is not defined in {snapshots_dir} (known: {', '.join(sorted(definitions))})")
    entry = Catalog(profile).get(snapshot)
    if entry is None or not entry.is_current(definitions[snapshot], schema_hash()):
        state = "is not built" if entry is None else "is out of date (schema or seed parameters changed)"
        raise SnapshotNotReady(
            f"snapshot '{snapshot}' {state} for the {profile.name} profile: trigger the loadstack_snapshots DAG "
            "(make demo does so before the stack)"
        )
    return entry


class _SnapshotRestoreOperator(StackStepOperator):
    """Shared by the restore kinds: which snapshot, the variant's sizes, aws-only settings."""

    template_fields = ("snapshot", "variant", "vars")
    ui_color = "#e8f6e8"

    def __init__(
        self,
        *,
        snapshot: str,
        snapshots_dir: str,
        sizes: dict[str, dict[str, Any]],
        vars: dict[str, Any],
        output_sources: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.snapshots_dir = snapshots_dir
        self.sizes = sizes
        self.vars = vars
        self.output_sources = output_sources

    def catalog_entry(self) -> CatalogEntry:
        self.check_account()
        return current_entry(self.profile, self.snapshot, Path(self.snapshots_dir))


class AuroraRestoreOperator(_SnapshotRestoreOperator):
    """Restore the step's database from `snapshot`; outputs host, port, database, user, secret id."""

    @property
    def cluster_id(self) -> str:
        return aurora_cluster_id(self.stack, self.step)

    def execute(self, context) -> dict[str, Any]:
        entry = self.catalog_entry()
        if self.profile.is_local:
            return self.record_outputs(LocalDatabase(self.profile, self.stack, self.step).restore(entry))
        return self._restore_aurora(context, entry)

    def _restore_aurora(self, context, entry: CatalogEntry) -> dict[str, Any]:
        settings = self.resolve_references(self.vars, context, output_sources=self.output_sources)
        size = self.sizes[self.variant]
        client = self.profile.client("rds")
        tags = {"loadstack:stack": self.stack, "loadstack:step": self.step}
        restore_cluster_from_snapshot(
            client, self.cluster_id, entry.location, settings.get("engine", "aurora-mysql"),
            settings.get("subnet_group"), settings.get("security_group_ids", ()), tags=tags,
        )
        ensure_instances(client, self.cluster_id, size["instances"], size["instance_class"], tags=tags)
        self.defer(
            trigger=RdsClusterAvailableTrigger(
                cluster_id=self.cluster_id, region_name=self.profile.region, aws_conn_id=self.profile.aws_conn_id,
                endpoint_url=self.profile.endpoint_url,
            ),
            method_name="execute_complete",
            timeout=RESTORE_TIMEOUT,
        )

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise RuntimeError(f"restoring {self.cluster_id}: {event.get('message', event)}")
        endpoint = cluster_endpoint(self.profile.client("rds"), self.cluster_id)
        entry = Catalog(self.profile).get(self.snapshot)
        return self.record_outputs({
            "engine": endpoint["engine"], "host": endpoint["host"], "port": endpoint["port"],
            "database": "commerce", "username": endpoint["username"], "secret_id": endpoint["secret_arn"],
            "snapshot": self.snapshot, "snapshot_kind": entry.kind if entry else "",
        })


class AuroraTeardownOperator(StackStepOperator):
    """Remove the step's database: the local server and its datadir, or the Aurora cluster."""

    ui_color = "#ffe4e4"

    def execute(self, context) -> None:
        self.check_account()
        if self.profile.is_local:
            removed = LocalDatabase(self.profile, self.stack, self.step).teardown()
            self.log.info("%s: %s", self.step, "server stopped and datadir removed" if removed else "nothing to remove")
        else:
            delete_cluster(self.profile.client("rds"), aurora_cluster_id(self.stack, self.step))
        self.forget_outputs()


class _SeedOperator(StackStepOperator):
    """Connects to the restored database named by the `database` step's outputs."""

    template_fields = ("variant",)
    ui_color = "#fff6dc"

    def __init__(self, *, database_task_id: str, seed_params: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.database_task_id = database_task_id
        self.seed_params = seed_params

    def connection(self, context):
        outputs = context["ti"].xcom_pull(task_ids=self.database_task_id)
        secret = get_json_secret(self.profile, outputs["secret_id"])
        return ConnectionParams(host=outputs["host"], port=outputs["port"], user=outputs["username"],
                                password=secret["password"], database=outputs["database"])

    @property
    def params_obj(self):
        return SeedParams.from_dict(self.seed_params)

    def progress(self, line) -> None:
        self.log.info("%s", line)


class SeedBaseOperator(_SeedOperator):
    """Accounts, profiles, products, orders: skipped when the markers say they are already there."""

    def execute(self, context) -> dict[str, int]:
        return seed_base(self.connection(context), self.params_obj, progress=self.progress)


class SeedShardOperator(_SeedOperator):
    """One events shard (a mapped task per shard); resumable: a rerun redoes only unfinished shards."""

    def __init__(self, *, shard: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard = shard

    def execute(self, context) -> int:
        return seed_shard(self.connection(context), self.params_obj, int(self.shard), progress=self.progress)


class SeedVerifyOperator(_SeedOperator):
    """Exact counts per table against what the generator says; outputs them."""

    def execute(self, context) -> dict[str, Any]:
        expected = expected_counts(self.params_obj)
        with closing(self.connection(context).connect()) as conn:
            found = count_rows(conn, expected)
        if wrong := count_mismatches(expected, found):
            raise RuntimeError(f"row counts differ from the dataset: {wrong}")
        total = sum(found.values())
        self.log.info("all %d tables hold exactly the dataset's %s rows", len(found), f"{total:,}")
        return self.record_outputs({"rows": total, "tables": found})


class RedisRestoreOperator(_SnapshotRestoreOperator):
    """Restore the step's cache from an RDB snapshot; outputs host, port, secret id, key count."""

    @property
    def group_id(self) -> str:
        return cache_group_id(self.stack, self.step)

    def execute(self, context) -> dict[str, Any]:
        entry = self.catalog_entry()
        if self.profile.is_local:
            return self.record_outputs(LocalCache(self.profile, self.stack, self.step).restore(entry))
        settings = self.resolve_references(self.vars, context, output_sources=self.output_sources)
        size = self.sizes[self.variant]
        # The snapshots DAG keeps RDB files in the snapshot bucket; an ElastiCache snapshot name
        # catalogued by hand is used as it is.
        from_rdb = entry.location.startswith(RDB_PREFIX)
        create_replication_group_from_snapshot(
            self.profile.client("elasticache"), self.group_id, None if from_rdb else entry.location,
            size["node_type"], size["replicas"] + 1,
            rdb_s3_arns=[rdb_s3_arn(self.profile.snapshot_bucket, entry.location)] if from_rdb else (),
            subnet_group=settings.get("subnet_group"), security_group_ids=settings.get("security_group_ids", ()),
            tags={"loadstack:stack": self.stack, "loadstack:step": self.step},
        )
        self.defer(
            trigger=ElastiCacheReplicationGroupAvailableTrigger(
                group_id=self.group_id, region_name=self.profile.region, aws_conn_id=self.profile.aws_conn_id,
                endpoint_url=self.profile.endpoint_url,
            ),
            method_name="execute_complete",
            timeout=RESTORE_TIMEOUT,
        )

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            entry = Catalog(self.profile).get(self.snapshot)
            hint = ""
            if entry and entry.location.startswith(RDB_PREFIX):
                hint = (f" (seeding from s3://{self.profile.snapshot_bucket}/{entry.location} needs that bucket, in the "
                        "cache's region, to grant ElastiCache read access to redis/*: see the README)")
            raise RuntimeError(f"restoring {self.group_id}: {event.get('message', event)}{hint}")
        endpoint = replication_group_endpoint(self.profile.client("elasticache"), self.group_id)
        return self.record_outputs({"engine": "redis", "host": endpoint["host"], "port": endpoint["port"],
                                    "secret_id": None, "snapshot": self.snapshot})


class RedisTeardownOperator(StackStepOperator):
    ui_color = "#ffe4e4"

    def execute(self, context) -> None:
        self.check_account()
        if self.profile.is_local:
            removed = LocalCache(self.profile, self.stack, self.step).teardown()
            self.log.info("%s: %s", self.step, "redis stopped and removed" if removed else "nothing to remove")
        else:
            delete_replication_group(self.profile.client("elasticache"), cache_group_id(self.stack, self.step))
        self.forget_outputs()


class ForgetOutputsOperator(StackStepOperator):
    """Teardown of a step that owns no resource of its own (seed): drop its recorded outputs."""

    ui_color = "#ffe4e4"

    def execute(self, context) -> None:
        self.forget_outputs()
        self.log.info("%s: recorded outputs removed", self.step)
