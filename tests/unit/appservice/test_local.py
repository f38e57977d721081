"""loadstack.appservice.local without processes: layout, state, outputs, environment, the app's folder, and who
may deploy or tear down (the server record's owner, on moto's in-process S3)."""

from __future__ import annotations

import json

import pytest

from loadstack.appservice.base import AppConfig, AppServiceError
from loadstack.appservice.local import APP_DIR_ENV, LocalAppService, app_dir
from loadstack.profiles import PROJECT_ROOT, Profile
from loadstack.server_record import ForeignServerError, ServerRecords

CONFIG = AppConfig(
    stack="shop",
    step="app",
    instances=2,
    db_secret_id="db-secret",
    db_name="shop",
    cache_secret_id="cache-secret",
    scrape_interval_s=2.0,
)
STATE = {
    "config": CONFIG.to_json(),
    "instances": [{"name": "shop-app-0", "port": 9100}, {"name": "shop-app-1", "port": 9101}],
    "lb": {"port": 9000, "exporter_port": 9001},
    "prometheus": {"port": 9090},
}


@pytest.fixture
def profile(tmp_path) -> Profile:
    return Profile(
        name="local",
        region="eu-west-1",
        state_bucket="state",
        home=tmp_path / "h",
        terraform_bin="terraform",
        plugin_mirror=tmp_path,
        endpoint_url="http://127.0.0.1:5055",
    )


@pytest.fixture
def stored(two_homes) -> tuple[Profile, Profile]:
    return two_homes


def test_everything_lives_under_the_profiles_data_dir_and_the_state_in_the_bucket(profile):
    service = LocalAppService(profile, "shop", "app")
    assert service.base_dir == profile.data_dir / "app" / "shop-app"
    assert service.records.key == "loadstack/servers/shop/app/app.json"
    assert service.instance_name(1) == "shop-app-1"


def test_outputs_from_the_state(profile):
    outputs = LocalAppService(profile, "shop", "app").outputs(STATE)
    base = profile.data_dir / "app" / "shop-app"
    assert outputs == {
        "url": "http://127.0.0.1:9000",
        "health_url": "http://127.0.0.1:9000/health",
        "prometheus_url": "http://127.0.0.1:9090",
        "instances": 2,
        "instance_names": ["shop-app-0", "shop-app-1"],
        "instance_urls": ["http://127.0.0.1:9100", "http://127.0.0.1:9101"],
        "admin_socket": str(base / "lb" / "admin.sock"),
        "haproxy_backend": "app",
        "haproxy_exporter_url": "http://127.0.0.1:9001/metrics",
        "scrape_interval_s": 2.0,
    }
    json.dumps(outputs)  # JSON primitives only


def test_prometheus_scrapes_every_instance_by_name_and_haproxys_exporter(profile):
    prometheus = LocalAppService(profile, "shop", "app")._prometheus(STATE)
    assert prometheus.scrape_interval_s == 2.0 and prometheus.port == 9090
    app, haproxy = prometheus.jobs
    assert [(t.address, dict(t.labels)) for t in app.targets] == [
        ("127.0.0.1:9100", {"name": "shop-app-0"}),
        ("127.0.0.1:9101", {"name": "shop-app-1"}),
    ]
    assert app.metrics_path == "/metrics" and [t.address for t in haproxy.targets] == ["127.0.0.1:9001"]


