"""open_rig with the Locust driver and the AWS clients replaced: which driver and source each step's settings
make (Locust, the HAProxy / ALB / Route 53 shifts; Prometheus, Locust's counters, CloudWatch), settings that
cannot make a rig (named, and nothing left running), and RampRig.close stopping both."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from loadstack import ramp_rig
from loadstack.locust.cluster import TooFewWorkers
from loadstack.locust.driver import LocustDriver
from loadstack.metrics.cloudwatch import CloudWatchSource
from loadstack.metrics.locust import MIN_WINDOW_S, LocustSource
from loadstack.metrics.prometheus import PrometheusSource, PrometheusSourceError
from loadstack.ramp.samples import MetricSource
from loadstack.ramp_rig import RampRig, RampRigError, open_rig
from loadstack.shift.alb import AlbShiftDriver
from loadstack.shift.haproxy import HAProxyShiftDriver
from loadstack.shift.route53 import Route53ShiftDriver

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
    # A standing master serves every stack: the ramp names its app and the workers it needs.
    driver.cls.attach.assert_called_once_with("http://127.0.0.1:8089", target_url=TARGET, workers=3)
    driver.cls.start.assert_not_called()
    assert made.driver is driver


def test_a_standing_master_with_too_few_workers_names_load_workers_and_closes_the_source(project, driver, monkeypatch):
    closed = []
    monkeypatch.setattr(PrometheusSource, "close", lambda self: closed.append(self))
    driver.cls.attach.side_effect = TooFewWorkers("http://127.0.0.1:8089", connected=1, wanted=3)
    with pytest.raises(RampRigError, match=r"load.workers 3: .* has only 1 worker\(s\) connected; start more"):
        rig(project, load={**LOAD, "master_url": "http://127.0.0.1:8089"})
    assert len(closed) == 1


def _profile_with_master(monkeypatch, runs: str | None):
    from loadstack.profiles import load_profile

    monkeypatch.setattr(ramp_rig.master_api, "rate_state", lambda url, **_: {"locustfile": runs} if runs else {})
    return load_profile({"LOADSTACK_LOCUST_MASTER_URL": "http://127.0.0.1:8099/"})


def test_the_profiles_standing_master_serves_a_step_that_names_none(project, driver, monkeypatch):
    made = rig(project, profile=_profile_with_master(monkeypatch, "shop.py"))
    driver.cls.attach.assert_called_once_with("http://127.0.0.1:8099", target_url=TARGET, workers=3)
    driver.cls.start.assert_not_called()
    assert made.driver is driver
    # The step's own master_url wins over the profile's.
    rig(project, load={**LOAD, "master_url": "http://127.0.0.1:8089"}, profile=_profile_with_master(monkeypatch, None))
    assert driver.cls.attach.call_args.args == ("http://127.0.0.1:8089",)


def test_a_step_whose_locustfile_the_profiles_master_does_not_run_is_refused(project, driver, monkeypatch):
    with pytest.raises(RampRigError, match=r"load.locustfile include/locust/shop.py: the profile's Locust master "
                                           r"\(LOADSTACK_LOCUST_MASTER_URL http://127.0.0.1:8099\) runs other.py"):
        rig(project, profile=_profile_with_master(monkeypatch, "other.py"))
    driver.cls.attach.assert_not_called()


def test_too_few_workers_at_the_profiles_master_names_the_variable(project, driver, monkeypatch):
    driver.cls.attach.side_effect = TooFewWorkers("http://127.0.0.1:8099", connected=1, wanted=3)
    with pytest.raises(RampRigError, match=r"load.workers 3: the Locust master at LOADSTACK_LOCUST_MASTER_URL"):
        rig(project, profile=_profile_with_master(monkeypatch, "shop.py"))


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


# --- live traffic shifts and CloudWatch: the clients come from the profile --------------------------
HAPROXY = {
    "driver": "haproxy_shift",
    "live_qps": 60.0,
    "admin_socket": "/run/lb/admin.sock",
    "backend": "app",
    "production_servers": ["shop-app-prod-0", "shop-app-prod-1"],
    "stack_servers": ["shop-app-0"],
}
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
PRODUCTION_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod/73e2d6bc24d8a067"
STACK_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/stack/83e2d6bc24d8a067"
ALB = {
    "driver": "alb_shift", "live_qps": 900, "listener_arn": LISTENER, "production_target_group_arn": PRODUCTION_TG,
    "stack_target_group_arn": STACK_TG, "settle_s": 4.0,
}
ROUTE53 = {
    "driver": "route53_shift", "live_qps": "255", "hosted_zone_id": "Z0123456789", "record_name": "shop.example.com",
    "record_type": "A", "production_set_identifier": "prod", "stack_set_identifier": "stack", "propagation_s": 30.0,
    "alias_ttl_s": None,
}
CLOUDWATCH = {
    "source": "cloudwatch", "load_balancer": "app/shop/50dc6c495c0c9188", "target_group": STACK_TG, "period_s": 10,
    "publish_lag_s": 30.0, "percentiles": False,
}


@pytest.fixture
def profile():
    """A profile whose boto3 clients are mocks, one per service, in us-east-1."""
    clients: dict[str, mock.Mock] = {}

    def client(service, **kwargs):
        made = clients.setdefault(service, mock.Mock(name=service))
        made.meta.region_name = "us-east-1"
        return made

    made = mock.Mock(spec=["client"])
    made.client.side_effect = client
    made.clients = clients
    return made


def test_a_haproxy_shift_drives_the_apps_pools_through_its_admin_socket_and_starts_no_locust(project, driver):
    made = rig(project, load=HAPROXY, metrics={**PROMETHEUS, "labels": {"pool": "stack"}})
    assert isinstance(made.driver, HAProxyShiftDriver) and str(made.driver.runtime.socket_path) == "/run/lb/admin.sock"
    assert made.driver.backend == "app" and made.driver.live_qps == 60.0
    assert made.driver.production_servers == ("shop-app-prod-0", "shop-app-prod-1")
    assert made.driver.stack_servers == ("shop-app-0",)
    assert 'pool="stack"' in made.source.queries.qps and 'up{pool="stack"}' in made.source.queries.qps
    driver.cls.start.assert_not_called()


def test_aws_shifts_and_cloudwatch_take_their_clients_from_the_profile(project, driver, profile):
    made = rig(project, load=ALB, metrics=CLOUDWATCH, profile=profile)
    assert isinstance(made.driver, AlbShiftDriver) and made.driver.elbv2 is profile.clients["elbv2"]
    assert made.driver.settle_s == 4.0 and made.driver.live_qps == 900
    assert isinstance(made.source, CloudWatchSource) and made.source.lag_s == 2 * 10 + 30
    assert made.source.target_group == "targetgroup/stack/83e2d6bc24d8a067" and made.source.percentile_fallback
    made = rig(project, load=ROUTE53, metrics=PROMETHEUS, profile=profile)
    assert isinstance(made.driver, Route53ShiftDriver) and made.driver.route53 is profile.clients["route53"]
    assert made.driver.live_qps == 255.0 and made.driver.propagation_s == 30.0 and made.driver.record_type == "A"
    driver.cls.start.assert_not_called()


def test_aws_settings_without_a_profile_are_named(project, driver):
    with pytest.raises(RampRigError, match="load.driver alb_shift needs AWS clients, and open_rig was given no profile"):
        rig(project, load=ALB)
    with pytest.raises(RampRigError, match="metrics.source cloudwatch needs AWS clients"):
        rig(project, metrics=CLOUDWATCH)


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ({**HAPROXY, "live_qps": "${steps.app.outputs.live_qps}"}, r"load.live_qps '\$\{steps.app.outputs.live_qps\}' is not a rate > 0"),
        ({**HAPROXY, "live_qps": 0}, "load.live_qps 0 is not a rate > 0"),
        ({**HAPROXY, "admin_socket": ""}, "load.admin_socket '' is not HAProxy's admin socket path"),
        ({**HAPROXY, "stack_servers": "shop-app-0"}, "load.stack_servers 'shop-app-0' is not a list of HAProxy server names"),
        ({**HAPROXY, "stack_servers": ["shop-app-prod-0"]}, r"load \(haproxy_shift\): HAProxy backend app: server\(s\) shop-app-prod-0 are in both pools"),
        ({**ALB, "listener_arn": "listener"}, r"load \(alb_shift\): ALB shift: listener_arn 'listener' is not an ARN"),
    ],
)
def test_shift_settings_that_cannot_make_a_driver_are_named_and_close_the_source(project, driver, profile, load, message, monkeypatch):
    closed = []
    monkeypatch.setattr(PrometheusSource, "close", lambda self: closed.append(self))
    with pytest.raises(RampRigError, match=message):
        rig(project, load=load, profile=profile)
    assert len(closed) == 1
    driver.cls.start.assert_not_called()


def test_locust_counters_cannot_measure_a_shift(project, driver):
    with pytest.raises(RampRigError, match="metrics.source locust reads the ramp's own Locust, and load.driver haproxy_shift starts none"):
        rig(project, load=HAPROXY, metrics={"source": "locust"})
    driver.cls.start.assert_not_called()


def test_a_cloudwatch_setting_it_refuses_is_named_and_its_client_closed(project, driver, profile):
    with pytest.raises(RampRigError, match=r"metrics \(cloudwatch\): period_s 45 is not a CloudWatch period"):
        rig(project, load=ALB, metrics={**CLOUDWATCH, "period_s": 45}, profile=profile)
    profile.clients["cloudwatch"].close.assert_called_once_with()
