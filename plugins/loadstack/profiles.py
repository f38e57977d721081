"""Where a stack runs: the `local` profile (moto on loopback) or the `aws` profile (a real account).

A profile is read once from `LOADSTACK_*` environment variables and answers every question a step
asks about its surroundings: which endpoint and credentials boto3 and Terraform use, where the
remote state lives, and which account a run is allowed to touch.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlparse

import boto3

from loadstack.queues import INFRA, SERVICES, QueuesError, TaskQueues

MOTO_ACCOUNT_ID = "123456789012"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROFILE_NAMES = ("local", "aws")
# How the aws profile gets its boto3 session. Inside Airflow: from the AWS connection's hook
# (`loadstack.airflow.profile`), whose assumed-role credentials refresh during multi-hour tasks.
SessionFactory = Callable[["Profile"], boto3.session.Session]


_MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class ProfileError(RuntimeError):
    """The environment does not describe a usable profile; the message says which variable to fix."""


@dataclass(frozen=True)
class AuroraBuildSettings:
    """Where the aws profile builds database snapshots: a temporary Aurora cluster in the account's VPC.

    The workers must reach the cluster (same VPC or peered, a security group allowing 3306), and its
    cluster parameter group must allow `local_infile` (seeding loads with LOAD DATA LOCAL INFILE).
    """

    engine: str = "aurora-mysql"
    engine_version: str | None = None
    instance_class: str = "db.r6g.large"
    subnet_group: str | None = None
    security_group_ids: tuple[str, ...] = ()
    cluster_parameter_group: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AuroraBuildSettings":
        return cls(
            engine=env.get("LOADSTACK_BUILD_ENGINE") or cls.engine,
            engine_version=env.get("LOADSTACK_BUILD_ENGINE_VERSION") or None,
            instance_class=env.get("LOADSTACK_BUILD_INSTANCE_CLASS") or cls.instance_class,
            subnet_group=env.get("LOADSTACK_BUILD_DB_SUBNET_GROUP") or None,
            security_group_ids=tuple(g for g in env.get("LOADSTACK_BUILD_SECURITY_GROUP_IDS", "").split(",") if g),
            cluster_parameter_group=env.get("LOADSTACK_BUILD_DB_CLUSTER_PARAMETER_GROUP") or None,
        )


@dataclass(frozen=True)
class Profile:
    name: str
    region: str
    state_bucket: str
    home: Path
    terraform_bin: str
    plugin_mirror: Path
    snapshot_bucket: str = "loadstack-snapshots"
    # Ramp reports (timeline, charts, HTML page) under reports/<stack>/<run>/<step>/.
    report_bucket: str = "loadstack-reports"
    endpoint_url: str | None = None
    aws_conn_id: str | None = None
    zookeeper_hosts: str = "127.0.0.1:2181"
    # Local runs may only ever see moto's account; a real account id here means a misrouted endpoint.
    allowed_account_ids: tuple[str, ...] = field(default=())
    aurora_build: AuroraBuildSettings = field(default_factory=AuroraBuildSettings)
    # Which Celery queue runs which class of work (LOADSTACK_QUEUES); empty: Airflow's default queue.
    queues: TaskQueues = field(default_factory=TaskQueues)
    # A standing Locust master (loadstack.locust.service) that ramps attach to instead of starting their own.
    locust_master_url: str | None = None
    session_factory: SessionFactory | None = field(default=None, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    @property
    def creates_missing_buckets(self) -> bool:
        """moto starts empty, so the local profile makes the buckets it needs; in a real account they
        are the account owner's to create (with their policies), never made implicitly."""
        return self.is_local

    def queue_for(self, work: str) -> str | None:
        """The queue of a class of work (loadstack.queues). Only the local profile's servers are processes tied
        to the host that started them; on aws a step's resources answer any worker, so they go with infra."""
        if work == SERVICES and not self.is_local:
            work = INFRA
        return self.queues.queue_for(work)

    @property
    def work_dir(self) -> Path:
        return self.home / "var" / "work"

    @property
    def data_dir(self) -> Path:
        """Where local database and cache servers keep their datadirs, sockets and PID files."""
        return self.home / "var" / "data"

    @property
    def cli_config_path(self) -> Path:
        return self.home / "var" / "terraform" / "cli.tfrc"

    # --- AWS access -------------------------------------------------------------------------
    def aws_credentials(self) -> dict[str, str]:
        """Credentials for a Terraform process, as environment variables: asked for anew each time, so
        refreshable (assumed-role) credentials are fresh when each command starts."""
        if self.is_local:
            return dict(_MOTO_CREDENTIALS)
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ProfileError(
                f"profile {self.name!r} found no AWS credentials: set up the Airflow connection "
                f"{self.aws_conn_id!r} (or the standard AWS_* variables outside Airflow)"
            )
        frozen = credentials.get_frozen_credentials()
        env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
        return env

    @cached_property
    def _session(self) -> boto3.session.Session:
        if self.is_local:
            return boto3.session.Session(
                aws_access_key_id=_MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=_MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=_MOTO_CREDENTIALS["AWS_SESSION_TOKEN"],
                region_name=self.region,
            )
        if self.session_factory is not None:
            return self.session_factory(self)
        # Outside Airflow (the CLI, tests): boto3's own chain of environment, files and roles.
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str, **kwargs: Any):
        """A boto3 client bound to this profile's endpoint, region and credentials."""
        if self.endpoint_url:
            kwargs.setdefault("endpoint_url", self.endpoint_url)
        return self._session.client(service, **kwargs)

    def object_url(self, bucket: str, key: str) -> str:
        """An address a browser opens for an object.

        With an endpoint of its own (moto locally) a presigned GET valid for 7 days (the longest S3
        signs): objects are private and a browser has no credentials. On AWS the S3 console's page of
        the object: it does not expire, and the console asks the reader to sign in.
        """
        if self.endpoint_url:
            return self.client("s3").generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=7 * 24 * 3600
            )
        return f"https://{self.region}.console.aws.amazon.com/s3/object/{bucket}?region={self.region}&prefix={quote(key, safe='')}"

    def verify_account(self) -> str:
        """Refuse to go on unless the caller identity is an allowed account; returns the account id."""
        account = self.client("sts").get_caller_identity()["Account"]
        if self.allowed_account_ids and account not in self.allowed_account_ids:
            raise ProfileError(
                f"profile {self.name!r} reached account {account}, but only "
                f"{', '.join(self.allowed_account_ids)} is allowed; check LOADSTACK_AWS_ENDPOINT_URL"
            )
        return account

    # --- Terraform --------------------------------------------------------------------------
    def terraform_env(self) -> dict[str, str]:
        """Environment for every Terraform process: our CLI config, no prompts, this profile's AWS."""
        env = {
            "TF_CLI_CONFIG_FILE": str(self.ensure_cli_config()),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_MAX_ATTEMPTS": "3",
            **self.aws_credentials(),
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    def cli_config_text(self) -> str:
        mirror = str(self.plugin_mirror)
        return (
            "disable_checkpoint = true\n"
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            "}\n"
        )

    def ensure_cli_config(self) -> Path:
        if not (self.plugin_mirror / "registry.terraform.io" / "hashicorp").is_dir():
            raise ProfileError(
                f"Terraform provider mirror {self.plugin_mirror} is missing "
                "(expected registry.terraform.io/hashicorp/aws inside it); the public registry is not "
                "reachable from here: set LOADSTACK_TF_PLUGIN_MIRROR to an unpacked provider mirror"
            )
        path = self.cli_config_path
        text = self.cli_config_text()
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp%d" % os.getpid())
            tmp.write_text(text)
            tmp.replace(path)
        return path

    def backend_config(self, key: str) -> dict[str, str]:
        """`-backend-config` values for the modules' partial `backend "s3" {}` block."""
        config = {
            "bucket": self.state_bucket,
            "key": key,
            "region": self.region,
            "use_lockfile": "true",
            "encrypt": "true",
        }
        if self.is_local:
            config.update(
                {
                    "use_path_style": "true",
                    "skip_credentials_validation": "true",
                    "skip_requesting_account_id": "true",
                    "skip_metadata_api_check": "true",
                    "skip_region_validation": "true",
                    "skip_s3_checksum": "true",
                }
            )
        return config

    def module_variable_overrides(self) -> dict[str, Any]:
        """Variables this profile forces on every module that declares them, over the spec's values."""
        if self.is_local:
            # moto does not implement StartInstanceRefresh: an ASG refresh would fail with HTTP 500.
            return {"instance_refresh": False}
        return {}

    def provider_override(self) -> dict[str, Any] | None:
        """A Terraform override file body that pins the AWS provider to the allowed accounts."""
        if not self.allowed_account_ids:
            return None
        provider: dict[str, Any] = {"allowed_account_ids": list(self.allowed_account_ids)}
        if self.is_local:
            # moto has no metadata service and answers STS itself; fail fast on unimplemented calls.
            provider.update(
                {
                    "skip_metadata_api_check": True,
                    "skip_region_validation": True,
                    "skip_credentials_validation": True,
                    "max_retries": 2,
                }
            )
        return {"provider": {"aws": provider}}


def _require_loopback(url: str, variable: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ProfileError(
            f"{variable}={url}: the local profile only talks to a moto server on loopback "
            "(e.g. http://127.0.0.1:5055)"
        )


def _locust_master_url(env: Mapping[str, str]) -> str | None:
    url = env.get("LOADSTACK_LOCUST_MASTER_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ProfileError(f"LOADSTACK_LOCUST_MASTER_URL={url!r} is not an http(s) URL: give the master's web URL, "
                           "as `python -m loadstack.locust.service up` prints it (e.g. http://127.0.0.1:8089)")
    return url.rstrip("/") or None


def _queues(env: Mapping[str, str]) -> TaskQueues:
    try:
        return TaskQueues.from_env(env)
    except QueuesError as exc:
        raise ProfileError(str(exc)) from None


def load_profile(environ: Mapping[str, str] | None = None, *, session_factory: SessionFactory | None = None) -> Profile:
    """The profile the environment describes. `session_factory` supplies the aws profile's sessions."""
    env = os.environ if environ is None else environ
    name = env.get("LOADSTACK_PROFILE", "local")
    if name not in PROFILE_NAMES:
        raise ProfileError(f"LOADSTACK_PROFILE={name!r}: unknown profile (known: {', '.join(PROFILE_NAMES)})")
    home = Path(env.get("LOADSTACK_HOME", str(PROJECT_ROOT)))
    common = dict(
        name=name,
        region=env.get("LOADSTACK_AWS_REGION", "us-east-1"),
        home=home,
        terraform_bin=env.get("LOADSTACK_TERRAFORM_BIN") or shutil.which("terraform") or "terraform",
        plugin_mirror=Path(env.get("LOADSTACK_TF_PLUGIN_MIRROR", "/opt/tf-plugins")),
        zookeeper_hosts=env.get("LOADSTACK_ZOOKEEPER_HOSTS", "127.0.0.1:2181"),
        session_factory=session_factory,
        # Local: packed mariadb-backup snapshots and Redis RDB files; aws: RDB exports, catalog.
        snapshot_bucket=env.get("LOADSTACK_SNAPSHOT_BUCKET", "loadstack-snapshots"),
        report_bucket=env.get("LOADSTACK_REPORT_BUCKET", "loadstack-reports"),
        queues=_queues(env),
        locust_master_url=_locust_master_url(env),
    )
    if name == "local":
        endpoint = env.get("LOADSTACK_AWS_ENDPOINT_URL", "http://127.0.0.1:5055")
        _require_loopback(endpoint, "LOADSTACK_AWS_ENDPOINT_URL")
        return Profile(
            **common,
            state_bucket=env.get("LOADSTACK_STATE_BUCKET", "loadstack-tfstate"),
            endpoint_url=endpoint,
            allowed_account_ids=(MOTO_ACCOUNT_ID,),
        )
    bucket = env.get("LOADSTACK_STATE_BUCKET")
    if not bucket:
        raise ProfileError("LOADSTACK_PROFILE=aws needs LOADSTACK_STATE_BUCKET: the S3 bucket for Terraform state")
    allowed = tuple(a for a in env.get("LOADSTACK_ALLOWED_ACCOUNT_IDS", "").split(",") if a)
    return Profile(
        **common,
        state_bucket=bucket,
        aws_conn_id=env.get("LOADSTACK_AWS_CONN_ID", "aws_default"),
        allowed_account_ids=allowed,
        aurora_build=AuroraBuildSettings.from_env(env),
    )
