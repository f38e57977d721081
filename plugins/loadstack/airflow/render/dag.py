"""Stack → Airflow DAG: one TaskGroup per step, deterministic task ids, edges from the step graph."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, TaskGroup

from loadstack.airflow.operators.handlers import CompletionHandlerOperator
from loadstack.airflow.render.context import (
    START_DATE,
    VARIANT_TEMPLATE,
    StepRenderContext,
    TeardownRenderContext,
    queue_args,
    stack_schedule,
)
from loadstack.airflow.render.registry import renderer_for
from loadstack.airflow.render.registry_tasks import add_registration, add_teardown_bookkeeping
from loadstack.airflow.render.snapshots_current import REBUILD_PARAM, add_snapshots_current
from loadstack.airflow.render.stack_lock import add_stack_lock
from loadstack.airflow.render.stack_run import add_guaranteed_teardown, add_run_outcome
from loadstack.keep_up import KEEP_UP_PARAM
from loadstack.kinds import STEP_KINDS, VARIANTS
from loadstack.profiles import PROJECT_ROOT, Profile, load_profile
from loadstack.spec import DURATION_PATTERN, Stack, load_stack

TEARDOWN_SUFFIX = "__teardown"
STACK_SECTION = "Stack"


def outputs_task_id(stack: Stack, step: str) -> str:
    return f"{step}.{STEP_KINDS[stack.steps[step].kind].outputs_task_id}"


def _doc(stack: Stack) -> str:
    levels = " → ".join("{" + ", ".join(level) + "}" for level in stack.graph.levels())
    return (
        f"### {stack.name}\n\n{stack.model.description}\n\n"
        f"* owner: `{stack.model.owner}`\n* spec: `{stack.source.name}`\n"
        f"* TTL when idle: `{stack.model.ttl}`\n* steps by level: {levels}\n"
    )


def _variant_param(stack: Stack) -> Param:
    return Param(
        stack.model.default_variant,
        type="string",
        enum=list(VARIANTS),
        values_display={"minimal": "minimal: small and fast to iterate", "production": "production: production-sized"},
        title="Variant",
        description="minimal: small and fast to iterate; production: production-sized.",
        section=STACK_SECTION,
    )


def _reason_param() -> Param:
    return Param(
        "manual teardown",
        type="string",
        minLength=1,
        title="Reason",
        description="Why the stack is torn down: kept in the stack registry (`loadstack ls`) while it runs.",
    )


def _run_params(stack: Stack) -> dict[str, Param]:
    """The Trigger form: the stack's own settings, then a section per step with the Params its kind adds
    (`StepBase.run_params`). Each is typed and bounded, so the form, the REST API and the CLI refuse a bad value."""
    params = {
        "variant": _variant_param(stack),
        "ttl": Param(
            stack.model.ttl, type="string", pattern=DURATION_PATTERN, title="TTL", section=STACK_SECTION,
            description=f"How long the stack stays listed as up before the reaper tears it down; e.g. 30m, 8h, 2d, "
                        f"1h30m (default: the spec's ttl, {stack.model.ttl}).",
            description_md=f"How long the stack stays listed as up (`loadstack ls`) before the `loadstack_reaper` DAG "
                           f"tears it down: `30m`, `8h`, `2d`, `1h30m`... Default: the spec's `ttl` (`{stack.model.ttl}`).",
        ),
        # What the run does with the stack once it is done (operators.stack_run, loadstack.keep_up).
        KEEP_UP_PARAM: Param(
            None, type=["null", "boolean"], title="Keep up", section=STACK_SECTION,
            description="keep the stack up after the run; empty: manual runs keep it, scheduled runs tear it down",
            description_md="Empty: a manual run keeps the stack up (tear it down with the `<stack>__teardown` DAG, "
                           "or the reaper does when its TTL runs out); a scheduled run or a backfill tears it down "
                           "at the end. `true` or `false` decides for this run.",
        ),
    }
    if any(getattr(step, "snapshot", None) for step in stack.steps.values()):  # every restore kind names one
        # What the run's snapshots-current task does with a stale snapshot (render.snapshots_current).
        params[REBUILD_PARAM] = Param(
            True, type="boolean", title="Rebuild stale snapshots", section=STACK_SECTION,
            description="on: a snapshot whose definition changed (or never built) is rebuilt by the "
                        "loadstack_snapshots DAG first, and the run waits for it; off: the run fails at once",
            description_md="On: a snapshot the run restores that is out of date (its definition in `include/snapshots` "
                           "changed) or never built is rebuilt first: the run triggers the `loadstack_snapshots` DAG "
                           "(or waits for its run already going) and goes on when it succeeded. Off: the run fails at "
                           "once, before anything is stood up, naming the snapshots.",
        )
    for name in stack.graph.topological_order():
        step = stack.steps[name]
        for key, spec in step.run_params(name).items():
            spec = {"type": "string", "section": f"Step {name} ({step.kind})", **spec}
            params[key] = Param(spec.pop("default"), **spec)
    return params


def build_dag(stack: Stack, profile: Profile | None = None) -> DAG:
    """The stack's DAG; `profile` (default: the environment's) places each step's tasks on a queue.

    A step's tasks, its destroy included, run on the queue of its kind's class of work (loadstack.queues);
    the stack's own bookkeeping (lock, registry, outcome) stays on the default queue, which any worker takes.
    """
    model = stack.model
    profile = profile or load_profile()
    schedule, start_date = stack_schedule(model.schedule)
    with DAG(
        dag_id=stack.name,
        description=model.description.strip().splitlines()[0][:200] if model.description.strip() else None,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        # Two runs of one stack would contend for the same workspaces and state locks.
        max_active_runs=1,
        tags=sorted({"loadstack", *model.tags}),
        doc_md=_doc(stack),
        default_args={"owner": model.owner, "retries": model.retries, "retry_delay": timedelta(seconds=20)},
        params=_run_params(stack),
    ) as dag:
        groups: dict[str, TaskGroup] = {}
        ramp_reports: dict[str, str] = {}
        for name in stack.graph.topological_order():
            step = stack.steps[name]
            upstream = stack.graph.ancestors(name)
            sources = {up: outputs_task_id(stack, up) for up in upstream}
            sources[name] = outputs_task_id(stack, name)
            ctx = StepRenderContext(
                stack=stack,
                name=name,
                step=step,
                output_sources=sources,
                retries=stack.retries_for(name),
                execution_timeout=timedelta(minutes=step.timeout_minutes),
            )
            with TaskGroup(group_id=name, tooltip=step.description or f"{step.kind} step",
                           default_args=queue_args(profile, step.work)) as group:
                main = renderer_for(step.kind).render(ctx)
                if step.kind == "ramp":
                    ramp_reports[name] = main.task_id
                for handler in stack.handlers.get(name, ()):
                    main >> CompletionHandlerOperator(
                        task_id=handler.task_id,
                        stack=stack.name,
                        step=name,
                        handler=handler.handler,
                        config=handler.config,
                        output_sources=sources,
                        variant=VARIANT_TEMPLATE,
                        stack_owner=model.owner,
                        retries=ctx.retries,
                        execution_timeout=timedelta(minutes=10),
                    )
            groups[name] = group
        for upstream, downstream in stack.graph.edges:
            groups[upstream] >> groups[downstream]
        add_snapshots_current(dag, stack)
        stood_up_by = [groups[n] for n in groups if renderer_for(stack.steps[n].kind).render_teardown is not None]
        add_registration(dag, stack, stood_up_by=stood_up_by, teardown_dag_id=stack.name + TEARDOWN_SUFFIX)
        if stood_up_by:
            add_guaranteed_teardown(dag, stack, destroy_groups=lambda parent: _render_destroys(stack, profile, parent),
                                    teardown_dag_id=stack.name + TEARDOWN_SUFFIX)
        outcome = add_run_outcome(dag, stack, ramp_report_task_ids=ramp_reports)
        add_stack_lock(dag, stack, before=[outcome])
    return dag


def _render_destroys(stack: Stack, profile: Profile, parent: TaskGroup | None = None) -> list:
    """Every step's destroy tasks, each step in a group of its own (inside `parent`), dependents first: the
    step graph with its edges reversed. Returns the tasks."""
    groups: dict[str, TaskGroup] = {}
    for name in stack.graph.topological_order():
        step = stack.steps[name]
        renderer = renderer_for(step.kind).render_teardown
        if renderer is None:
            continue
        ctx = TeardownRenderContext(
            stack=stack,
            name=name,
            step=step,
            state_objects=stack.upstream_state_objects(name),
            retries=stack.retries_for(name),
            execution_timeout=timedelta(minutes=step.timeout_minutes),
        )
        with TaskGroup(group_id=name, parent_group=parent, tooltip=f"destroy {name}",
                       default_args=queue_args(profile, step.work)) as group:
            renderer(ctx)
        groups[name] = group
    for upstream, downstream in stack.graph.edges:
        if upstream in groups and downstream in groups:
            groups[downstream] >> groups[upstream]
    return [task for group in groups.values() for task in group.children.values() if not isinstance(task, TaskGroup)]


def build_teardown_dag(stack: Stack, profile: Profile | None = None) -> DAG:
    """Destroy every step, dependents first: the step graph with its edges reversed."""
    model = stack.model
    profile = profile or load_profile()
    with DAG(
        dag_id=stack.name + TEARDOWN_SUFFIX,
        description=f"Destroy the {stack.name} stack (dependents first)",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=sorted({"loadstack", "teardown", *model.tags}),
        doc_md=f"Tears down the `{stack.name}` stack. " + _doc(stack),
        default_args={"owner": model.owner, "retries": model.retries, "retry_delay": timedelta(seconds=20)},
        params={"variant": _variant_param(stack), "reason": _reason_param()},
    ) as dag:
        _render_destroys(stack, profile)
        add_teardown_bookkeeping(dag, stack)
        add_stack_lock(dag, stack)
    return dag


def stacks_dir() -> Path:
    return Path(os.environ.get("LOADSTACK_STACKS_DIR", PROJECT_ROOT / "include" / "stacks"))


def dags_for_file(dag_file: str) -> tuple[DAG, DAG]:
    """The stack DAG and its teardown DAG for the spec named like this DAG file.

    dags/shop.py → include/stacks/shop.yaml → DAGs `shop` and `shop__teardown`. A bad spec raises
    SpecError here, so it fails only this file's import, and Airflow shows the message among its
    import errors while every other stack still loads.
    """
    spec_path = stacks_dir() / f"{Path(dag_file).stem}.yaml"
    try:
        display = str(spec_path.relative_to(PROJECT_ROOT))
    except ValueError:
        display = str(spec_path)
    stack = load_stack(spec_path, display=display)
    profile = load_profile()
    return build_dag(stack, profile), build_teardown_dag(stack, profile)


