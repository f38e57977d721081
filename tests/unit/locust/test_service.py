"""The standing cluster's command line, without running Locust (tests/integration/locust runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadstack.locust.cluster import Ports
from loadstack.locust.service import main, parser, ports_of


def test_up_defaults_to_two_workers_in_the_given_dir():
    args = parser().parse_args(["up", "--dir", "/tmp/locust"])
    assert (args.command, args.dir, args.workers, args.web_port, args.master_port) == (
        "up",
        Path("/tmp/locust"),
        2,
        None,
        None,
    )


@pytest.mark.parametrize("argv", [["up"], ["up", "--dir", "d", "--workers", "0"], ["worker", "--dir", "d"], ["nope"]])
def test_bad_command_lines_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        parser().parse_args(argv)
    assert caught.value.code == 2


def test_ports_are_both_given_or_both_picked():
    assert ports_of(None, None) is None
    assert ports_of(8601, 5601) == Ports(master=5601, web=8601)
    with pytest.raises(ValueError, match="both --web-port and --master-port"):
        ports_of(8601, None)
    with pytest.raises(ValueError, match="must differ"):
        ports_of(8601, 8601)


def test_one_port_alone_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["up", "--dir", str(tmp_path), "--web-port", "8601"])
    assert caught.value.code == 2 and "--master-port" in capsys.readouterr().err
    assert not (tmp_path / "master.pid").exists()


def test_status_and_down_of_a_dir_where_nothing_runs(tmp_path, capsys):
    assert main(["status", "--dir", str(tmp_path)]) == 1
    assert "url" not in json.loads(capsys.readouterr().out)
    assert main(["down", "--dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"stopped": []}


def test_a_worker_with_a_missing_locustfile_is_refused_before_it_starts(tmp_path, capsys):
    argv = ["worker", "--dir", str(tmp_path), "--master-host", "10.0.3.7", "--master-port", "5601"]
    assert main([*argv, "--locustfile", str(tmp_path / "nope.py")]) == 1
    assert "nope.py does not exist" in capsys.readouterr().err
    assert not (tmp_path / "worker-0.pid").exists()
