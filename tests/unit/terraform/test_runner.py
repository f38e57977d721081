"""The working copy a step runs in: the modules root copied, overrides, private var file, profile overrides."""

from __future__ import annotations

import json
import stat

from loadstack.profiles import load_profile
from loadstack.terraform.runner import OVERRIDE_FILE, VARS_FILE, TerraformRunner
from loadstack.terraform.s3_backend import BACKEND_OVERRIDE_FILE


def make_module(root, declared):
    module = root / "modules_root" / "module"
    (module / ".terraform").mkdir(parents=True)
    (module / ".terraform" / "junk").write_text("x")
    (module / "terraform.tfstate").write_text("{}")
    (module / "variables.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in declared))
    (module / "minimal.tfvars").write_text('name = "x"\n')
    shared = root / "modules_root" / "modules" / "shared"
    shared.mkdir(parents=True)
    (shared / "main.tf").write_text('variable "x" {}\n')
    return module


def test_prepare_copies_module_without_local_state_and_writes_private_var_file(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    module = make_module(tmp_path, ["name", "instance_refresh"])
    hook = TerraformRunner(profile=profile, working_dir=tmp_path / "work" / "step")
    files = hook.prepare(module, "minimal", {"name": "shop", "instance_refresh": True})
    work = hook.terraform_dir
    assert work == tmp_path / "work" / "step" / "module"
    # The rest of the modules root comes along, so `source = "../modules/shared"` resolves.
    assert (work.parent / "modules" / "shared" / "main.tf").is_file()
    assert files == ["minimal.tfvars", VARS_FILE]
    assert not (work / ".terraform").exists() and not (work / "terraform.tfstate").exists()
    assert json.loads((work / VARS_FILE).read_text()) == {"instance_refresh": False, "name": "shop"}
    assert stat.S_IMODE((work / VARS_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(hook.working_dir.stat().st_mode) == 0o700
    override = json.loads((work / OVERRIDE_FILE).read_text())
    assert override["provider"]["aws"]["allowed_account_ids"] == ["123456789012"]
    assert json.loads((work / BACKEND_OVERRIDE_FILE).read_text()) == {"terraform": {"backend": {"s3": {}}}}
    assert not (module / BACKEND_OVERRIDE_FILE).exists()
    hook.cleanup(keep_working_dir=True)
    assert not (work / VARS_FILE).exists() and (work / "variables.tf").exists()
    hook.cleanup(keep_working_dir=False)
    assert not hook.working_dir.exists()


def test_profile_overrides_only_reach_modules_that_declare_them(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    module = make_module(tmp_path, ["name"])
    hook = TerraformRunner(profile=profile, working_dir=tmp_path / "work" / "step")
    hook.prepare(module, "production", {"name": "shop"})
    assert json.loads((hook.terraform_dir / VARS_FILE).read_text()) == {"name": "shop"}


def test_a_module_without_a_lock_file_is_initialised_with_a_writable_lock(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    module = make_module(tmp_path, ["name"])
    hook = TerraformRunner(profile=profile, working_dir=tmp_path / "work" / "step")
    hook.prepare(module, "minimal", {"name": "shop"})
    assert hook.committed_lock is False
    (module / ".terraform.lock.hcl").write_text("# pinned\n")
    hook.prepare(module, "minimal", {"name": "shop"})
    assert hook.committed_lock is True
    assert (hook.terraform_dir / ".terraform.lock.hcl").read_text() == "# pinned\n"
