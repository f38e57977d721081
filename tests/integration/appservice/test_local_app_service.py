"""LocalAppService with the real app: N `python -m shopapp` processes behind a real HAProxy, scraped by a
real Prometheus, over a seeded MariaDB and a restored Redis; reused, repaired, replaced, torn down by PID."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import httpx
import pytest

from loadstack.appservice.base import AppServiceError
from loadstack.appservice.local import LocalAppService
from loadstack.haproxy.runtime import HAProxyRuntime
from loadstack.metrics.prometheus import PrometheusQueries, PrometheusSource
from loadstack.profiles import load_profile
from loadstack.server_record import ForeignServerError
from loadstack.supervisor import pid_alive

pytestmark = pytest.mark.integration

RATE = 20  # requests a second through HAProxy: enough to see, little for 2 shared cores


@pytest.fixture
def service(local_profile, app_config):
    deployed = LocalAppService(local_profile, app_config.stack, app_config.step)
    try:
        yield deployed
    finally:
        deployed.teardown()


def _pids(service: LocalAppService) -> dict[str, int]:
    """Every process of the deployment by its PID file."""
    return {p.stem: int(p.read_text()) for p in service.base_dir.rglob("*.pid")}


def _send(url: str, paths: list[str], seconds: float) -> int:
    """GET `paths` in turn at RATE a second for `seconds`; the count sent."""
    sent = 0
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() - started < seconds:
            client.get(paths[sent % len(paths)])
            sent += 1
            time.sleep(max(0.0, sent / RATE - (time.monotonic() - started)))
    return sent


def test_deploy_serves_through_haproxy_and_prometheus_sees_the_traffic(service, app_config):
    outputs = service.deploy(app_config)
    names = [f"{app_config.stack}-app-0", f"{app_config.stack}-app-1"]
    assert outputs["instances"] == 2 and outputs["instance_names"] == names
    assert outputs["url"].startswith("http://127.0.0.1:") and outputs["health_url"] == outputs["url"] + "/health"
    assert all(isinstance(v, (str, int, float, list)) for v in outputs.values())

    seen = {httpx.get(outputs["health_url"], timeout=5).json()["name"] for _ in range(4)}
    assert seen == set(names)  # round robin over both processes
    for url, name in zip(outputs["instance_urls"], names):
        assert httpx.get(f"{url}/health", timeout=5).json()["name"] == name

    keys = httpx.get(f"{outputs['url']}/loadgen/keys", params={"n": 20}, timeout=10).raise_for_status().json()
    paths = [f"/sessions/{sid}/cart" for sid in keys["sessions"]]
    source = PrometheusSource(
        url=outputs["prometheus_url"],
        queries=PrometheusQueries.for_app(4.0),
        scrape_interval_s=outputs["scrape_interval_s"],
    )
    try:
        sent = _send(outputs["url"], paths, source.lag_s + 1.5)
        sample = source.read(time.time())
    finally:
        source.close()
    assert sample is not None, source.last_error
    # The last window held only steady traffic: the rate Prometheus reports is the rate sent.
    assert sample.qps == pytest.approx(RATE, rel=0.25), (sample, sent)
    assert sample.error_ratio == 0 and sample.p50_ms is not None and sample.p99_ms >= sample.p50_ms

    servers = HAProxyRuntime(outputs["admin_socket"]).servers(outputs["haproxy_backend"])
    assert [s.name for s in servers] == names and all(s.is_up for s in servers)
    assert sum(s.responses["2xx"] + s.responses["4xx"] for s in servers) >= sent
    exporter = httpx.get(outputs["haproxy_exporter_url"], timeout=5).text
    assert f'haproxy_server_status{{proxy="app",server="{names[0]}",state="UP"}} 1' in exporter


def test_redeploy_reuses_repairs_a_dead_process_and_replaces_on_change(service, app_config):
    outputs = service.deploy(app_config)
    pids = _pids(service)
    assert len(pids) == 4  # two app processes, HAProxy, Prometheus
    assert service.deploy(app_config) == outputs and _pids(service) == pids  # identical: reused as is

    victim = f"{app_config.stack}-app-1"
    os.kill(pids[victim], signal.SIGKILL)  # started by this test's deploy
    deadline = time.monotonic() + 10
    while f"app process {victim}" not in service.dead() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(service.dead()) == [f"app process {victim}"]
    assert service.deploy(app_config) == outputs  # restarted on its port
    repaired = _pids(service)
    assert repaired[victim] != pids[victim] and {k: v for k, v in repaired.items() if k != victim} == {
        k: v for k, v in pids.items() if k != victim
    }
    assert service.dead() == {}

    changed = service.deploy(dataclasses.replace(app_config, instances=1, fault_latency_ms=5))
    assert changed["instances"] == 1 and changed["url"] != outputs["url"]
    assert not any(pid_alive(pid) for pid in repaired.values())
    assert httpx.get(changed["health_url"], timeout=5).status_code == 200


def test_make_down_stops_the_processes_and_the_next_deploy_brings_them_back_on_the_same_address(service, app_config):
    from loadstack.appservice.local import stop_deployment

    outputs = service.deploy(dataclasses.replace(app_config, instances=1))
    pids = _pids(service)
    assert stop_deployment(service.base_dir) == 3  # the app, HAProxy, Prometheus
    assert not any(pid_alive(pid) for pid in pids.values()) and service.records.load() is not None
    assert stop_deployment(service.base_dir) == 0
    assert service.deploy(dataclasses.replace(app_config, instances=1)) == outputs
    assert httpx.get(outputs["health_url"], timeout=5).status_code == 200


def test_teardown_stops_everything_by_pid_and_is_idempotent(service, app_config, local_profile):
    service.deploy(dataclasses.replace(app_config, instances=1))
    pids = _pids(service)
    # A new service object knows nothing but the step: the record and the PID files are enough.
    again = LocalAppService(local_profile, app_config.stack, app_config.step)
    assert again.teardown() is True
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not service.base_dir.exists() and service.records.load() is None
    assert again.teardown() is False


def test_only_the_home_that_deployed_can_tear_down_and_another_home_starts_nothing(service, app_config, local_env,
                                                                                  tmp_path):
    outputs = service.deploy(dataclasses.replace(app_config, instances=1))
    pids = _pids(service)
    other = LocalAppService(load_profile({**local_env, "LOADSTACK_HOME": str(tmp_path / "b")}), app_config.stack,
                            app_config.step)
    with pytest.raises(ForeignServerError, match=rf"{app_config.stack}/app: the app server is owned by "
                                                 rf"LOADSTACK_HOME={service.profile.home.resolve()} .*refusing to destroy"):
        other.teardown()
    with pytest.raises(ForeignServerError, match="refusing to deploy it here"):
        other.deploy(dataclasses.replace(app_config, instances=1))
    assert all(pid_alive(pid) for pid in pids.values()) and not other.base_dir.exists()
    assert httpx.get(outputs["health_url"], timeout=5).status_code == 200 and service.records.load() is not None
    assert service.teardown() is True
    assert not any(pid_alive(pid) for pid in pids.values()) and service.records.load() is None


def test_an_app_that_cannot_start_is_named_and_nothing_is_left_running(service, app_config):
    broken = dataclasses.replace(app_config, instances=1, db_secret_id=f"loadstack/{app_config.stack}/no-such-secret")
    with pytest.raises(
        AppServiceError, match=rf"(?s)app process {app_config.stack}-app-0 is not running.*no-such-secret"
    ):
        service.deploy(broken)
    assert not service.base_dir.exists() and service.records.load() is None


def test_a_config_for_another_step_is_refused(service, app_config):
    with pytest.raises(AppServiceError, match="backends.app"):
        service.deploy(dataclasses.replace(app_config, step="other"))


def test_live_traffic_flows_on_production_alone_and_make_down_stops_the_organic_users_too(service, app_config):
    from loadstack.appservice.local import stop_deployment

    live = dataclasses.replace(app_config, instances=1, production_instances=1, organic_qps=RATE)
    outputs = service.deploy(live)
    assert outputs["live_qps"] == RATE and outputs["stack_servers"] == [f"{app_config.stack}-app-0"]
    runtime = HAProxyRuntime(outputs["admin_socket"])
    [production], [stack] = outputs["production_servers"], outputs["stack_servers"]

    def chosen() -> dict[str, int]:
        return {row.name: row.selected_total for row in runtime.servers(outputs["haproxy_backend"])}

    def wait_for_traffic(before: dict[str, int]) -> dict[str, int]:
        deadline = time.monotonic() + 30
        while chosen()[production] < before.get(production, 0) + 2 * RATE:
            assert time.monotonic() < deadline, f"no organic traffic through HAProxy: {chosen()}"
            time.sleep(0.5)
        return chosen()

    # The organic users reach production only: the stack's server is up at weight 0.
    counts = wait_for_traffic({})
    assert counts[stack] == 0 and {r.name: r.weight for r in runtime.servers("app")} == {production: 256, stack: 0}
    pools = httpx.get(
        f"{outputs['prometheus_url']}/api/v1/query", params={"query": 'sum by (pool) (up{job="app"})'}, timeout=5
    ).json()["data"]["result"]
    assert {series["metric"]["pool"]: series["value"][1] for series in pools} == {"stack": "1", "production": "1"}

    # `make down` stops the organic master and worker with the rest; the next deploy starts them all again.
    pids = _pids(service)
    assert {"master", "worker-0"} <= set(pids)
    # Organic master (its worker quits with it, or is stopped next), Prometheus, HAProxy, two apps.
    assert stop_deployment(service.base_dir) in (5, 6)
    assert not any(pid_alive(pid) for pid in pids.values())
    assert service.deploy(live) == outputs
    wait_for_traffic(chosen())
