"""Terraform's remote state in the profile's state bucket, read without running Terraform.

Also where steps that are not Terraform keep their outputs (in Terraform's outputs format), so a
teardown can answer references to any step the same way.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from loadstack.artifacts import is_missing_object, read_object
from loadstack.profiles import Profile


def state_object_key(workspace: str, state_key: str) -> str:
    """Where the S3 backend keeps a non-default workspace's state."""
    return f"env:/{workspace}/{state_key}"


def read_state_outputs(profile: Profile, object_key: str) -> dict[str, dict[str, Any]]:
    """Outputs straight from a remote state object: how sensitive values reach a consumer."""
    body = profile.client("s3").get_object(Bucket=profile.state_bucket, Key=object_key)["Body"].read()
    return json.loads(body).get("outputs", {})


def state_exists(profile: Profile, object_key: str) -> bool:
    try:
        profile.client("s3").head_object(Bucket=profile.state_bucket, Key=object_key)
    except ClientError as exc:
        if is_missing_object(exc):
            return False
        raise
    return True


def holds_resources(profile: Profile, object_key: str) -> bool:
    """Whether a remote state holds managed resources: False without a state object, and for a workspace that
    was made but never applied (a failed first apply) or already destroyed."""
    body = read_object(profile.client("s3"), profile.state_bucket, object_key)
    if body is None:
        return False
    # The state holds secrets: only its resource list is looked at, nothing of it is logged.
    resources = json.loads(body).get("resources") or []
    return any(r.get("mode") == "managed" and r.get("instances") for r in resources)


def recorded_outputs_key(stack: str, step: str) -> str:
    """Where a step that is not Terraform records its outputs."""
    return f"loadstack/outputs/{stack}/{step}.json"


def record_outputs(profile: Profile, stack: str, step: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """Keep a succeeded step's (secret-free) outputs in the state bucket, as Terraform would; returns them."""
    body = {"outputs": {name: {"value": value, "sensitive": False} for name, value in outputs.items()}}
    profile.client("s3").put_object(
        Bucket=profile.state_bucket, Key=recorded_outputs_key(stack, step),
        Body=json.dumps(body, sort_keys=True).encode(), ContentType="application/json",
    )
    return outputs


def forget_outputs(profile: Profile, stack: str, step: str) -> None:
    profile.client("s3").delete_object(Bucket=profile.state_bucket, Key=recorded_outputs_key(stack, step))
