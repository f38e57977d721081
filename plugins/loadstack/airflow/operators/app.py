"""The app kind's tasks: deploy the application under test (local: processes behind HAProxy, with
Prometheus; aws: publish the load balancer the app_cluster module made), and tear it down."""

from __future__ import annotations

from typing import Any

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.appservice.base import AppConfig
from loadstack.backends import backends_for


class AppDeployOperator(StackStepOperator):
    """Outputs url, health_url, prometheus_url and instances (and, locally, the proxy's admin socket)."""

    template_fields = ("variant", "load_balancer", "prometheus_url")
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        database_task_id: str,
        cache_task_id: str,
        instances: dict[str, int],
        faults: dict[str, float],
        scrape_interval_s: float,
        load_balancer: dict[str, str],
        prometheus_url: str,
        output_sources: dict[str, str],
        live: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.live = live or {}
        self.database_task_id = database_task_id
        self.cache_task_id = cache_task_id
        self.instances = instances
        self.faults = faults
        self.scrape_interval_s = scrape_interval_s
        self.load_balancer = load_balancer
        self.prometheus_url = prometheus_url
        self.output_sources = output_sources

    def execute(self, context) -> dict[str, Any]:
        self.check_account()
        resolve = dict(context=context, output_sources=self.output_sources)
        load_balancer = self.resolve_references(self.load_balancer, **resolve)
        prometheus_url = self.resolve_references(self.prometheus_url, **resolve)
        database = context["ti"].xcom_pull(task_ids=self.database_task_id)
        cache = context["ti"].xcom_pull(task_ids=self.cache_task_id)
        config = AppConfig(
            stack=self.stack,
            step=self.step,
            instances=self.instances[self.variant],
            db_secret_id=database["secret_id"],
            db_name=database["database"],
            cache_secret_id=cache["secret_id"],
            fault_latency_ms=self.faults.get("latency_ms", 0.0),
            fault_error_ratio=self.faults.get("error_ratio", 0.0),
            scrape_interval_s=self.scrape_interval_s,
            load_balancer_url=load_balancer.get("url", ""),
            target_group_arn=load_balancer.get("target_group_arn", ""),
            prometheus_url=prometheus_url,
            production_instances=self.live.get("production_instances", 0),
            organic_qps=float(self.live.get("organic_qps", 0.0)),
        )
        outputs = backends_for(self.profile).app(self.stack, self.step).deploy(config)
        self.log.info("%s serves %s (%s instances)", self.step, outputs.get("url"), outputs.get("instances"))
        return self.record_outputs(outputs)


class AppTeardownOperator(StackStepOperator):
    """Stop what the step started (local: app processes, HAProxy, Prometheus) and forget its outputs."""

    ui_color = "#ffe4e4"

    def execute(self, context) -> None:
        self.check_account()
        removed = backends_for(self.profile).app(self.stack, self.step).teardown()
        self.log.info("%s: %s", self.step, "stopped" if removed else "nothing was running")
        self.forget_outputs()
