"""HAProxy's runtime API over its admin socket: server weights and states, and `show stat`, without a reload.

Issue 9 shifts live traffic between pools with these weights, so every command is checked: a weight
outside 0..256 is refused before it is sent, names are HAProxy identifiers (the CLI splits commands on
`;`, so nothing else may reach it), and any answer but the empty one to a `set` is an error carrying
HAProxy's own words. One command per connection: in its non-interactive mode HAProxy answers one line
and closes, so a reply is complete at EOF.

A weight change applies to the next requests (measured: the first 100 ms window after it already had
the new split). Weights are relative: a server's share is its weight over the sum of its backend's.
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loadstack.haproxy.config import check_name, check_weight

ServerState = Literal["ready", "drain", "maint"]
SERVER_STATES: tuple[str, ...] = ("ready", "drain", "maint")
# `show stat`'s "type" column.
_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}
_READ_CHUNK = 65536


class RuntimeAPIError(RuntimeError):
    """HAProxy refused a runtime command, or answered something this client cannot read."""


@dataclass(frozen=True)
class StatRow:
    """One line of `show stat`: a frontend, backend, server or listener and its counters (raw text).

    The typed properties are those a traffic shift reads; `number(field)` reads any other column
    (names as in HAProxy's management guide, section 9.1).
    """

    proxy: str
    name: str
    kind: str
    fields: Mapping[str, str]

    def number(self, field: str) -> int | None:
        """An integer column, or None when HAProxy leaves it empty for this kind of row."""
        text = self.fields.get(field, "")
        return int(text) if text.strip().lstrip("-").isdigit() else None

    @property
    def status(self) -> str:
        """UP, DOWN, DRAIN, MAINT, NOLB, "UP 1/2" (going down), OPEN (frontends), ..."""
        return self.fields.get("status", "")

    @property
    def is_up(self) -> bool:
        """Passing its health checks and taking new traffic (UP, or UP while a check is in progress)."""
        return self.status.split(" ")[0] == "UP"

    @property
    def weight(self) -> int | None:
        """The server's weight; drain and maint keep it (`status` tells whether the server takes traffic)."""
        return self.number("weight")

    @property
    def sessions_total(self) -> int:
        """Connections (sessions) this row handled since start (`stot`)."""
        return self.number("stot") or 0

    @property
    def selected_total(self) -> int:
        """Times the balancer chose this server (`lbtot`): the count a weight split shows in."""
        return self.number("lbtot") or 0

    @property
    def responses(self) -> dict[str, int]:
        """HTTP responses by class: {"1xx": n, ..., "5xx": n, "other": n}."""
        return {key: self.number(f"hrsp_{key}") or 0 for key in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")}

    @property
    def check(self) -> str:
        """The last health check's result and what it saw, e.g. "L7STS 503" or "L4CON Connection refused"."""
        parts = (
            self.fields.get("check_status", ""),
            self.fields.get("check_code", ""),
            self.fields.get("last_chk", ""),
        )
        return " ".join(p for p in parts if p)


def parse_stat(text: str) -> list[StatRow]:
    """`show stat`'s CSV: a "# " header naming the columns, one row per proxy, server and listener."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise RuntimeAPIError(f"show stat did not answer CSV with a '# ' header: {text[:200]!r}")
    reader = csv.reader(io.StringIO("\n".join(lines)[2:]))
    header = next(reader)
    rows = []
    for values in reader:
        if not values or not any(values):
            continue
        fields = {key: value for key, value in zip(header, values) if key}  # the header ends with a ","
        rows.append(StatRow(fields["pxname"], fields["svname"], _KINDS.get(fields.get("type", ""), "unknown"), fields))
    return rows


def parse_weight(text: str) -> int:
    """`get weight`'s answer, "<current> (initial <initial>)", as the current weight."""
    first = text.strip().split(" ", 1)[0]
    if not first.isdigit():
        raise RuntimeAPIError(f"get weight answered {text.strip()!r}")
    return int(first)


class HAProxyRuntime:
    """A client of one HAProxy's admin socket (`stats socket ... level admin`)."""

    def __init__(self, socket_path: Path | str, *, timeout: float = 5.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HAProxyRuntime({str(self.socket_path)!r})"

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's whole answer; OSError when the socket does not answer."""
        if "\n" in line or ";" in line:
            raise ValueError(f"one runtime command at a time, without newline or ';': {line!r}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(_READ_CHUNK):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _set(self, line: str) -> None:
        answer = self.command(line).strip()
        if answer:
            raise RuntimeAPIError(f"haproxy ({self.socket_path}) refused {line!r}: {answer}")

    # --- reading ----------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        """`show info`: "Name: value" lines (Pid, Uptime_sec, CurrConns, ...)."""
        answer = self.command("show info")
        info = dict(line.split(": ", 1) for line in answer.splitlines() if ": " in line)
        if "Pid" not in info:
            raise RuntimeAPIError(f"show info answered no Pid: {answer[:200]!r}")
        return info

    def show_stat(self) -> list[StatRow]:
        return parse_stat(self.command("show stat"))

    def servers(self, backend: str | None = None) -> list[StatRow]:
        """The server rows, of one backend or of all."""
        return [r for r in self.show_stat() if r.kind == "server" and backend in (None, r.proxy)]

    def server(self, backend: str, server: str) -> StatRow:
        for row in self.servers(backend):
            if row.name == server:
                return row
        raise RuntimeAPIError(f"haproxy ({self.socket_path}) has no server {backend}/{server}")

    def get_weight(self, backend: str, server: str) -> int:
        """The server's current (user-set) weight."""
        line = f"get weight {check_name(backend, 'backend')}/{check_name(server, 'server')}"
        answer = self.command(line)
        try:
            return parse_weight(answer)
        except RuntimeAPIError:
            raise RuntimeAPIError(f"haproxy ({self.socket_path}) refused {line!r}: {answer.strip()}") from None

    # --- changing ---------------------------------------------------------------------------
    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set the server's weight (0..256, absolute); applies to the next requests."""
        check_weight(weight)
        self._set(f"set weight {check_name(backend, 'backend')}/{check_name(server, 'server')} {weight}")

    def set_state(self, backend: str, server: str, state: ServerState) -> None:
        """ready: takes traffic; drain: finishes its sessions, gets no new ones; maint: out entirely."""
        if state not in SERVER_STATES:
            raise ValueError(f"server state {state!r} is not one of {', '.join(SERVER_STATES)}")
        self._set(f"set server {check_name(backend, 'backend')}/{check_name(server, 'server')} state {state}")

    def set_weights(self, backend: str, weights: Mapping[str, int]) -> None:
        """Set several servers' weights, all checked before the first is sent (a shift is never half-refused
        for a bad value)."""
        for server, weight in weights.items():
            check_name(server, "server")
            check_weight(weight, f"weight of {server}")
        for server, weight in weights.items():
            self.set_weight(backend, server, weight)
