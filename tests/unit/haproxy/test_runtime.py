"""loadstack.haproxy.runtime: show stat parsing, weights, and how answers become errors (fake socket)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from loadstack.haproxy.config import HAProxyConfigError
from loadstack.haproxy.runtime import HAProxyRuntime, RuntimeAPIError, parse_stat, parse_weight

# Trimmed from a real haproxy 2.6 `show stat` (the real header is ~100 columns and ends with ",").
SHOW_STAT = """\
# pxname,svname,qcur,scur,stot,status,weight,type,lbtot,check_status,check_code,hrsp_2xx,hrsp_5xx,last_chk,req_tot,
app,FRONTEND,,0,12,OPEN,,0,,,,12,0,,12,
app,a,0,0,7,UP,100,2,7,L7OK,200,7,0,,,
app,b,0,0,5,DOWN,30,2,5,L7STS,503,4,1,Service Unavailable,,
app,BACKEND,0,0,12,UP,100,1,12,,,11,1,,12,
prometheus,FRONTEND,,1,3,OPEN,,0,,,,3,0,,3,
"""


def test_show_stat_rows_by_kind_with_typed_counters():
    rows = parse_stat(SHOW_STAT)
    assert [(r.proxy, r.name, r.kind) for r in rows] == [
        ("app", "FRONTEND", "frontend"),
        ("app", "a", "server"),
        ("app", "b", "server"),
        ("app", "BACKEND", "backend"),
        ("prometheus", "FRONTEND", "frontend"),
    ]
    a, b = rows[1], rows[2]
    assert (a.status, a.is_up, a.weight, a.sessions_total, a.selected_total) == ("UP", True, 100, 7, 7)
    assert (b.is_up, b.weight, b.responses["2xx"], b.responses["5xx"]) == (False, 30, 4, 1)
    assert b.check == "L7STS 503 Service Unavailable"
    assert rows[0].weight is None and rows[0].number("req_tot") == 12
    assert "" not in a.fields


def test_a_server_going_down_still_counts_as_up():
    row = parse_stat(SHOW_STAT.replace(",UP,100,2,", ",UP 1/2,100,2,"))[1]
    assert row.is_up and row.status == "UP 1/2"


def test_an_answer_that_is_not_csv_is_an_error():
    with pytest.raises(RuntimeAPIError, match="Permission denied"):
        parse_stat("Permission denied\n")


def test_get_weight_reads_the_current_weight():
    assert parse_weight("30 (initial 100)\n") == 30
    with pytest.raises(RuntimeAPIError, match="No such server"):
        parse_weight("No such server.\n")


class FakeSocket:
    """A unix socket answering each connection's one command from `answers`, recording what it got."""

    def __init__(self, path: Path, answers: dict[str, str]) -> None:
        self.path, self.answers, self.received = path, answers, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile("rb").readline().decode().rstrip("\n")
                self.received.append(line)
                conn.sendall(self.answers.get(line, "Unknown command.\n").encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path):
    server = FakeSocket(
        tmp_path / "admin.sock",
        {
            "set weight app/a 40": "\n",
            "set weight app/b 40": "\n",
            "set weight app/a 0": "\n",
            "get weight app/a": "40 (initial 100)\n",
            "get weight app/zz": "No such server.\n",
            "set server app/a state drain": "\n",
            "set weight app/zz 1": "No such server.\n",
            "show stat": SHOW_STAT,
            "show info": "Name: HAProxy\nPid: 4242\nUptime_sec: 3\n",
        },
    )
    yield server
    server.close()


def test_set_weight_sends_one_checked_command(fake):
    api = HAProxyRuntime(fake.path)
    api.set_weight("app", "a", 40)
    api.set_weight("app", "a", 0)
    assert api.get_weight("app", "a") == 40
    assert fake.received == ["set weight app/a 40", "set weight app/a 0", "get weight app/a"]


def test_a_refused_command_is_an_error_with_haproxys_words(fake):
    api = HAProxyRuntime(fake.path)
    with pytest.raises(RuntimeAPIError, match=r"refused 'set weight app/zz 1': No such server"):
        api.set_weight("app", "zz", 1)
    with pytest.raises(RuntimeAPIError, match=r"refused 'get weight app/zz': No such server"):
        api.get_weight("app", "zz")


def test_set_weights_checks_every_value_before_sending_any(fake):
    api = HAProxyRuntime(fake.path)
    with pytest.raises(HAProxyConfigError, match="weight of b 300"):
        api.set_weights("app", {"a": 40, "b": 300})
    assert fake.received == []
    api.set_weights("app", {"a": 40, "b": 40})
    assert fake.received == ["set weight app/a 40", "set weight app/b 40"]


def test_states_names_and_reading(fake):
    api = HAProxyRuntime(fake.path)
    api.set_state("app", "a", "drain")
    with pytest.raises(ValueError, match="'off'"):
        api.set_state("app", "a", "off")
    with pytest.raises(ValueError, match="one runtime command"):
        api.command("show info; shutdown")
    assert api.info()["Pid"] == "4242"
    assert [r.name for r in api.servers("app")] == ["a", "b"] and api.servers("other") == []
    assert api.server("app", "b").weight == 30
    assert fake.received == ["set server app/a state drain", "show info", "show stat", "show stat", "show stat"]


def test_a_socket_nobody_listens_on_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        HAProxyRuntime(tmp_path / "nobody.sock", timeout=0.5).info()
