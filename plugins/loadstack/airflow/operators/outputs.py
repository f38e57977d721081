"""Teardown of a step that owns no resource of its own (seed): only its recorded outputs go."""

from __future__ import annotations

from loadstack.airflow.operators.base import StackStepOperator


class ForgetOutputsOperator(StackStepOperator):
    ui_color = "#ffe4e4"

    def execute(self, context) -> None:
        self.forget_outputs()
        self.log.info("%s: recorded outputs removed", self.step)
