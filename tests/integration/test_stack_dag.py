"""A whole stack DAG through Airflow (dag.test) with real Terraform on a real moto server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from loadstack.spec import load_stack

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def chain_dag():
    from loadstack.airflow.render import build_dag

    return build_dag(load_stack(FIXTURES / "it_stacks" / "it_chain.yaml", modules_dir=FIXTURES / "tf_modules"))


def xcom_value(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(run_id=dag_run.run_id, task_id=task_id, key="return_value").one()
        return row.value


def test_outputs_flow_handlers_publish_and_secrets_stay_out(chain_dag, run_dag, loadstack_env, local_profile, capfd):
    from airflow.utils.state import DagRunState

    run = run_dag(chain_dag)
    assert run.state == DagRunState.SUCCESS
    ssm = local_profile.client("ssm")
    value = lambda name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]  # noqa: E731
    assert value("/it/chain/first") == "hello"
    assert value("/it/chain/second") == "hello-again"  # ${steps.first.outputs.parameter_value}-again
    assert value("/it/chain/published") == "hello"
    assert value("/it/chain/third-minimal") == "small"  # default variant
    secret = ssm.get_parameter(Name="/it/chain/secret", WithDecryption=True)["Parameter"]
    assert secret["Type"] == "SecureString" and secret["Value"] == "not-a-real-secret"

    published = xcom_value(run, "first.apply")
    assert published["parameter_value"] == "hello"
    assert "not-a-real-secret" not in str(published)
    assert published["secret"] == {
        "__loadstack_sensitive__": {"state_object": "env:/it_chain-first/loadstack/param.tfstate", "output": "secret"}
    }
    # Nor in a task log (dag.test writes the tasks' logs to the test's output): the applies logged, none the value.
    logged = capfd.readouterr()
    assert "Apply complete!" in logged.out + logged.err, "no task log captured: the search below would prove nothing"
    assert "not-a-real-secret" not in logged.out + logged.err

    # Rerun: every plan is empty, every handler reports unchanged.
    rerun = run_dag(chain_dag)
    assert rerun.state == DagRunState.SUCCESS
    assert xcom_value(rerun, "first.publish_ssm_parameter") == "unchanged"
    assert xcom_value(rerun, "first.publish_ssm_parameter_2") == "unchanged"
    assert ssm.get_parameter(Name="/it/chain/published")["Parameter"]["Version"] == 1


def test_teardown_destroys_dependents_first_using_remote_state(run_dag, loadstack_env, local_profile):
    """Teardown resolves ${steps.first.outputs...} from first's remote state, then destroys first last."""
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_dag, build_teardown_dag

    stack = load_stack(FIXTURES / "it_stacks" / "it_chain.yaml", modules_dir=FIXTURES / "tf_modules")
    assert run_dag(build_dag(stack)).state == DagRunState.SUCCESS
    run = run_dag(build_teardown_dag(stack))
    assert run.state == DagRunState.SUCCESS
    ssm = local_profile.client("ssm")
    for name in ("/it/chain/first", "/it/chain/second", "/it/chain/third-minimal"):
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=name)
    s3 = local_profile.client("s3")
    state = s3.get_object(Bucket=local_profile.state_bucket, Key="env:/it_chain-first/loadstack/param.tfstate")
    assert '"resources": []' in state["Body"].read().decode()


def test_teardown_of_a_stack_never_applied_succeeds(run_dag, loadstack_env):
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_teardown_dag

    chain = load_stack(FIXTURES / "it_stacks" / "it_chain.yaml", modules_dir=FIXTURES / "tf_modules")
    stack = dataclasses.replace(chain, model=chain.model.model_copy(update={"name": "it_never_applied"}))
    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS


def test_production_variant_from_params(chain_dag, run_dag, loadstack_env, local_profile):
    from airflow.utils.state import DagRunState

    run = run_dag(chain_dag, run_conf={"variant": "production"})
    assert run.state == DagRunState.SUCCESS
    assert local_profile.client("ssm").get_parameter(Name="/it/chain/third-production")["Parameter"]["Value"] == "large"
