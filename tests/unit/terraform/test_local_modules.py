"""Local module sources: resolved transitively inside the modules root, problems named per call."""

from __future__ import annotations

from loadstack.terraform.local_modules import is_local_source, local_module_dirs


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def call(name, source):
    return f'module "{name}" {{\n  source = "{source}"\n}}\n'


def test_local_sources_are_those_terraform_treats_as_paths():
    assert is_local_source("../modules/x") and is_local_source("./child")
    assert not is_local_source("terraform-aws-modules/vpc/aws")
    assert not is_local_source("git::https://example.com/x.git")
    assert not is_local_source("modules/x")  # Terraform reads this as a registry address


def test_transitive_calls_are_followed_once(tmp_path):
    root = tmp_path / "terraform"
    write(root / "app" / "main.tf", call("svc", "../modules/service") + call("svc2", "../modules/service"))
    write(root / "modules" / "service" / "main.tf", call("tags", "../tags") + call("inner", "./inner"))
    write(root / "modules" / "tags" / "main.tf", call("back", "../service"))
    write(root / "modules" / "service" / "inner" / "main.tf", 'variable "x" {}\n')
    found, problems = local_module_dirs(root / "app", root)
    assert problems == []
    assert [p.relative_to(root).as_posix() for p in found] == [
        "modules/service", "modules/tags", "modules/service/inner",
    ]


def test_calls_that_leave_the_root_or_point_at_nothing_are_problems(tmp_path):
    root = tmp_path / "terraform"
    write(tmp_path / "elsewhere" / "main.tf", 'variable "x" {}\n')
    write(root / "modules" / "empty" / "README.md", "no configuration here\n")
    write(root / "app" / "main.tf", call("out", "../../elsewhere") + call("gone", "../modules/gone")
          + call("empty", "../modules/empty") + call("registry", "hashicorp/consul/aws"))
    write(root / "modules" / "ok" / "main.tf", call("deep_out", "../../../elsewhere"))
    write(root / "app" / "more.tf", call("ok", "../modules/ok"))
    found, problems = local_module_dirs(root / "app", root)
    assert [p.relative_to(root).as_posix() for p in found] == ["modules/ok"]
    assert [(p.call.name, p.reason, p.call.file.name) for p in problems] == [
        ("out", "outside", "main.tf"), ("gone", "missing", "main.tf"), ("empty", "empty", "main.tf"),
        ("deep_out", "outside", "main.tf"),
    ]
    assert problems[0].target == tmp_path / "elsewhere"
