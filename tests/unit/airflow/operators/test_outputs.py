"""ForgetOutputsOperator: the teardown of a step that owns nothing but its recorded outputs."""

from __future__ import annotations

from loadstack.airflow.operators.outputs import ForgetOutputsOperator


def test_forgets_the_recorded_outputs_and_nothing_else(profile, recorded, make_context):
    op = ForgetOutputsOperator(task_id="destroy", stack="shop", step="seed_events", variant="minimal")
    op.__dict__["profile"] = profile
    op.execute(make_context())
    recorded["forget"].assert_called_once_with(profile, "shop", "seed_events")
    recorded["record"].assert_not_called()
