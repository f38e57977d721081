"""The profile's AWS endpoint stopped or restarted under a run (loadstack.aws_endpoint): said in plain words, and
found out in seconds, never after minutes of retries.

A stopped endpoint is a closed loopback port; a restarted moto answers again, without the state bucket (moto's
in-process S3, the bucket deleted); a hung one is a socket that listens and never accepts (the kernel completes
the handshake, nobody ever answers).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from loadstack.aws_endpoint import PROBE_CONFIG, EndpointLost, check, explained, problem
from loadstack.profiles import Profile, load_profile

# Above what the probe's bounds allow against a silent endpoint (2 attempts x 3 s read + a back-off under 1 s),
# far below what an unbounded probe costs (botocore's defaults: 60 s a read, 3 attempts or more).
HANG_BOUND_S = 10.0


def local_profile_at(url: str, tmp_path) -> Profile:
    return load_profile({"LOADSTACK_PROFILE": "local", "LOADSTACK_AWS_ENDPOINT_URL": url,
                         "LOADSTACK_HOME": str(tmp_path)})


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released): moto stopped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections (the kernel's backlog) and never answers: moto hung."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def moto_profile(tmp_path, mocked_aws) -> Profile:
    """The local profile on moto's in-process AWS, its state bucket made (as `make up` does)."""
    profile = Profile(name="local", region="us-east-1", state_bucket="loadstack-tfstate", home=tmp_path,
                      terraform_bin="terraform", plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket=profile.state_bucket)
    return profile


def says_rerun(message: str) -> None:
    assert "moto keeps everything in memory" in message, message
    assert "`make up`" in message and "rerun the stack from scratch" in message, message


# --- healthy ------------------------------------------------------------------------------------------
def test_a_healthy_endpoint_is_no_problem(moto_profile):
    assert problem(moto_profile) is None
    check(moto_profile)  # raises nothing
    with explained(moto_profile, "taking the stack lock"):
        moto_profile.client("s3").head_bucket(Bucket=moto_profile.state_bucket)


# --- stopped --------------------------------------------------------------------------------------------
def test_a_stopped_endpoint_is_named_with_what_to_do(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}"
    profile = local_profile_at(url, tmp_path)
    found = problem(profile)
    assert found is not None
    assert found.startswith(f"the AWS endpoint {url} (the local profile's moto server) does not answer (")
    says_rerun(found)
    with pytest.raises(EndpointLost) as lost:
        check(profile)
    assert str(lost.value) == found


def test_a_boto3_call_on_a_stopped_endpoint_is_explained(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}"
    profile = local_profile_at(url, tmp_path)
    s3 = profile.client("s3", config=PROBE_CONFIG)  # the bounded client: the default one retries for long
    with pytest.raises(EndpointLost) as lost:
        with explained(profile, "reading the lock of stack shop"):
            s3.get_object(Bucket=profile.state_bucket, Key="loadstack/stack-locks/shop.json")
    assert str(lost.value).startswith(f"reading the lock of stack shop: the AWS endpoint {url} ")
    says_rerun(str(lost.value))


# --- restarted: it answers, without the state bucket ------------------------------------------------------
def test_a_restarted_moto_without_the_state_bucket_says_so(moto_profile):
    assert problem(moto_profile) is None
    moto_profile.client("s3").delete_bucket(Bucket=moto_profile.state_bucket)  # what moto's restart left
    found = problem(moto_profile)
    assert found is not None
    assert found.startswith("the state bucket 'loadstack-tfstate' is missing at ")
    assert "was restarted since the bucket was made" in found
    says_rerun(found)
    with pytest.raises(EndpointLost):
        check(moto_profile)


def test_a_boto3_call_on_a_lost_bucket_is_explained_and_other_errors_pass(moto_profile):
    s3 = moto_profile.client("s3")
    with pytest.raises(ClientError) as other:  # the bucket is there, the object is not: not this module's case
        with explained(moto_profile, "reading the lock of stack shop"):
            s3.get_object(Bucket=moto_profile.state_bucket, Key="missing.json")
    assert other.value.response["Error"]["Code"] == "NoSuchKey"
    s3.delete_bucket(Bucket=moto_profile.state_bucket)
    with pytest.raises(EndpointLost) as lost:
        with explained(moto_profile, "reading the lock of stack shop"):
            s3.get_object(Bucket=moto_profile.state_bucket, Key="missing.json")
    assert str(lost.value).startswith("reading the lock of stack shop: the state bucket 'loadstack-tfstate' is missing")


def test_on_aws_a_missing_bucket_asks_for_the_right_one(tmp_path, mocked_aws):
    profile = Profile(name="aws", region="eu-west-1", state_bucket="acme-tfstate", home=tmp_path,
                      terraform_bin="terraform", plugin_mirror=tmp_path)
    found = problem(profile)
    assert found is not None and "does not exist in eu-west-1" in found and "LOADSTACK_STATE_BUCKET" in found
    assert "moto" not in found


# --- bounded in time ------------------------------------------------------------------------------------
def test_the_probe_gives_up_on_an_endpoint_that_never_answers(silent_port, tmp_path):
    url = f"http://127.0.0.1:{silent_port}"
    profile = local_profile_at(url, tmp_path)
    found: list[str | None] = []
    # In a thread, so a probe without bounds fails this test instead of hanging it (the fixture's socket closes
    # after the test, and that ends the thread's connection).
    thread = threading.Thread(target=lambda: found.append(problem(profile)), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(HANG_BOUND_S)
    took = time.monotonic() - started
    assert not thread.is_alive(), f"problem() still waits on a silent endpoint after {took:.0f} s"
    [message] = found
    assert message is not None and message.startswith(f"the AWS endpoint {url} (the local profile's moto server) "
                                                      "does not answer")
    says_rerun(message)
