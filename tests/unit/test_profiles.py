from __future__ import annotations

import pytest

from loadstack.profiles import MOTO_ACCOUNT_ID, ProfileError, load_profile


def test_local_defaults_and_terraform_env(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    assert profile.name == "local" and profile.endpoint_url == "http://127.0.0.1:5055"
    assert profile.allowed_account_ids == (MOTO_ACCOUNT_ID,)
    env = profile.terraform_env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5055"
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["TF_INPUT"] == "0"
    cli = tmp_path / "var" / "terraform" / "cli.tfrc"
    assert env["TF_CLI_CONFIG_FILE"] == str(cli)
    assert 'path    = "/opt/tf-plugins"' in cli.read_text()
    assert profile.provider_override()["provider"]["aws"]["allowed_account_ids"] == [MOTO_ACCOUNT_ID]
    assert profile.backend_config("k")["use_path_style"] == "true"
    assert profile.module_variable_overrides() == {"instance_refresh": False}


@pytest.mark.parametrize("url", ["http://10.0.0.5:5055", "https://s3.amazonaws.com", "http://example.com"])
def test_local_profile_refuses_non_loopback_endpoints(url):
    with pytest.raises(ProfileError, match="only talks to a moto server on loopback"):
        load_profile({"LOADSTACK_AWS_ENDPOINT_URL": url})


def test_servers_go_to_their_own_queue_locally_and_with_the_infrastructure_on_aws():
    env = {"LOADSTACK_QUEUES": "infra=infra,services=owner-a,load=load"}
    local = load_profile(env)
    assert [local.queue_for(w) for w in ("infra", "services", "load")] == ["infra", "owner-a", "load"]
    aws = load_profile({**env, "LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "b"})
    assert [aws.queue_for(w) for w in ("infra", "services", "load")] == ["infra", "infra", "load"]


def test_a_bad_queue_map_is_a_profile_error_naming_the_variable():
    with pytest.raises(ProfileError, match="LOADSTACK_QUEUES='load'"):
        load_profile({"LOADSTACK_QUEUES": "load"})


def test_a_standing_locust_master_is_an_http_url():
    assert load_profile({}).locust_master_url is None
    assert load_profile({"LOADSTACK_LOCUST_MASTER_URL": "http://127.0.0.1:8089/"}).locust_master_url == \
        "http://127.0.0.1:8089"
    with pytest.raises(ProfileError, match="LOADSTACK_LOCUST_MASTER_URL='127.0.0.1:8089' is not an http"):
        load_profile({"LOADSTACK_LOCUST_MASTER_URL": "127.0.0.1:8089"})


def test_unknown_profile():
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile({"LOADSTACK_PROFILE": "staging"})


def test_aws_profile_needs_a_state_bucket_and_has_no_endpoint():
    with pytest.raises(ProfileError, match="LOADSTACK_STATE_BUCKET"):
        load_profile({"LOADSTACK_PROFILE": "aws"})
    profile = load_profile({"LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "b", "LOADSTACK_ALLOWED_ACCOUNT_IDS": "111,222"})
    assert profile.endpoint_url is None and profile.aws_conn_id == "aws_default"
    assert profile.allowed_account_ids == ("111", "222")
    assert "use_path_style" not in profile.backend_config("k")


def test_missing_provider_mirror_is_explained(tmp_path):
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path), "LOADSTACK_TF_PLUGIN_MIRROR": str(tmp_path / "none")})
    with pytest.raises(ProfileError, match="provider mirror .* is missing"):
        profile.terraform_env()


def test_verify_account_rejects_other_accounts(tmp_path, monkeypatch):
    import dataclasses

    from moto import mock_aws

    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    profile = dataclasses.replace(load_profile({"LOADSTACK_HOME": str(tmp_path)}), endpoint_url=None)
    with mock_aws(), pytest.raises(ProfileError, match="reached account 999999999999"):
        profile.verify_account()


def test_aws_profile_reads_where_snapshots_are_built():
    from loadstack.profiles import AuroraBuildSettings

    profile = load_profile({
        "LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "state",
        "LOADSTACK_BUILD_DB_SUBNET_GROUP": "data-private", "LOADSTACK_BUILD_SECURITY_GROUP_IDS": "sg-1,sg-2",
        "LOADSTACK_BUILD_INSTANCE_CLASS": "db.r6g.xlarge", "LOADSTACK_BUILD_DB_CLUSTER_PARAMETER_GROUP": "infile-on",
    })
    assert profile.aurora_build == AuroraBuildSettings(
        engine="aurora-mysql", instance_class="db.r6g.xlarge", subnet_group="data-private",
        security_group_ids=("sg-1", "sg-2"), cluster_parameter_group="infile-on",
    )
    assert load_profile({"LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "s"}).aurora_build == AuroraBuildSettings()
