"""The profile's AWS endpoint gone from under a run: stopped, or restarted with nothing in it.

The local profile's moto server keeps everything in memory. Stopped, every call fails; restarted, it answers
again, but every resource a run made and every bucket (the Terraform state with them) are gone. Neither
Terraform's errors ("S3 bucket does not exist", "connection refused", "Failed to save state") nor boto3's say
that, or what to do: start moto again, then rerun the stack from scratch, since retrying a task cannot bring
back what the restart lost. `problem()` asks the endpoint (one HEAD of the state bucket, bounded in time) and
says it in those words; `explained()` turns such an error of a boto3 call into that message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from loadstack.profiles import Profile

# The probe's own bounds: on loopback moto answers at once, or is down. Two attempts in all (botocore's
# `max_attempts` counts retries on top of the first), so an endpoint that takes the connection and never answers
# costs about 2 x 3 s plus one back-off, never minutes.
PROBE_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2})
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


class EndpointLost(RuntimeError):
    """The profile's AWS endpoint does not answer, or lost the state bucket: the message says what to do."""


RERUN = ("moto keeps everything in memory: every resource and all Terraform state this stack had there are gone. "
         "Once moto is up with its buckets again (`make up` starts it and creates them), rerun the stack from "
         "scratch: retrying this task cannot bring them back.")


def unreachable_message(profile: Profile, error: Exception) -> str:
    if profile.is_local:
        return (f"the AWS endpoint {profile.endpoint_url} (the local profile's moto server) does not answer "
                f"({error}). If it stopped or restarted during this run: {RERUN}")
    return f"cannot reach AWS in {profile.region} ({error}): check the network, and the AWS connection's endpoint"


def missing_state_bucket_message(profile: Profile) -> str:
    if profile.is_local:
        return (f"the state bucket {profile.state_bucket!r} is missing at {profile.endpoint_url}: that moto server "
                f"was restarted since the bucket was made (or never had it). {RERUN}")
    return (f"the state bucket {profile.state_bucket!r} does not exist in {profile.region}: create it (with "
            "versioning), or set LOADSTACK_STATE_BUCKET to the right one")


def problem(profile: Profile) -> str | None:
    """What is wrong with the endpoint, as a message; None when the state bucket is there and answers."""
    try:
        profile.client("s3", config=PROBE_CONFIG).head_bucket(Bucket=profile.state_bucket)
    except UNREACHABLE as exc:
        return unreachable_message(profile, exc)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING_BUCKET:
            return missing_state_bucket_message(profile)
        return None  # denied, throttled...: not this module's business
    except BotoCoreError:
        return None
    return None


def check(profile: Profile) -> None:
    """Raise EndpointLost when the endpoint does not answer or the state bucket is missing."""
    found = problem(profile)
    if found:
        raise EndpointLost(found)


@contextmanager
def explained(profile: Profile, what: str) -> Iterator[None]:
    """Around boto3 calls on the state bucket: an unreachable endpoint, or a missing bucket, becomes EndpointLost
    saying what to do (`what`: the action, e.g. "taking the stack lock"); other errors pass unchanged."""
    try:
        yield
    except UNREACHABLE as exc:
        raise EndpointLost(f"{what}: {unreachable_message(profile, exc)}") from exc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        raise EndpointLost(f"{what}: {missing_state_bucket_message(profile)}") from exc
