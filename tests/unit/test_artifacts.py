"""loadstack.artifacts on moto: SHA-256 recorded at upload, verified after every download, cached copies."""

from __future__ import annotations

import dataclasses
import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError

from loadstack.artifacts import (
    ArtifactError,
    ArtifactStore,
    ensure_snapshot_bucket,
    file_sha256,
    is_write_conflict,
    read_object,
)

BUCKET = "loadstack-snapshots"


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3) -> ArtifactStore:
    return ArtifactStore(s3, BUCKET)


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "build" / "shop.tar.zst"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 4000)
    return path


def _downloads(store: ArtifactStore, monkeypatch) -> list[str]:
    """Records every download the store makes."""
    seen: list[str] = []
    real = store.s3.download_file

    def spy(bucket, key, filename, **kwargs):
        seen.append(key)
        return real(bucket, key, filename, **kwargs)

    monkeypatch.setattr(store.s3, "download_file", spy)
    return seen


def test_upload_records_the_sha256_and_download_checks_it(store, s3, artifact, tmp_path):
    stored = store.upload(artifact, "mariadb/shop.tar.zst", metadata={"schema-hash": "abc", "rows": 42})
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert stored.sha256 == digest == file_sha256(artifact)
    assert (stored.bucket, stored.key, stored.size_bytes) == (BUCKET, "mariadb/shop.tar.zst", artifact.stat().st_size)
    head = s3.head_object(Bucket=BUCKET, Key="mariadb/shop.tar.zst")
    assert head["Metadata"] == {"schema-hash": "abc", "rows": "42", "sha256": digest}
    assert stored.as_dict()["etag"] == head["ETag"]

    dest = store.download("mariadb/shop.tar.zst", tmp_path / "down" / "shop.tar.zst")
    assert dest.read_bytes() == artifact.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["shop.tar.zst", "shop.tar.zst.sha256"]  # no partial file
    assert (dest.parent / "shop.tar.zst.sha256").read_text().strip() == digest


def test_a_corrupted_download_is_deleted_and_named(store, s3, artifact, tmp_path):
    stored = store.upload(artifact, "redis/shop.rdb")
    # The object's bytes change, its recorded hash does not (a bad copy, a broken transfer).
    s3.put_object(Bucket=BUCKET, Key="redis/shop.rdb", Body=b"REDIS-tampered", Metadata={"sha256": stored.sha256})
    dest = tmp_path / "down" / "shop.rdb"
    with pytest.raises(ArtifactError, match=f"s3://{BUCKET}/redis/shop.rdb: the download's SHA-256 .* is not the {stored.sha256}"):
        store.download("redis/shop.rdb", dest)
    assert list(dest.parent.iterdir()) == []  # neither the partial file nor a destination


def test_fetch_reuses_a_cached_copy_only_while_its_recorded_sha256_matches(store, s3, artifact, tmp_path, monkeypatch):
    downloads = _downloads(store, monkeypatch)
    cached = tmp_path / "cache" / "shop.tar.zst"
    store.upload(artifact, "k")
    assert store.fetch("k", cached).read_bytes() == artifact.read_bytes()
    assert store.fetch("k", cached) == cached
    assert downloads == ["k"]  # the second fetch reused the copy

    (cached.parent / "shop.tar.zst.sha256").write_text("0" * 64)  # a record that is not the object's
    store.fetch("k", cached)
    assert downloads == ["k", "k"]

    (cached.parent / "shop.tar.zst.sha256").unlink()  # a copy with no record (e.g. an interrupted fetch)
    store.fetch("k", cached)
    assert downloads == ["k", "k", "k"]

    artifact.write_bytes(b"a new build under the same key")
    store.upload(artifact, "k")
    assert store.fetch("k", cached).read_bytes() == b"a new build under the same key"
    assert len(downloads) == 4


def test_an_object_without_a_recorded_sha256_is_checked_by_size(store, s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="mariadb/old.tar.zst", Body=b"built before hashes were recorded")
    dest = store.fetch("mariadb/old.tar.zst", tmp_path / "old.tar.zst")
    assert dest.read_bytes() == b"built before hashes were recorded"
    assert (tmp_path / "old.tar.zst.sha256").read_text().strip() == file_sha256(dest)


def test_missing_objects_and_buckets_are_named(store, s3, artifact, tmp_path):
    with pytest.raises(ArtifactError, match=f"no artifact at s3://{BUCKET}/redis/none.rdb"):
        store.download("redis/none.rdb", tmp_path / "none.rdb")
    assert not (tmp_path / "none.rdb").exists()
    with pytest.raises(ArtifactError, match="S3 bucket nope does not exist"):
        ArtifactStore(s3, "nope").upload(artifact, "k")
    with pytest.raises(ArtifactError, match="no artifact at s3://nope/k"):
        ArtifactStore(s3, "nope").fetch("k", tmp_path / "k")


def test_ensure_snapshot_bucket_creates_it_on_the_local_profile_only(tmp_path, monkeypatch):
    from moto import mock_aws

    from loadstack.profiles import load_profile

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    local = dataclasses.replace(load_profile({"LOADSTACK_PROFILE": "local", "LOADSTACK_HOME": str(tmp_path)}),
                                endpoint_url=None)
    with mock_aws():
        ensure_snapshot_bucket(local)
        ensure_snapshot_bucket(local)  # present: nothing to do
        local.client("s3").head_bucket(Bucket=local.snapshot_bucket)
        elsewhere = dataclasses.replace(local, name="aws", snapshot_bucket="not-there")
        with pytest.raises(ArtifactError, match="'not-there' does not exist in profile 'aws'"):
            ensure_snapshot_bucket(elsewhere)


@pytest.mark.parametrize(("code", "status", "conflict"), [
    ("PreconditionFailed", 412, True), ("ConditionalRequestConflict", 409, True), ("", 412, True),
    ("NoSuchKey", 404, False), ("AccessDenied", 403, False),
])
def test_a_lost_conditional_write_is_told_from_other_errors(code, status, conflict):
    error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
    assert is_write_conflict(error) is conflict


def test_read_object_is_none_for_a_missing_object_but_a_missing_bucket_raises(s3):
    s3.put_object(Bucket=BUCKET, Key="loadstack/x.json", Body=b'{"a": 1}')
    assert read_object(s3, BUCKET, "loadstack/x.json") == b'{"a": 1}'
    assert read_object(s3, BUCKET, "loadstack/none.json") is None
    with pytest.raises(ClientError):
        read_object(s3, "no-such-bucket", "loadstack/x.json")
