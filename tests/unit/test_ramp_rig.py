"""open_rig with the Locust driver replaced: which driver and source each step's settings make, settings
that cannot make a rig (named, and nothing left running), and RampRig.close stopping both."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from loadstack import ramp_rig
from loadstack.locust.driver import LocustDriver
from loadstack.metrics.locust import MIN_WINDOW_S, LocustSource
from loadstack.metrics.prometheus import PrometheusSource, PrometheusSourceError
from loadstack.ramp.samples import MetricSource
from loadstack.ramp_rig import RampRig, RampRigError, open_rig

TARGET = "http://127.0.0.1:8123"
LOAD = {"driver": "locust", "locustfile": "include/locust/shop.py", "workers": 3, "master_url": ""}
PROMETHEUS = {"source": "prometheus", "url": "http://127.0.0.1:9123/", "window_s": 6, "scrape_interval_s": 2}


@pytest.fixture
def driver(monkeypatch):
    """LocustDriver.start / attach replaced: the driver they return (url of the master's web UI)."""
    started = mock.create_autospec(LocustDriver, instance=True)
    started.url = "http://127.0.0.1:8089"
    fake = mock.Mock(spec=LocustDriver)
    fake.start.return_value = started
    fake.attach.return_value = started
    monkeypatch.setattr(ramp_rig, "LocustDriver", fake)
    started.cls = fake
    return started


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "include" / "locust").mkdir(parents=True)
    (tmp_path / "include" / "locust" / "shop.py").write_text("# a locustfile\n")
    return tmp_path


def rig(project: Path, **kwargs) -> RampRig:
    args = {
        "run_dir": project / "run",
        "project_root": project,
        "target_url": TARGET,
        "load": LOAD,
        "metrics": PROMETHEUS,
        **kwargs,
    }
    return open_rig(**args)


def test_starts_locust_with_its_workers_and_reads_prometheus(project, driver):
    made = rig(project)
    driver.cls.start.assert_called_once_with(
        run_dir=project / "run", target_url=TARGET, workers=3, locustfile=project / "include" / "locust" / "shop.py"
    )
    assert made.driver is driver and isinstance(made.source, PrometheusSource)
    assert made.source.url == "http://127.0.0.1:9123" and made.source.scrape_interval_s == 2
    assert made.source.queries.window_s == 6 and made.source.lag_s == 8


def test_locust_counters_read_the_masters_own_stats_over_at_least_its_minimum_window(project, driver):
    made = rig(project, metrics={"source": "locust", "window_s": 4})
    assert isinstance(made.source, LocustSource)
    assert made.source.url == driver.url and made.source.window_s == MIN_WINDOW_S
    assert rig(project, metrics={"source": "locust", "window_s": 30}).source.window_s == 30


def test_an_existing_master_is_attached_and_no_locustfile_is_needed(project, driver):
    made = rig(project, load={**LOAD, "locustfile": "missing.py", "master_url": "http://127.0.0.1:8089"})
    driver.cls.attach.assert_called_once_with("http://127.0.0.1:8089")
    driver.cls.start.assert_not_called()
    assert made.driver is driver


@pytest.mark.parametrize("target", ["${steps.app.outputs.url}", "127.0.0.1:8123", ""])
def test_a_target_that_is_not_a_url_starts_nothing(project, driver, target):
    with pytest.raises(
        RampRigError, match=r"target_url .* is not an http\(s\) URL: give e.g. \$\{steps.app.outputs.url\}"
    ):
        rig(project, target_url=target)
    driver.cls.start.assert_not_called()


def test_a_missing_locustfile_is_named_with_its_full_path(project, driver):
    expected = f"load.locustfile: no file {project}/include/locust/nope.py; give a path relative to {project}"
    with pytest.raises(RampRigError, match=re.escape(expected)):
        rig(project, load={**LOAD, "locustfile": "include/locust/nope.py"})
    driver.cls.start.assert_not_called()


@pytest.mark.parametrize("url", ["", "${steps.app.outputs.prometheus_url}", "127.0.0.1:9090"])
def test_a_bad_prometheus_url_starts_no_load_generator(project, driver, url):
    with pytest.raises(RampRigError, match="metrics.url .* is not a Prometheus URL"):
        rig(project, metrics={**PROMETHEUS, "url": url})
    driver.cls.start.assert_not_called()


def test_a_source_that_refuses_its_settings_starts_no_load_generator_either(project, driver):
    with pytest.raises(PrometheusSourceError, match="fewer than two scrapes"):
        rig(project, metrics={**PROMETHEUS, "window_s": 2, "scrape_interval_s": 2})
    driver.cls.start.assert_not_called()


def test_a_locust_that_cannot_start_closes_the_source_it_opened(project, driver, monkeypatch):
    closed = []
    monkeypatch.setattr(PrometheusSource, "close", lambda self: closed.append(self))
    driver.cls.start.side_effect = RuntimeError("no locust binary")
    with pytest.raises(RuntimeError, match="no locust binary"):
        rig(project)
    assert len(closed) == 1


def test_close_stops_the_driver_then_the_source_even_when_the_driver_fails(driver):
    source = mock.create_autospec(MetricSource, instance=True)
    calls = mock.Mock()
    driver.close.side_effect = lambda: calls.driver()
    source.close.side_effect = lambda: calls.source()
    RampRig(driver=driver, source=source).close()
    assert [c[0] for c in calls.mock_calls] == ["driver", "source"]

    driver.close.side_effect = RuntimeError("locust master gone")
    with pytest.raises(RuntimeError, match="locust master gone"):
        RampRig(driver=driver, source=source).close()
    assert source.close.call_count == 2