def test_the_app_env_points_boto3_at_the_profile_and_keeps_the_rest(profile, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    monkeypatch.setenv("SOME_SETTING", "kept")
    env = LocalAppService(profile, "shop", "app")._env(CONFIG)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5055" and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["SOME_SETTING"] == "kept"
    assert env["PYTHONPATH"] == str((PROJECT_ROOT / "app").resolve())
    assert env["SHOPAPP_DB_SECRET_ID"] == "db-secret" and env["SHOPAPP_CACHE_SECRET_ID"] == "cache-secret"


def test_the_app_folder_can_be_moved_by_env_and_a_wrong_one_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv(APP_DIR_ENV, raising=False)
    assert (app_dir() / "shopapp" / "__main__.py").is_file()
    (tmp_path / "shopapp").mkdir()
    (tmp_path / "shopapp" / "__main__.py").write_text("")
    monkeypatch.setenv(APP_DIR_ENV, str(tmp_path))
    assert app_dir() == tmp_path.resolve()
    monkeypatch.setenv(APP_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(AppServiceError, match=f"set {APP_DIR_ENV}"):
        app_dir()


def test_teardown_with_nothing_deployed_is_false_and_nothing_is_dead(stored):
    service = LocalAppService(stored[0], "shop", "app")
    assert service.teardown() is False and service.dead() == {}


def test_a_config_for_another_step_is_refused(profile):
    with pytest.raises(AppServiceError, match="shop/other"):
        LocalAppService(profile, "shop", "app").deploy(AppConfig(**{**CONFIG.to_json(), "step": "other"}))


LIVE_CONFIG = AppConfig(**{**CONFIG.to_json(), "production_instances": 2, "organic_qps": 60.0})
LIVE_STATE = {
    **STATE,
    "config": LIVE_CONFIG.to_json(),
    "production": [{"name": "shop-app-prod-0", "port": 9200}, {"name": "shop-app-prod-1", "port": 9201}],
    "organic": {"master_port": 9300, "web_port": 9301},
}


def test_without_live_traffic_every_server_has_the_same_weight_and_no_pool_label(profile):
    service = LocalAppService(profile, "shop", "app")
    assert [(s.name, s.weight) for s in service._lb(STATE).config.servers] == [("shop-app-0", 100), ("shop-app-1", 100)]
    assert service._organic(STATE) is None
    assert all("pool" not in t.labels for t in service._prometheus(STATE).jobs[0].targets)


def test_live_traffic_puts_production_first_with_all_the_weight_in_the_same_backend(profile):
    servers = LocalAppService(profile, "shop", "app")._lb(LIVE_STATE).config.servers
    # Production's weights sum to 256 (HAProxy's scale, as a shift keeps it); the stack's servers start at 0.
    assert [(s.name, s.port, s.weight) for s in servers] == [
        ("shop-app-prod-0", 9200, 128),
        ("shop-app-prod-1", 9201, 128),
        ("shop-app-0", 9100, 0),
        ("shop-app-1", 9101, 0),
    ]


def test_live_traffic_labels_every_app_process_with_its_pool(profile):
    app, _ = LocalAppService(profile, "shop", "app")._prometheus(LIVE_STATE).jobs
    assert [(t.address, dict(t.labels)) for t in app.targets] == [
        ("127.0.0.1:9100", {"name": "shop-app-0", "pool": "stack"}),
        ("127.0.0.1:9101", {"name": "shop-app-1", "pool": "stack"}),
        ("127.0.0.1:9200", {"name": "shop-app-prod-0", "pool": "production"}),
        ("127.0.0.1:9201", {"name": "shop-app-prod-1", "pool": "production"}),
    ]


def test_live_traffic_adds_what_a_shift_needs_to_the_outputs(profile):
    service = LocalAppService(profile, "shop", "app")
    outputs = service.outputs(LIVE_STATE)
    assert outputs == {
        **service.outputs(STATE),
        "live_qps": 60.0,
        "stack_servers": ["shop-app-0", "shop-app-1"],
        "production_servers": ["shop-app-prod-0", "shop-app-prod-1"],
        "production_instance_urls": ["http://127.0.0.1:9200", "http://127.0.0.1:9201"],
        "organic_url": "http://127.0.0.1:9301",
    }
    assert outputs["instances"] == 2  # the stack's own processes, not production's
    json.dumps(outputs)


def test_the_organic_generator_sends_through_haproxy_from_its_own_folder(profile):
    service = LocalAppService(profile, "shop", "app")
    organic = service._organic(LIVE_STATE)
    assert organic.run_dir == (service.base_dir / "organic").resolve() and organic.workers == 1
    assert organic.target_url == "http://127.0.0.1:9000" and organic.url == "http://127.0.0.1:9301"
    # Stopping needs the folder only: every process the deployment runs is found from the state.
    apps = [a.name for a in service._apps(LIVE_STATE)]
    assert apps == ["shop-app-0", "shop-app-1", "shop-app-prod-0", "shop-app-prod-1"]
    assert service.production_name(1) == "shop-app-prod-1"


def test_stopping_a_deployment_whose_organic_users_are_gone_finds_nothing_running(profile):
    from loadstack.appservice.local import stop_deployment

    service = LocalAppService(profile, "shop", "app")
    (service.organic_dir).mkdir(parents=True)
    (service.organic_dir / "master.pid").write_text("999999\n")  # no such process: nothing is signalled
    service.apps_dir.mkdir()
    assert stop_deployment(service.base_dir) == 0
    assert not (service.organic_dir / "master.pid").exists()


@pytest.fixture
def started(monkeypatch):
    """Every process of a deployment replaced: the order things start in, and the organic rate asked."""
    from unittest import mock

    from loadstack.appservice import local

    calls: list[str] = []
    monkeypatch.setattr(local, "app_dir", lambda: PROJECT_ROOT / "app")

    class FakeApp:
        def __init__(self, apps_dir, name, port=None):
            self.name, self.port, self.process = name, port, mock.Mock()

        def start(self, env):
            calls.append(f"app {self.name}")

        def probe(self):
            pass

    monkeypatch.setattr(local, "AppProcess", FakeApp)

    class Fake:
        def __init__(self, what):
            self.what = what

        def __call__(self, *args, **kwargs):
            made = mock.MagicMock()
            made.start.side_effect = lambda: calls.append(f"{self.what} start")
            made.servers.return_value = []
            made.url = "http://127.0.0.1:9301"
            return made

    monkeypatch.setattr(local, "HAProxyServer", Fake("haproxy"))
    monkeypatch.setattr(local, "PrometheusServer", Fake("prometheus"))
    monkeypatch.setattr(local, "LocustCluster", Fake("organic"))
    rates = mock.Mock(side_effect=lambda url, qps: calls.append(f"rate {qps:g} at {url}"))
    monkeypatch.setattr(local.master_api, "set_rate", rates)
    return calls, rates


def test_a_live_deploy_starts_production_beside_the_stack_and_live_users_last(stored, started):
    calls, _ = started
    profile = stored[0]
    outputs = LocalAppService(profile, "shop", "app").deploy(LIVE_CONFIG)
    assert calls == [
        "app shop-app-0", "app shop-app-1", "app shop-app-prod-0", "app shop-app-prod-1",
        "haproxy start", "prometheus start", "organic start", "rate 60 at http://127.0.0.1:9301",
    ]
    assert outputs["live_qps"] == 60.0 and outputs["production_servers"] == ["shop-app-prod-0", "shop-app-prod-1"]
    state = LocalAppService(profile, "shop", "app").records.load().state
    assert len({i["port"] for i in (*state["instances"], *state["production"])}) == 4 and set(state["organic"]) == {
        "master_port", "web_port",
    }


def test_a_deploy_without_live_traffic_starts_no_users(stored, started):
    calls, rates = started
    outputs = LocalAppService(stored[0], "shop", "app").deploy(CONFIG)
    assert "organic start" not in calls and not rates.called and "live_qps" not in outputs


def test_an_organic_rate_the_generator_refuses_fails_the_deploy_naming_it(stored, started):
    from loadstack.locust import master_api

    _, rates = started
    rates.side_effect = master_api.LocustMasterError("POST /loadstack/rate: no Locust worker is connected")
    with pytest.raises(AppServiceError, match="the organic traffic generator at http://127.0.0.1:9301 refused 60 QPS"):
        LocalAppService(stored[0], "shop", "app").deploy(LIVE_CONFIG)
    assert LocalAppService(stored[0], "shop", "app").records.load() is None  # torn down: no record left behind


def test_a_deploy_is_recorded_with_its_owner_before_it_starts_and_the_teardown_deletes_the_record(stored, started,
                                                                                                monkeypatch):
    calls, _ = started
    profile = stored[0]
    service = LocalAppService(profile, "shop", "app")
    recorded = []
    create = ServerRecords.create

    def record_then_create(records, *args, **kwargs):
        recorded.append(list(calls))
        return create(records, *args, **kwargs)

    monkeypatch.setattr(ServerRecords, "create", record_then_create)
    service.deploy(CONFIG)
    assert recorded == [[]]  # recorded before any process started
    record = service.records.load()
    assert record.owner.home == str(profile.home.resolve()) and record.host == "127.0.0.1"
    assert record.base_dir == str(service.base_dir.resolve()) and record.state["config"] == CONFIG.to_json()
    assert service.teardown() is True
    assert service.records.load() is None and not service.base_dir.exists()


def test_another_home_can_neither_tear_down_nor_deploy_what_the_owner_runs(stored, started):
    calls, _ = started
    home_a, home_b = stored
    owner = LocalAppService(home_a, "shop", "app")
    owner.deploy(CONFIG)
    record, started_by_a = owner.records.load(), list(calls)
    other = LocalAppService(home_b, "shop", "app")
    with pytest.raises(ForeignServerError, match=r"shop/app: the app server is owned by LOADSTACK_HOME=.*/a on host .*"
                                                 r"refusing to destroy it here"):
        other.teardown()
    with pytest.raises(ForeignServerError, match="refusing to deploy it here"):
        other.deploy(CONFIG)
    assert calls == started_by_a  # nothing started twice
    assert owner.records.load() == record and record.owner.home == str(home_a.home.resolve())
    assert owner.base_dir.is_dir() and not other.base_dir.exists()


def test_a_record_of_this_home_whose_directory_is_gone_is_deployed_afresh(stored, started):
    import shutil

    calls, _ = started
    service = LocalAppService(stored[0], "shop", "app")
    first = service.records.load() if service.deploy(CONFIG) else None
    shutil.rmtree(service.base_dir)  # e.g. the worker's var/ was wiped: its processes went with it
    calls.clear()
    service.deploy(CONFIG)
    assert calls[:2] == ["app shop-app-0", "app shop-app-1"]
    assert service.records.load().state["instances"] != first.state["instances"]  # new ports
