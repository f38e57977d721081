"""The processes loadstack starts and stops by PID: whether one still runs, and free ports for them.

PID 1 in these containers does not reap orphans, so an exited server may linger as a zombie: it
answers kill(0) but is gone for every purpose here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process; reaps it if it is our exited child (no zombies)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: another process started it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False  # a zombie whose parent has not reaped it yet: the server is gone
    except (OSError, IndexError):
        pass  # no procfs: os.kill below decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of asking."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]
