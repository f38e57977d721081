"""loadstack.prometheus.config: the prometheus.yml loadstack's Prometheus runs with."""

from __future__ import annotations

import pytest
import yaml

from loadstack.prometheus.config import PrometheusConfigError, ScrapeJob, ScrapeTarget, duration, render_config


def test_jobs_targets_labels_and_paths():
    jobs = [
        ScrapeJob("app", (ScrapeTarget("127.0.0.1:9001", {"name": "shop-app-0"}), ScrapeTarget("127.0.0.1:9002"))),
        ScrapeJob("haproxy", (ScrapeTarget("127.0.0.1:9100"),), metrics_path="/metrics"),
    ]
    text = render_config(jobs, scrape_interval_s=1)
    assert text.startswith("# Written by loadstack")
    config = yaml.safe_load(text)
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    assert config["scrape_configs"] == [
        {
            "job_name": "app",
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": ["127.0.0.1:9001"], "labels": {"name": "shop-app-0"}},
                {"targets": ["127.0.0.1:9002"]},
            ],
        },
        {"job_name": "haproxy", "metrics_path": "/metrics", "static_configs": [{"targets": ["127.0.0.1:9100"]}]},
    ]


def test_the_scrape_timeout_never_exceeds_the_interval():
    config = yaml.safe_load(render_config([ScrapeJob("a", (ScrapeTarget("h:1"),))], scrape_interval_s=0.5))
    assert config["global"]["scrape_interval"] == config["global"]["scrape_timeout"] == "500ms"


@pytest.mark.parametrize(("seconds", "text"), [(1, "1s"), (15.0, "15s"), (0.25, "250ms"), (1.5, "1500ms")])
def test_durations_in_whole_milliseconds(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, 0.0001, float("nan"), True, "1s"])
def test_durations_that_are_not_positive_numbers_are_refused(seconds):
    with pytest.raises(PrometheusConfigError):
        duration(seconds)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ScrapeTarget("http://127.0.0.1:9000"), "not host:port"),
        (lambda: ScrapeTarget("127.0.0.1:9000", {"__name__": "x"}), "not a Prometheus label name"),
        (lambda: ScrapeTarget("127.0.0.1:9000", {"a-b": "x"}), "not a Prometheus label name"),
        (lambda: ScrapeTarget("127.0.0.1:9000", {"pool\n": "x"}), "not a Prometheus label name"),
        (lambda: ScrapeTarget("127.0.0.1:9000\n"), "not host:port"),
        (lambda: ScrapeJob("app", ()), "has no targets"),
        (lambda: ScrapeJob("app", (ScrapeTarget("h:1"),), metrics_path="metrics"), "must start with /"),
        (lambda: render_config([ScrapeJob("a", (ScrapeTarget("h:1"),))] * 2), "repeated: a"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(make, message):
    with pytest.raises(PrometheusConfigError, match=message):
        make()
