"""What a running profile exposes: the TCP sockets its processes listen on, and where known secret values show up
(files, S3 objects, API answers). Read from /proc and from the stores themselves, so nothing here trusts the
product's own account of where it binds or what it logs."""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # the TCP state in /proc/net/tcp*
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# Files not worth reading for a secret written as text: a database's pages, archives, big binary logs.
MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    pid: int
    command: str

    @property
    def loopback(self) -> bool:
        address = ipaddress.ip_address(self.address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in LOOPBACK)

    def __str__(self) -> str:
        return f"{self.address}:{self.port} (pid {self.pid}: {self.command[:160]})"


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _socket_inodes() -> dict[int, tuple[str, int]]:
    """{socket inode: (address, port)} of every listening TCP socket on the host."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            address, port = fields[1].split(":")
            found[int(fields[9])] = (_address(address), int(port, 16))
    return found


def _command(pid: str) -> str:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def listening_sockets(pids: Iterable[int] | None = None) -> list[Listener]:
    """Every listening TCP socket with the process holding it (of `pids` only, if given)."""
    inodes = _socket_inodes()
    wanted = {str(pid) for pid in pids} if pids is not None else None
    listeners = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or (wanted is not None and proc.name not in wanted):
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and (inode := int(target[8:-1])) in inodes:
                address, port = inodes[inode]
                listeners.append(Listener(address, port, int(proc.name), _command(proc.name)))
    return listeners


def process_ids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def holding(data: bytes, secrets: Iterable[str]) -> list[str]:
    """The secrets found in `data`, as the first characters of each (never the whole value, in a test report)."""
    return [secret[:4] + "..." for secret in secrets if secret.encode() in data]


@dataclass(frozen=True)
class Found:
    where: str
    secrets: list[str]
    mode: int | None = None

    def __str__(self) -> str:
        mode = f" (mode {self.mode:o})" if self.mode is not None else ""
        return f"{self.where}{mode}: {', '.join(self.secrets)}"


def files_holding(root: Path, secrets: Iterable[str]) -> Iterator[Found]:
    """Every readable regular file under `root` that holds one of the secrets (files over MAX_FILE_BYTES skipped)."""
    secrets = [s for s in secrets if s]
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if found := holding(data, secrets):
                yield Found(str(path), found, stat.S_IMODE(info.st_mode))


def is_log(path: str) -> bool:
    parts = Path(path).parts
    return path.endswith((".log", ".out", ".err")) or "logs" in parts or "log" in parts


def objects_holding(s3, bucket: str, secrets: Iterable[str], *, prefix: str = "",
                    skip: tuple[str, ...] = ()) -> Iterator[Found]:  # fmt: skip
    """Every object of `bucket` (under `prefix`, not ending with one of `skip`) that holds one of the secrets."""
    secrets = [s for s in secrets if s]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(skip) or item["Size"] > MAX_FILE_BYTES:
                continue
            data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if found := holding(data, secrets):
                yield Found(f"s3://{bucket}/{item['Key']}", found)
