"""The seed kind's tasks: load a dataset into a restored database shard by shard, then check the counts."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.credentials import get_json_secret
from loadstack.data.mariadb import ConnectionParams
from loadstack.data.params import SeedParams
from loadstack.data.seed import (
    count_mismatches,
    count_rows,
    expected_counts,
    seed_base,
    seed_shard,
    seeded_event_id_limits,
)


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
    """Exact counts per table against what the generator says; outputs them.

    Events a load test wrote since (the app's ids lie above the dataset's) are counted apart: a stack
    kept up across runs still holds exactly the seeded rows.
    """

    def execute(self, context) -> dict[str, Any]:
        params = self.params_obj
        expected = expected_counts(params)
        limits = seeded_event_id_limits(params)
        with closing(self.connection(context).connect()) as conn:
            found = count_rows(conn, expected, id_limits=limits)
            written = sum(count_rows(conn, limits).values()) - sum(found[table] for table in limits)
        if wrong := count_mismatches(expected, found):
            raise RuntimeError(f"row counts differ from the dataset: {wrong}")
        total = sum(found.values())
        self.log.info("all %d tables hold exactly the dataset's %s rows (%s events written since by load)",
                      len(found), f"{total:,}", f"{written:,}")
        return self.record_outputs({"rows": total, "tables": found, "events_written_since": written})
