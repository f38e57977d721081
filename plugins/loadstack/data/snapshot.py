"""Physical snapshots of a private MariaDB server, packed as .tar.zst.

A snapshot is a *prepared* `mariadb-backup` directory: a datadir that mariadbd can start on as is,
without crash recovery. Restoring is therefore unpacking plus starting the server: about a second
for a million-row database, where replaying a logical dump takes tens of seconds.

- `create_snapshot`: `mariadb-backup --backup` (hot, the server keeps serving), `--prepare`, then
  tar piped into `zstd -T0` (all cores, a fast level). Returns size and seconds per phase.
- `restore_snapshot`: unpack into an EMPTY datadir (never hardlinks or shared files: InnoDB writes its
  files in place, so two servers must never share one), write the cnf, start, wait until ready.

The packed files travel through the profile's snapshot bucket as artifacts (`loadstack.artifacts`).

The root password lives inside the snapshot (mysql.global_priv): restore with the password the
snapshot's source server had.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadstack.data.mariadb import MariaDBError, MariaDBServer

log = logging.getLogger(__name__)

MARIADB_BACKUP = "mariadb-backup"
ZSTD_LEVEL = 3  # zstd's default: about 3.5x on this data at several hundred MB/s per core
# Files mariadb-backup leaves for its own bookkeeping; mariadbd does not need them in a datadir.
_BACKUP_ONLY_FILES = ("backup-my.cnf", "xtrabackup_checkpoints", "xtrabackup_info", "xtrabackup_binlog_info")


class SnapshotError(RuntimeError):
    """A snapshot could not be made, unpacked or restored."""


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    size_bytes: int
    backup_seconds: float
    prepare_seconds: float
    pack_seconds: float
    total_seconds: float

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _run(command: list[str], what: str, *, env: Mapping[str, str] | None = None) -> None:
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SnapshotError(f"{what} failed (exit code {result.returncode}):\n{(result.stderr or result.stdout)[-3000:]}")


def _backup_config(server: MariaDBServer, directory: Path) -> Path:
    """The server's cnf plus a client section with the root login, readable by us only.

    mariadb-backup would otherwise take the password on its command line, where `ps` shows it.
    """
    password = server.connection_params().password
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    path = directory / "backup.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(server.config_text())
        handle.write(f'\n[mariadb-backup]\nuser=root\npassword="{quoted}"\nhost=127.0.0.1\nport={server.port}\n')
    return path


def create_snapshot(
    server: MariaDBServer, dest_tar_zst: Path, *, zstd_level: int = ZSTD_LEVEL, parallel: int = 2
) -> SnapshotInfo:
    """Back up a running server into `dest_tar_zst` (written atomically); returns size and timings."""
    if not server.is_running():
        raise SnapshotError(f"{server!r} is not running: mariadb-backup copies a live server")
    dest = Path(dest_tar_zst)
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # Working files next to the destination: same filesystem, and never the server's own base_dir.
    with tempfile.TemporaryDirectory(prefix=".snapshot-", dir=dest.parent) as tmp:
        work = Path(tmp)
        os.chmod(work, 0o700)
        config = _backup_config(server, work)
        target = work / "backup"
        _run(
            [MARIADB_BACKUP, f"--defaults-file={config}", "--backup", f"--target-dir={target}", f"--parallel={parallel}"],
            "mariadb-backup --backup",
        )
        backed_up = time.monotonic()
        _run(
            [MARIADB_BACKUP, f"--defaults-file={config}", "--prepare", f"--target-dir={target}", "--use-memory=256M"],
            "mariadb-backup --prepare",
        )
        prepared = time.monotonic()
        for name in _BACKUP_ONLY_FILES:
            (target / name).unlink(missing_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        _pack(target, partial, zstd_level)
        partial.replace(dest)
        packed = time.monotonic()
    info = SnapshotInfo(
        path=dest,
        size_bytes=dest.stat().st_size,
        backup_seconds=backed_up - started,
        prepare_seconds=prepared - backed_up,
        pack_seconds=packed - prepared,
        total_seconds=packed - started,
    )
    log.info(
        "snapshot %s: %.1f MB, backup %.1f s, prepare %.1f s, pack %.1f s",
        dest, info.size_bytes / 1e6, info.backup_seconds, info.prepare_seconds, info.pack_seconds,
    )
    return info


def _pack(source: Path, dest: Path, level: int) -> None:
    with open(dest, "wb") as out:
        tar = subprocess.Popen(["tar", "-C", str(source), "-cf", "-", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        zstd = subprocess.Popen(
            ["zstd", "-q", f"-{level}", "-T0", "-c"], stdin=tar.stdout, stdout=out, stderr=subprocess.PIPE
        )
        assert tar.stdout is not None
        tar.stdout.close()  # zstd holds the pipe now; tar sees SIGPIPE if zstd dies
        zstd_err = zstd.communicate()[1]
        tar_err = tar.communicate()[1]
    if tar.returncode or zstd.returncode:
        raise SnapshotError(
            f"packing {source} failed: tar exit code {tar.returncode}, zstd exit code {zstd.returncode}:\n"
            f"{(tar_err + zstd_err).decode(errors='replace')[-2000:]}"
        )


def _unpack(archive: Path, datadir: Path) -> None:
    zstd = subprocess.Popen(["zstd", "-q", "-d", "-T0", "-c", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar = subprocess.Popen(["tar", "-C", str(datadir), "-xf", "-"], stdin=zstd.stdout, stderr=subprocess.PIPE)
    assert zstd.stdout is not None
    zstd.stdout.close()
    tar_err = tar.communicate()[1]
    zstd_err = zstd.communicate()[1]
    if tar.returncode or zstd.returncode:
        raise SnapshotError(
            f"unpacking {archive} failed: zstd exit code {zstd.returncode}, tar exit code {tar.returncode}:\n"
            f"{(zstd_err + tar_err).decode(errors='replace')[-2000:]}"
        )


def restore_snapshot(
    tar_zst: Path,
    base_dir: Path,
    port: int,
    *,
    root_password: str,
    ready_timeout: float = 120,
    **server_options: Any,
) -> MariaDBServer:
    """Unpack a snapshot into a new server under `base_dir`, start it and wait until it is ready.

    `base_dir` must hold no datadir yet (or an empty one). Extra keyword arguments go to
    `MariaDBServer` (e.g. buffer_pool_size).
    """
    archive = Path(tar_zst)
    if not archive.is_file():
        raise SnapshotError(f"snapshot {archive} does not exist")
    server = MariaDBServer(base_dir=base_dir, port=port, root_password=root_password, **server_options)
    if server.is_running():
        raise SnapshotError(f"a server is already running in {server.base_dir}; remove() it before restoring")
    if server.datadir.exists() and any(server.datadir.iterdir()):
        raise SnapshotError(f"datadir {server.datadir} is not empty: snapshots restore only into an empty datadir")
    started = time.monotonic()
    server.write_config()
    server.datadir.mkdir(parents=True, exist_ok=True)
    try:
        _unpack(archive, server.datadir)
    except SnapshotError:
        shutil.rmtree(server.datadir, ignore_errors=True)
        raise
    unpacked = time.monotonic()
    server.start()
    try:
        server.wait_ready(ready_timeout)
    except MariaDBError as exc:
        raise SnapshotError(f"the server restored from {archive.name} did not come up: {exc}") from exc
    log.info(
        "restored %s into %s: unpack %.2f s, start to ready %.2f s",
        archive.name, server.base_dir, unpacked - started, time.monotonic() - unpacked,
    )
    return server
