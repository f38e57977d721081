"""LocustCluster's command lines and files, without running Locust."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.locust import master_api
from loadstack.locust.cluster import (
    DEFAULT_LOCUSTFILE,
    AttachedMaster,
    LocustCluster,
    LocustClusterError,
    Ports,
    TooFewWorkers,
    master_argv,
    worker_argv,
)


def _option(argv, name):
    return argv[argv.index(name) + 1]


def test_master_argv_binds_loopback_keeps_the_web_ui_and_logs_in_the_run_dir(tmp_path):
    argv = master_argv(
        locust_bin="/venv/bin/locust",
        locustfile=Path("/p/shop.py"),
        target_url="http://127.0.0.1:8000",
        master_port=5601,
        web_port=8601,
        logfile=tmp_path / "master.log",
        user_max_qps=3,
    )
    assert argv[0] == "/venv/bin/locust" and _option(argv, "-f") == "/p/shop.py"
    assert "--master" in argv
    assert _option(argv, "--master-bind-host") == "127.0.0.1" and _option(argv, "--master-bind-port") == "5601"
    assert _option(argv, "--web-host") == "127.0.0.1" and _option(argv, "--web-port") == "8601"
    assert _option(argv, "--host") == "http://127.0.0.1:8000"
    assert _option(argv, "--user-max-qps") == "3.0"
    assert _option(argv, "--logfile") == str(tmp_path / "master.log")
    # the routes live in the web UI: no --headless; the first rate starts the shape: no --autostart
    assert "--headless" not in argv and "--autostart" not in argv
    assert "--loadstack-quit-on-lease-expiry" not in argv  # only a ramp's own master quits on its lease


def test_a_ramps_own_master_quits_when_its_rate_lease_runs_out(tmp_path):
    argv = master_argv(
        locust_bin="locust",
        locustfile=Path("/p/shop.py"),
        target_url="http://127.0.0.1:8000",
        master_port=5601,
        web_port=8601,
        logfile=tmp_path / "master.log",
        quit_on_lease_expiry=True,
    )
    assert "--loadstack-quit-on-lease-expiry" in argv


def test_worker_argv_dials_the_master_on_loopback(tmp_path):
    argv = worker_argv(
        locust_bin="locust", locustfile=Path("/p/shop.py"), master_port=5601, logfile=tmp_path / "worker-0.log"
    )
    assert "--worker" in argv and "--master" not in argv
    assert _option(argv, "--master-host") == "127.0.0.1" and _option(argv, "--master-port") == "5601"
    assert _option(argv, "--logfile") == str(tmp_path / "worker-0.log")
    assert "--web-port" not in argv


def test_default_locustfile_is_the_projects():
    assert DEFAULT_LOCUSTFILE.is_file() and DEFAULT_LOCUSTFILE.parts[-3:] == ("include", "locust", "shop.py")


def test_processes_have_pid_files_logs_and_markers_in_the_run_dir(tmp_path):
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", workers=2, locust_bin="/v/locust")
    master, *workers = cluster.processes()
    assert master.pid_path == tmp_path / "master.pid" and master.output_path == tmp_path / "master.out"
    assert master.marker_arg == str(tmp_path / "master.log")
    assert [w.pid_path.name for w in workers] == ["worker-0.pid", "worker-1.pid"]
    assert {w.marker_arg for w in workers} == {str(tmp_path / "worker-0.log"), str(tmp_path / "worker-1.log")}
    assert master.executable == "/v/locust"


def test_processes_include_workers_a_previous_start_left_pid_files_for(tmp_path):
    (tmp_path / "worker-4.pid").write_text("999999\n")
    (tmp_path / "worker-x.pid").write_text("1\n")
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", workers=1)
    assert [p.pid_path.name for p in cluster.processes()] == ["master.pid", "worker-0.pid", "worker-4.pid"]


def test_stop_of_nothing_running_stops_nothing_and_clears_stale_pid_files(tmp_path):
    (tmp_path / "master.pid").write_text("999999999\n")
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", workers=1)
    assert cluster.stop() == []
    assert not (tmp_path / "master.pid").exists()


def test_url_needs_a_start_or_ports(tmp_path):
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1")
    with pytest.raises(LocustClusterError, match="start"):
        _ = cluster.url
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", ports=Ports(master=5601, web=8601))
    assert cluster.url == "http://127.0.0.1:8601"


def test_start_refuses_a_missing_locustfile(tmp_path):
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", locustfile=tmp_path / "nope.py")
    with pytest.raises(LocustClusterError, match="nope.py does not exist"):
        cluster.start()


def test_at_least_one_worker(tmp_path):
    with pytest.raises(ValueError, match="workers >= 1"):
        LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1", workers=0)


def test_attached_master_owns_nothing():
    master = LocustCluster.attach("http://127.0.0.1:8089/")
    assert isinstance(master, AttachedMaster)
    assert not master.owned and master.url == "http://127.0.0.1:8089"
    assert master.start() == "http://127.0.0.1:8089"
    assert master.stop() == []


def test_recorded_ports_are_read_back_or_named_when_missing(tmp_path):
    cluster = LocustCluster(run_dir=tmp_path, target_url="http://127.0.0.1:1")
    with pytest.raises(LocustClusterError, match="ports.json: cannot read"):
        cluster.recorded_ports()
    cluster.ports_path.write_text('{"master": 5601, "web": 8601}\n')
    assert cluster.recorded_ports() == Ports(master=5601, web=8601)


def test_a_standing_master_has_no_target_until_a_ramp_sets_one(tmp_path):
    argv = master_argv(
        locust_bin="locust",
        locustfile=Path("/p/shop.py"),
        target_url=None,
        master_port=5601,
        web_port=8601,
        logfile=tmp_path / "master.log",
    )
    assert "--host" not in argv and "--master" in argv


def test_a_worker_on_another_host_dials_the_masters_address(tmp_path):
    argv = worker_argv(
        locust_bin="locust",
        locustfile=Path("/p/shop.py"),
        master_port=5601,
        master_host="10.0.3.7",
        logfile=tmp_path / "worker-0.log",
    )
    assert _option(argv, "--master-host") == "10.0.3.7" and _option(argv, "--master-port") == "5601"


def test_attached_master_with_fewer_workers_than_wanted_names_both_counts(monkeypatch):
    monkeypatch.setattr(master_api, "rate_state", lambda url, timeout=10: {"workers": 1})
    master = LocustCluster.attach("http://127.0.0.1:8089", workers=2)
    with pytest.raises(TooFewWorkers, match="1 worker\\(s\\) connected, 2 wanted") as caught:
        master.wait_ready()
    assert (caught.value.connected, caught.value.wanted) == (1, 2)
    monkeypatch.setattr(master_api, "rate_state", lambda url, timeout=10: {"workers": 2})
    assert master.wait_ready() == 0.0
