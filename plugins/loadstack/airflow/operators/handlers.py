"""CompletionHandlerOperator: publish a finished step's outputs through one registered handler."""

from __future__ import annotations

from typing import Any

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.airflow.variables import AirflowVariables
from loadstack.handlers import HandlerContext, get_handler
from loadstack.masking import mask


class CompletionHandlerOperator(StackStepOperator):
    template_fields = ("config", "variant")
    ui_color = "#e4f4ff"

    def __init__(self, *, handler: str, config: dict[str, Any], output_sources: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handler = handler
        self.config = config
        self.output_sources = output_sources

    def execute(self, context) -> str:
        handler_cls = get_handler(self.handler)
        resolved = self.resolve_references(self.config, context, output_sources=self.output_sources, own_step=self.step)
        config = handler_cls.validate_config(resolved)
        handler = handler_cls(config, HandlerContext(stack=self.stack, step=self.step, profile=self.profile,
                                                       variables=AirflowVariables()))
        # Asked of the handler, not its class: a String SSM parameter is not a secret, a SecureString is.
        for field in handler.secret_fields:
            mask(getattr(config, field))
        result = handler.publish()
        self.log.info("%s: %s", handler.describe(), result.value)
        return result.value
