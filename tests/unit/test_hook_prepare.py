"""The working copy a step runs in: module copy, override file, private var file, profile overrides."""

from __future__ import annotations

import json
import stat

from loadstack.profiles import load_profile
from loadstack.terraform.runner import OVERRIDE_FILE, VARS_FILE, TerraformRunner


def make_module(root, declared):
    module = root / "module"
    (module / ".terraform").mkdir(parents=True)
    (module / ".terraform" / "junk").write_text("x")
    (module / "terraform.tfstate").write_text("{}")
    (module / "variables.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in declared))
    (module / "minimal.tfvars").write_text('name = "x"\n')
    return module


def test_prepare_copies_module_without_local_state_and_writes_private_var_file(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    module = make_module(tmp_path, ["name", "instance_refresh"])
    hook = TerraformRunner(profile=profile, working_dir=tmp_path / "work" / "step")
    files = hook.prepare(module, "minimal", {"name": "shop", "instance_refresh": True})
    work = hook.working_dir
    assert files == ["minimal.tfvars", VARS_FILE]
    assert not (work / ".terraform").exists() and not (work / "terraform.tfstate").exists()
    assert json.loads((work / VARS_FILE).read_text()) == {"instance_refresh": False, "name": "shop"}
    assert stat.S_IMODE((work / VARS_FILE).stat().st_mode) == 0o600
    override = json.loads((work / OVERRIDE_FILE).read_text())
    assert override["provider"]["aws"]["allowed_account_ids"] == ["123456789012"]
    hook.cleanup(keep_working_dir=True)
    assert not (work / VARS_FILE).exists() and (work / "variables.tf").exists()
    hook.cleanup(keep_working_dir=False)
    assert not work.exists()


def test_profile_overrides_only_reach_modules_that_declare_them(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    module = make_module(tmp_path, ["name"])
    hook = TerraformRunner(profile=profile, working_dir=tmp_path / "work" / "step")
    hook.prepare(module, "production", {"name": "shop"})
    assert json.loads((hook.working_dir / VARS_FILE).read_text()) == {"name": "shop"}
