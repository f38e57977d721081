"""The working copy's layout: the modules root without local state, plans or loadstack's own files."""

from __future__ import annotations

import pytest

from loadstack.terraform.working_copy import copy_modules_root, has_committed_lock, module_path


def test_copy_keeps_relative_positions_and_drops_local_state(tmp_path):
    root = tmp_path / "terraform"
    for rel, text in {
        "app/main.tf": 'module "s" {\n  source = "../modules/s"\n}\n',
        "app/.terraform.lock.hcl": "# lock\n",
        "app/.terraform/modules/modules.json": "{}",
        "app/terraform.tfstate": "{}",
        "app/terraform.tfstate.backup": "{}",
        "app/terraform.tfstate.d/dev/terraform.tfstate": "{}",
        "app/tfplan": "plan",
        "app/loadstack.auto.tfvars.json": "{}",
        "app/loadstack_backend_override.tf.json": "{}",
        "modules/s/main.tf": 'variable "x" {}\n',
        "modules/s/templates/user_data.tftpl": "#!/bin/sh\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    work = copy_modules_root(root, root / "app", tmp_path / "run" / "step")
    assert work == tmp_path / "run" / "step" / "app"
    copied = sorted(p.relative_to(tmp_path / "run" / "step").as_posix() for p in (tmp_path / "run" / "step").rglob("*") if p.is_file())
    assert copied == ["app/.terraform.lock.hcl", "app/main.tf", "modules/s/main.tf", "modules/s/templates/user_data.tftpl"]
    # A second prepare starts from scratch.
    (work / "stale").write_text("x")
    copy_modules_root(root, root / "app", tmp_path / "run" / "step")
    assert not (work / "stale").exists()


def test_a_working_copy_inside_the_root_or_a_module_outside_it_is_refused(tmp_path):
    root = tmp_path / "terraform"
    (root / "app").mkdir(parents=True)
    with pytest.raises(ValueError, match="inside the modules root"):
        copy_modules_root(root, root / "app", root / "work")
    with pytest.raises(ValueError, match="not inside the modules root"):
        module_path(tmp_path / "elsewhere", root)


def test_only_the_root_modules_own_lock_file_counts(tmp_path):
    (tmp_path / "app").mkdir()
    assert not has_committed_lock(tmp_path / "app")
    (tmp_path / "app" / ".terraform.lock.hcl").write_text("")
    assert has_committed_lock(tmp_path / "app")
