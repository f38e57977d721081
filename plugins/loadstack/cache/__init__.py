"""Private Redis instances and their RDB snapshots, for the local profile (no Airflow imports here).

- `redis_server`: one redis-server on 127.0.0.1 with its own directory, config and PID file,
  started detached and stopped by PID; restoring = placing an RDB file before the start.
- `rdb`: building an RDB file from data (a temporary server fed through `redis-cli --pipe`), a
  deterministic commerce-cache generator, and S3 upload/download of the file.
"""

from loadstack.cache.rdb import (
    RdbBuild,
    RdbError,
    build_rdb,
    commerce_cache_records,
    download_rdb,
    rdb_object_key,
    upload_rdb,
)
from loadstack.cache.redis_server import (
    RedisConnection,
    RedisReplyError,
    RedisServer,
    RedisServerError,
    restore_rdb,
)

__all__ = [
    "RdbBuild",
    "RdbError",
    "RedisConnection",
    "RedisReplyError",
    "RedisServer",
    "RedisServerError",
    "build_rdb",
    "commerce_cache_records",
    "download_rdb",
    "rdb_object_key",
    "restore_rdb",
    "upload_rdb",
]
