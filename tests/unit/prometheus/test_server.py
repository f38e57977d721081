"""loadstack.prometheus.server without a process: its files, its command line marker, what it needs to start."""

from __future__ import annotations

import pytest

from loadstack.prometheus.config import ScrapeJob, ScrapeTarget
from loadstack.prometheus.server import PrometheusError, PrometheusServer


def test_its_files_live_in_its_directory(tmp_path):
    server = PrometheusServer(tmp_path, 9090)
    assert (server.config_path, server.pid_path, server.data_dir) == (
        tmp_path / "prometheus.yml",
        tmp_path / "prometheus.pid",
        tmp_path / "data",
    )
    assert server.process.marker_arg == f"--config.file={tmp_path / 'prometheus.yml'}"
    assert server.url == "http://127.0.0.1:9090"


def test_starting_needs_a_port_and_jobs(tmp_path):
    with pytest.raises(PrometheusError, match="no port"):
        PrometheusServer(tmp_path, jobs=[ScrapeJob("a", (ScrapeTarget("h:1"),))]).start()
    with pytest.raises(PrometheusError, match="no scrape jobs"):
        PrometheusServer(tmp_path, 9090).start()


def test_stopping_nothing_running_is_false(tmp_path):
    assert PrometheusServer(tmp_path).stop() is False
