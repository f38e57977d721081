"""loadstack.haproxy.config: the haproxy.cfg a load balancer runs with, and what it refuses."""

from __future__ import annotations

import pytest

from loadstack.haproxy.config import (
    HAProxyConfigError,
    HealthCheck,
    LoadBalancerConfig,
    Server,
    Timeouts,
    check_weight,
    render_config,
)


def _config(tmp_path, **overrides) -> LoadBalancerConfig:
    values = {
        "base_dir": tmp_path,
        "port": 8080,
        "exporter_port": 8081,
        "servers": (Server("app0", 9000), Server("app1", 9001, weight=7)),
    }
    return LoadBalancerConfig(**{**values, **overrides})


def _section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    return [line.strip() for line in lines[start:end] if line.strip()]


def test_global_has_the_admin_socket_and_pidfile_in_its_directory(tmp_path):
    text = render_config(_config(tmp_path))
    glob = _section(text, "global")
    assert f'stats socket "{tmp_path}/admin.sock" mode 600 level admin' in glob
    assert f'pidfile "{tmp_path}/haproxy.pid"' in glob
    assert "daemon" not in text  # the supervisor runs it in the foreground


def test_frontend_and_backend_servers_with_health_checks(tmp_path):
    text = render_config(_config(tmp_path, health_check=HealthCheck(path="/healthz", interval_ms=500, fall=3, rise=2)))
    assert _section(text, "frontend app") == ["bind 127.0.0.1:8080", "default_backend app"]
    backend = _section(text, "backend app")
    assert backend == [
        "balance roundrobin",
        "option httpchk GET /healthz",
        "http-check expect status 200",
        "default-server check inter 500ms fall 3 rise 2",
        "server app0 127.0.0.1:9000 weight 100",
        "server app1 127.0.0.1:9001 weight 7",
    ]


def test_the_exporter_has_its_own_loopback_frontend(tmp_path):
    config = _config(tmp_path)
    exporter = _section(render_config(config), "frontend prometheus")
    assert exporter[0] == "bind 127.0.0.1:8081"
    assert "http-request use-service prometheus-exporter if { path /metrics }" in exporter
    assert config.exporter_url == "http://127.0.0.1:8081/metrics" and config.url == "http://127.0.0.1:8080"


def test_timeouts_are_rendered_in_milliseconds(tmp_path):
    defaults = _section(render_config(_config(tmp_path, timeouts=Timeouts(connect=1.5, server=30))), "defaults")
    assert "timeout connect 1500ms" in defaults and "timeout server 30000ms" in defaults
    assert "mode http" in defaults and "option redispatch" in defaults


@pytest.mark.parametrize("weight", [-1, 257, 1.5, True, "10"])
def test_weights_outside_0_to_256_are_refused(weight):
    with pytest.raises(HAProxyConfigError, match="0..256"):
        check_weight(weight)


@pytest.mark.parametrize("weight", [0, 1, 256])
def test_weights_at_the_bounds_are_accepted(weight):
    assert check_weight(weight) == weight


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"servers": ()}, "at least one server"),
        ({"servers": (Server("a", 1), Server("a", 2))}, "repeated: a"),
        ({"exporter_port": 8080}, "both want port 8080"),
        ({"port": 70000}, "frontend port 70000"),
    ],
)
def test_bad_configs_are_refused_naming_the_field(tmp_path, overrides, message):
    with pytest.raises(HAProxyConfigError, match=message):
        _config(tmp_path, **overrides)


def test_server_names_must_be_haproxy_identifiers():
    with pytest.raises(HAProxyConfigError, match="'a b'"):
        Server("a b", 9000)
    with pytest.raises(HAProxyConfigError, match=r"'app_0\\n'"):  # `$` would match before a final line break
        Server("app_0\n", 9000)
    with pytest.raises(HAProxyConfigError, match="health check path"):
        HealthCheck(path="health")


def test_a_socket_path_too_long_for_unix_is_refused(tmp_path):
    with pytest.raises(HAProxyConfigError, match="shorter base directory"):
        _config(tmp_path / ("x" * 120))
