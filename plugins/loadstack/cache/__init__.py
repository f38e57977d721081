"""Private Redis instances and their RDB snapshots, for the local profile (no Airflow imports here).

- `redis_server`: one redis-server on 127.0.0.1 with its own directory, config and PID file,
  started detached and stopped by PID (`loadstack.supervisor`); restoring = placing an RDB file
  before the start. Clients are redis-py's.
- `rdb`: building an RDB file from data (a temporary server fed through `redis-cli --pipe`), a
  deterministic commerce-cache generator, and where RDB files live in the snapshot bucket (they
  travel as `loadstack.artifacts`).
- `resp`: RESP command encoding, the stream format `redis-cli --pipe` reads.
"""

from loadstack.cache.rdb import (
    RdbBuild,
    RdbError,
    build_rdb,
    commerce_cache_records,
    rdb_object_key,
)
from loadstack.cache.redis_server import (
    RedisServer,
    RedisServerError,
    restore_rdb,
)
from loadstack.cache.resp import encode_command

__all__ = [
    "RdbBuild",
    "RdbError",
    "RedisServer",
    "RedisServerError",
    "build_rdb",
    "commerce_cache_records",
    "encode_command",
    "rdb_object_key",
    "restore_rdb",
]
