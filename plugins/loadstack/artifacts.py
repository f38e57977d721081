"""Build artifacts in S3 (packed MariaDB snapshots, Redis RDB files): one way up, one way down, one check.

Every object is uploaded with the SHA-256 of its bytes in its metadata (``sha256``). Every download
goes to a partial file next to its destination, is hashed, and replaces the destination only if the
hash matches; a mismatch deletes the partial file and raises `ArtifactError` naming bucket and key.
A downloaded file's hash is recorded beside it (``<file>.sha256``), so that `fetch` reuses a local
copy only while that record matches the object's.

Objects uploaded before the hash was recorded (no ``sha256`` metadata) are still downloaded, and
checked by size only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from loadstack.profiles import Profile

log = logging.getLogger(__name__)

SHA256_METADATA = "sha256"
# 64 MB parts, 4 at a time: a few hundred MB move in a handful of requests.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024, max_concurrency=4
)
_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class ArtifactError(RuntimeError):
    """An artifact could not be uploaded or downloaded, or its bytes are not the ones uploaded."""


@dataclass(frozen=True)
class StoredArtifact:
    bucket: str
    key: str
    size_bytes: int
    sha256: str
    etag: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _error_code(error: Exception) -> str | None:
    return getattr(error, "response", {}).get("Error", {}).get("Code")


def is_missing_object(error: Exception) -> bool:
    """Whether an S3 error says the object is not there (GET and HEAD say it differently); a missing
    bucket is not a missing object."""
    return _error_code(error) in ("404", "NoSuchKey", "NotFound")


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """An S3 object's bytes, or None when there is no such object (a missing bucket still raises)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing_object(exc):
            return None
        raise


# A conditional write (If-Match / If-None-Match) that lost: 412 when another version is there (or the one meant
# changed), 409 while another conditional write to the key is in flight.
_CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def is_write_conflict(error: Exception) -> bool:
    """Whether an S3 error says a conditional PUT or DELETE lost to another writer."""
    status = str(getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return _error_code(error) in _CONFLICT_CODES or status in ("409", "412")


def _record_path(path: Path) -> Path:
    """Where the SHA-256 of a downloaded file is recorded."""
    return path.with_name(path.name + ".sha256")


class ArtifactStore:
    """Artifacts in one bucket, through one boto3 S3 client."""

    def __init__(self, s3_client: Any, bucket: str, *, transfer_config: TransferConfig = TRANSFER_CONFIG) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.transfer_config = transfer_config

    @classmethod
    def of_profile(cls, profile: Profile) -> ArtifactStore:
        """The profile's snapshot bucket (see `ensure_snapshot_bucket` to create it locally)."""
        return cls(profile.client("s3"), profile.snapshot_bucket)

    def __repr__(self) -> str:
        return f"ArtifactStore(bucket={self.bucket!r})"

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # --- up -----------------------------------------------------------------------------------
    def upload(self, path: Path | str, key: str, *, metadata: Mapping[str, Any] | None = None) -> StoredArtifact:
        """Upload `path` to `key` with its SHA-256 (and `metadata`, as strings) in the object's metadata."""
        path = Path(path)
        digest = file_sha256(path)
        size = path.stat().st_size
        meta = {**{k: str(v) for k, v in (metadata or {}).items()}, SHA256_METADATA: digest}
        try:
            self.s3.upload_file(str(path), self.bucket, key, ExtraArgs={"Metadata": meta}, Config=self.transfer_config)
        except Exception as error:  # boto3's S3UploadFailedError carries the code only in its text
            if _error_code(error) == "NoSuchBucket" or "NoSuchBucket" in str(error):
                raise ArtifactError(
                    f"S3 bucket {self.bucket} does not exist: create it first "
                    "(loadstack.artifacts.ensure_snapshot_bucket does on the local profile)"
                ) from error
            raise
        head = self._head(key)
        stored = head.get("Metadata", {}).get(SHA256_METADATA)
        if head["ContentLength"] != size or stored != digest:
            raise ArtifactError(
                f"{self.url(key)} holds {head['ContentLength']} bytes with SHA-256 {stored}, "
                f"not the {size} bytes with SHA-256 {digest} of {path}"
            )
        return StoredArtifact(bucket=self.bucket, key=key, size_bytes=size, sha256=digest, etag=head["ETag"])

    # --- down ---------------------------------------------------------------------------------
    def download(self, key: str, dest: Path | str) -> Path:
        """Download `key` to `dest` (replaced atomically, only by verified bytes); returns `dest`."""
        return self._download(key, Path(dest), self._head(key))

    def fetch(self, key: str, cache_path: Path | str) -> Path:
        """`cache_path` holding `key`'s bytes: the copy already there if its recorded SHA-256 and size
        are the object's, else a fresh verified download."""
        cache_path = Path(cache_path)
        head = self._head(key)
        expected = head.get("Metadata", {}).get(SHA256_METADATA)
        try:
            recorded = _record_path(cache_path).read_text().strip()
            size = cache_path.stat().st_size
        except FileNotFoundError:
            recorded, size = None, None
        if recorded and size == head["ContentLength"] and (expected is None or recorded == expected):
            log.info("reusing %s for %s (SHA-256 %s)", cache_path, self.url(key), recorded[:12])
            return cache_path
        return self._download(key, cache_path, head)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise ArtifactError(f"no artifact at {self.url(key)} (or no bucket {self.bucket})") from error
            raise

    def _download(self, key: str, dest: Path, head: Mapping[str, Any]) -> Path:
        expected = head.get("Metadata", {}).get(SHA256_METADATA)
        dest.parent.mkdir(parents=True, exist_ok=True)
        record = _record_path(dest)
        record.unlink(missing_ok=True)  # whatever dest holds now is no longer vouched for
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
        try:
            self.s3.download_file(self.bucket, key, str(partial), Config=self.transfer_config)
            actual = file_sha256(partial)
            if expected is None:
                size = partial.stat().st_size
                if size != head["ContentLength"]:
                    raise ArtifactError(
                        f"{self.url(key)}: downloaded {size} bytes, the object has {head['ContentLength']}; "
                        f"deleted the partial download"
                    )
                log.warning("%s has no SHA-256 in its metadata (uploaded before it was recorded): checked its size only",
                            self.url(key))
            elif actual != expected:
                raise ArtifactError(
                    f"{self.url(key)}: the download's SHA-256 {actual} is not the {expected} recorded at upload "
                    f"(bucket {self.bucket}, key {key}); deleted the partial download, {dest} is unchanged"
                )
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
        record.write_text(actual + "\n")
        return dest


def ensure_snapshot_bucket(profile: Profile) -> None:
    """Create the profile's snapshot bucket if it is missing and the profile may (`creates_missing_buckets`)."""
    ensure_bucket(profile, profile.snapshot_bucket, "snapshot")


def ensure_bucket(profile: Profile, bucket: str, purpose: str) -> None:
    """Create `bucket` if it is missing and the profile may; else fail naming the bucket and its `purpose`."""
    s3 = profile.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if _error_code(exc) not in _MISSING:
            raise
    if not profile.creates_missing_buckets:
        raise ArtifactError(
            f"{purpose} bucket {bucket!r} does not exist in profile {profile.name!r}; "
            "create it (it is not created implicitly outside the local profile)"
        )
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if profile.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": profile.region}
    s3.create_bucket(**kwargs)
