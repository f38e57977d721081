"""loadstack.appservice.local without processes: layout, state, outputs, environment, the app's folder."""

from __future__ import annotations

import json

import pytest

from loadstack.appservice.base import AppConfig, AppServiceError
from loadstack.appservice.local import APP_DIR_ENV, LocalAppService, app_dir
from loadstack.profiles import PROJECT_ROOT, Profile

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


def test_everything_lives_under_the_profiles_data_dir(profile):
    service = LocalAppService(profile, "shop", "app")
    assert service.base_dir == profile.data_dir / "app" / "shop-app"
    assert service.state_path == profile.data_dir / "app" / "shop-app.json"
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


def test_teardown_with_nothing_deployed_is_false_and_nothing_is_dead(profile):
    service = LocalAppService(profile, "shop", "app")
    assert service.teardown() is False and service.dead() == {}


def test_a_config_for_another_step_is_refused(profile):
    with pytest.raises(AppServiceError, match="shop/other"):
        LocalAppService(profile, "shop", "app").deploy(AppConfig(**{**CONFIG.to_json(), "step": "other"}))
