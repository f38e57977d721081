"""The HCL-lite reader: blocks, module sources and backend declarations found without Terraform."""

from __future__ import annotations

import json

from loadstack.terraform.module import module_calls, module_outputs, module_variables, skeleton_of, state_storage

TRICKY = '''
# module "commented" { source = "../nope" }
/* module "in_block_comment" {
  source = "../nope"
} */
locals {
  text = "module \\"in_string\\" { source = \\"../nope\\" } ${var.x == "}" ? "{" : "}"}"
  doc  = <<-EOT
    module "in_heredoc" {
      source = "../nope"
    }
  EOT
  map = { a = "{", b = "}" }
}

variable "name" {
  type = string
}

module "network" {
  # a comment with a brace {
  source = "../modules/network"   // trailing comment
  cidr   = "10.0.0.0/16"
  tags = {
    source = "not/the/source"
  }
}

module "registry" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.0"
}
'''


def test_skeleton_keeps_offsets_and_blanks_what_is_not_structure():
    skeleton = skeleton_of(TRICKY)
    assert len(skeleton) == len(TRICKY)
    assert skeleton.count("\n") == TRICKY.count("\n")
    assert "nope" not in skeleton and "in_heredoc" not in skeleton
    assert skeleton.count("{") == skeleton.count("}")


def test_module_calls_ignore_comments_strings_heredocs_and_nested_attributes(tmp_path):
    (tmp_path / "main.tf").write_text(TRICKY)
    calls = module_calls(tmp_path)
    assert [(c.name, c.source, c.line) for c in calls] == [
        ("network", "../modules/network", 20),
        ("registry", "terraform-aws-modules/vpc/aws", 29),
    ]
    assert module_variables(tmp_path) == {"name"}


def test_json_syntax_files_count_and_loadstack_overrides_do_not(tmp_path):
    (tmp_path / "main.tf.json").write_text(json.dumps({
        "variable": {"size": {"type": "number"}},
        "module": {"db": {"source": "../modules/db"}},
        "terraform": [{"backend": {"local": {"path": "x.tfstate"}}}],
    }))
    (tmp_path / "loadstack_backend_override.tf.json").write_text('{"terraform": {"backend": {"s3": {}}}}')
    assert module_variables(tmp_path) == {"size"}
    assert [(c.name, c.source) for c in module_calls(tmp_path)] == [("db", "../modules/db")]
    assert [(s.kind, s.settings) for s in state_storage(tmp_path)] == [("local", ("path",))]


def test_state_storage_reads_backend_and_cloud_blocks(tmp_path):
    (tmp_path / "versions.tf").write_text(
        'terraform {\n  required_version = ">= 1.5"\n  backend "s3" {}\n}\n'
        'terraform {\n  cloud {\n    organization = "acme"\n    workspaces {\n      name = "x"\n    }\n  }\n}\n'
        'terraform {\n  backend "s3" {\n    bucket = "mine"\n    key    = "k"\n  }\n}\n'
    )
    found = [(s.kind, s.settings, s.line) for s in state_storage(tmp_path)]
    assert found == [("s3", (), 3), ("cloud", ("organization",), 6), ("s3", ("bucket", "key"), 14)]


def test_a_module_without_configuration_has_nothing(tmp_path):
    assert module_calls(tmp_path) == [] and state_storage(tmp_path) == [] and module_variables(tmp_path) == set()


def test_module_outputs_are_the_output_blocks_not_comments_strings_or_heredocs(tmp_path):
    (tmp_path / "outputs.tf").write_text(
        '# output "commented" {\n'
        '/* output "in_block_comment" { value = 1 } */\n'
        'output "url" {\n  value = "http://${aws_lb.x.dns_name}" # output "trailing" {\n}\n'
        'output "ids" { value = [for s in aws_subnet.x : s.id] }\n'
        'locals {\n  doc = <<-EOT\n    output "in_heredoc" {\n    }\n  EOT\n}\n'
        'resource "x" "y" {\n  output "nested" {}\n}\n'
    )
    (tmp_path / "more.tf.json").write_text(json.dumps({"output": {"from_json": {"value": "x"}}}))
    (tmp_path / "notes.txt").write_text('output "not_configuration" {}\n')
    assert module_outputs(tmp_path) == {"url", "ids", "from_json"}
    assert module_outputs(tmp_path / "missing") == set()
