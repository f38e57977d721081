"""What every loadstack task shares: which stack and step it serves, its profile, and its references."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping

from airflow.sdk import BaseOperator

from loadstack.airflow.profile import task_profile
from loadstack.kinds.base import VARIANTS
from loadstack.outputs import OutputResolver
from loadstack.profiles import Profile
from loadstack.refs import resolve
from loadstack.terraform.state import forget_outputs, record_outputs


class TaskProfile:
    """The profile a task works in: from the environment, with sessions from the Airflow connection on aws.

    Every loadstack operator gets it here (tests give an operator its own by setting `profile`). List it after
    BaseOperator among the bases: first, it made Airflow unmap a mapped task with `inlets` None."""

    @cached_property
    def profile(self) -> Profile:
        return task_profile()


class StackStepOperator(BaseOperator, TaskProfile):
    """Base for tasks of one step. `variant` is a template (the run's `variant` Param)."""

    template_fields: tuple[str, ...] = ("variant",)

    def __init__(self, *, stack: str, step: str, variant: str, stack_owner: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.step = step
        self.variant = variant
        self.stack_owner = stack_owner

    def record_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Keep a succeeded step's (secret-free) outputs in the state bucket, as Terraform would."""
        return record_outputs(self.profile, self.stack, self.step, outputs)

    def forget_outputs(self) -> None:
        forget_outputs(self.profile, self.stack, self.step)

    def check_account(self) -> None:
        if self.profile.allowed_account_ids:
            account = self.profile.verify_account()
            self.log.info("profile %s, account %s, region %s", self.profile.name, account, self.profile.region)

    def resolve_references(
        self,
        value: Any,
        context: Mapping[str, Any],
        *,
        output_sources: Mapping[str, str],
        state_objects: Mapping[str, str] | None = None,
        own_step: str | None = None,
    ) -> Any:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}: choose one of {', '.join(VARIANTS)}")
        resolver = OutputResolver(
            pull=lambda task_id: context["ti"].xcom_pull(task_ids=task_id),
            profile=self.profile,
            stack_fields={"name": self.stack, "owner": self.stack_owner, "variant": self.variant},
            output_sources=output_sources,
            state_objects=state_objects,
            own_step=own_step,
        )
        return resolve(value, resolver)
