"""aws profile: the app runs on the `app_cluster` module's instances behind its ALB; nothing to start here.

The app_cluster Terraform step owns the instances, the load balancer and their teardown: its launch
template runs the same app (`python -m shopapp`, configured through `app_env` with the SHOPAPP_*
variables; see include/terraform/app_cluster/README.md). This service checks that the target group it
was pointed at exists and publishes the load balancer's address as the step's outputs, so gates and
load find the app the same way on either profile.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from loadstack.appservice.base import AppConfig, AppService, AppServiceError

log = logging.getLogger(__name__)


class AwsAppService(AppService):
    def deploy(self, config: AppConfig) -> dict[str, Any]:
        self._check(config)
        where = f"app step {self.stack}/{self.step}"
        missing = [
            field
            for field, value in (
                ("load_balancer.url", config.load_balancer_url),
                ("load_balancer.target_group_arn", config.target_group_arn),
            )
            if not value
        ]
        if missing:
            raise AppServiceError(
                f"{where}: {' and '.join(missing)} not set: on the aws profile the app runs behind the app_cluster "
                "step's load balancer; reference its outputs, e.g. ${steps.app_cluster.outputs.url} and "
                "${steps.app_cluster.outputs.target_group_arn}"
            )
        elbv2 = self.profile.client("elbv2")
        try:
            targets = elbv2.describe_target_health(TargetGroupArn=config.target_group_arn)["TargetHealthDescriptions"]
        except ClientError as error:
            raise AppServiceError(
                f"{where}: target group {config.target_group_arn} cannot be read ({error.response['Error']['Code']}): "
                "check load_balancer.target_group_arn and that the app_cluster step ran"
            ) from error
        url = config.load_balancer_url.rstrip("/")
        healthy = sum(1 for t in targets if t.get("TargetHealth", {}).get("State") == "healthy")
        log.info("%s: the app is served by %s (%d of %d targets healthy)", where, url, healthy, len(targets))
        return {
            "url": url,
            "health_url": f"{url}/health",
            "prometheus_url": config.prometheus_url or None,
            "instances": len(targets),
            "target_group_arn": config.target_group_arn,
        }

    def teardown(self) -> bool:
        """Nothing of the app is this service's: the app_cluster step's Terraform destroys it."""
        log.info(
            "app step %s/%s: the app_cluster step's Terraform owns the instances; nothing to remove",
            self.stack,
            self.step,
        )
        return False
