"""The dags/ folder as Airflow parses it: no import errors, one DAG per spec, and isolation of bad specs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STACKS = ROOT / "include" / "stacks"
DAGS = ROOT / "dags"
# DAG files named loadstack_* are the platform's own (snapshots, ...), not stacks.
PLATFORM_DAGS = ["loadstack_drift", "loadstack_reaper", "loadstack_snapshots"]


def dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder), safe_mode=True)


def test_no_import_errors_and_a_stack_and_teardown_dag_per_spec():
    bag = dagbag(DAGS)
    assert bag.import_errors == {}
    stems = [p.stem for p in STACKS.glob("*.yaml")]
    assert sorted(bag.dag_ids) == sorted([*stems, *(f"{s}__teardown" for s in stems), *PLATFORM_DAGS])


def test_every_spec_has_its_dag_file_and_every_dag_file_a_spec():
    specs = {p.stem for p in STACKS.glob("*.yaml")}
    dag_files = {p.stem for p in DAGS.glob("*.py") if not p.name.startswith(("_", "loadstack_"))}
    assert specs == dag_files


def test_dags_carry_owner_tags_and_retries():
    for dag_id, dag in dagbag(DAGS).dags.items():
        assert "loadstack" in dag.tags, dag_id
        assert dag.max_active_runs == 1
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", task.task_id
            assert task.retries is not None and task.retries >= 0


def test_a_bad_spec_fails_only_its_own_dag(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    dags = tmp_path / "dags"
    stacks.mkdir()
    dags.mkdir()
    shutil.copy(STACKS / "shop.yaml", stacks / "shop.yaml")
    (stacks / "broken.yaml").write_text(
        "name: broken\ndescription: x\nowner: sre\nsteps:\n"
        "  app: {kind: terraform, module: app_cluster, dependz: [network]}\n"
    )
    for name in ("shop", "broken"):
        shutil.copy(DAGS / "shop.py", dags / f"{name}.py")
    monkeypatch.setenv("LOADSTACK_STACKS_DIR", str(stacks))
    # Modules resolve next to the specs' parent: point them at the real ones.
    (tmp_path / "terraform").symlink_to(ROOT / "include" / "terraform")
    (tmp_path / "snapshots").symlink_to(ROOT / "include" / "snapshots")

    bag = dagbag(dags)
    assert sorted(bag.dag_ids) == ["shop", "shop__teardown"]
    assert list(bag.import_errors) == [str(dags / "broken.py")]
    message = bag.import_errors[str(dags / "broken.py")]
    assert f"{stacks / 'broken.yaml'}: steps.app.dependz: unknown key 'dependz' (did you mean 'depends'?)" in message


def test_variant_param_rejects_values_outside_the_enum():
    from airflow.sdk.definitions.param import ParamValidationError

    variant = dagbag(DAGS).dags["shop"].params.get_param("variant")
    assert variant.resolve("production") == "production"
    with pytest.raises(ParamValidationError):
        variant.resolve("huge")
