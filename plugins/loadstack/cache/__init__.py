"""Private Redis instances and their RDB snapshots, for the local profile (no Airflow imports here).

- `redis_server`: one redis-server on 127.0.0.1 with its own directory, config and PID file,
  started detached and stopped by PID; restoring = placing an RDB file before the start.
- `rdb`: building an RDB file from data (a temporary server fed through `redis-cli --pipe`), a
  deterministic commerce-cache generator, and S3 upload/download of the file.
"""

from loadstack.cache.redis_server import (
    RedisReplyError,
    RedisServer,
    RedisServerError,
    free_port,
    restore_rdb,
)

__all__ = ["RedisReplyError", "RedisServer", "RedisServerError", "free_port", "restore_rdb"]
