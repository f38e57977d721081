"""The profile as tasks see it: on the aws profile, AWS sessions come from the Airflow AWS connection.

The provider's hook builds the session from the connection (`LOADSTACK_AWS_CONN_ID`), including
assumed roles, whose credentials botocore refreshes before they expire: a multi-hour restore or
snapshot build keeps working after the first role session's hour.
"""

from __future__ import annotations

import boto3
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from loadstack.profiles import Profile, load_profile


def connection_session(profile: Profile) -> boto3.session.Session:
    return AwsBaseHook(aws_conn_id=profile.aws_conn_id, client_type="sts").get_session(region_name=profile.region)


def task_profile() -> Profile:
    """The profile from the environment, with sessions from the Airflow connection on aws."""
    return load_profile(session_factory=connection_session)
