"""The S3 backend every step gets: the override body, declarations that conflict, the post-init guard."""

from __future__ import annotations

import json

import pytest

from loadstack.terraform.s3_backend import (
    BACKEND_OVERRIDE_FILE,
    LocalStateError,
    foreign_state_storage,
    verify_remote_state,
    write_backend_override,
)


def test_override_file_declares_an_empty_s3_backend(tmp_path):
    write_backend_override(tmp_path)
    assert BACKEND_OVERRIDE_FILE.endswith("_override.tf.json")  # Terraform merges *_override files last
    assert json.loads((tmp_path / BACKEND_OVERRIDE_FILE).read_text()) == {"terraform": {"backend": {"s3": {}}}}


@pytest.mark.parametrize(
    "versions, expected",
    [
        ("terraform {\n}\n", []),
        ('terraform {\n  backend "s3" {}\n}\n', []),
        ('terraform {\n  backend "local" {}\n}\n', ['declares backend "local"']),
        ('terraform {\n  backend "remote" {\n    organization = "x"\n  }\n}\n', ['declares backend "remote"']),
        ('terraform {\n  cloud {\n    organization = "x"\n  }\n}\n', ["declares a `cloud` block (HCP Terraform)"]),
        ('terraform {\n  backend "s3" {\n    bucket = "b"\n  }\n}\n', ['sets bucket in backend "s3"']),
    ],
)
def test_only_an_empty_s3_backend_or_none_is_accepted(tmp_path, versions, expected):
    (tmp_path / "versions.tf").write_text(versions)
    assert [what for _, what in foreign_state_storage(tmp_path)] == expected


def init_state(tmp_path, backend):
    (tmp_path / ".terraform").mkdir()
    (tmp_path / ".terraform" / "terraform.tfstate").write_text(json.dumps({"version": 3, "backend": backend}))


def test_guard_accepts_s3_in_the_profiles_bucket(tmp_path):
    init_state(tmp_path, {"type": "s3", "config": {"bucket": "state"}})
    verify_remote_state(tmp_path, bucket="state")


@pytest.mark.parametrize(
    "backend, match",
    [
        ({"type": "local", "config": {"path": "x"}}, "backend 'local'"),
        ({"type": "s3", "config": {"bucket": "someone-elses"}}, "bucket 'someone-elses'"),
    ],
)
def test_guard_refuses_any_other_backend(tmp_path, backend, match):
    init_state(tmp_path, backend)
    with pytest.raises(LocalStateError, match=match):
        verify_remote_state(tmp_path, bucket="state")


def test_guard_refuses_local_state_files_and_a_missing_backend_record(tmp_path):
    with pytest.raises(LocalStateError, match="cannot read"):
        verify_remote_state(tmp_path, bucket="state")
    init_state(tmp_path, {"type": "s3", "config": {"bucket": "state"}})
    (tmp_path / "terraform.tfstate").write_text("{}")
    with pytest.raises(LocalStateError, match="keep state in its working copy"):
        verify_remote_state(tmp_path, bucket="state")
