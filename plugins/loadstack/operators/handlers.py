"""CompletionHandlerOperator: publish a finished step's outputs through one registered handler."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.handlers.base import HandlerContext, get_handler
from loadstack.operators.outputs import OutputResolver, mask
from loadstack.profiles import Profile, load_profile
from loadstack.refs import resolve


class CompletionHandlerOperator(BaseOperator):
    template_fields = ("config", "variant")
    ui_color = "#e4f4ff"

    def __init__(
        self,
        *,
        stack: str,
        step: str,
        handler: str,
        config: dict[str, Any],
        output_sources: dict[str, str],
        variant: str = "{{ params.variant }}",
        stack_owner: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.step = step
        self.handler = handler
        self.config = config
        self.output_sources = output_sources
        self.variant = variant
        self.stack_owner = stack_owner

    @cached_property
    def profile(self) -> Profile:
        return load_profile()

    def execute(self, context) -> str:
        resolver = OutputResolver(
            context=context,
            profile=self.profile,
            stack_fields={"name": self.stack, "owner": self.stack_owner, "variant": self.variant},
            output_sources=self.output_sources,
            own_step=self.step,
        )
        handler_cls = get_handler(self.handler)
        config = handler_cls.validate_config(resolve(self.config, resolver))
        for field in handler_cls.secret_fields:
            mask(getattr(config, field))
        handler = handler_cls(config, HandlerContext(stack=self.stack, step=self.step, profile=self.profile))
        result = handler.publish()
        self.log.info("%s: %s", handler.describe(), result.value)
        return result.value
