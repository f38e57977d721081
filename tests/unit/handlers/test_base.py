from __future__ import annotations

import pytest

import loadstack.handlers as handlers
from loadstack.handlers import HANDLERS, CompletionHandler, UnknownHandlerError, get_handler

BUILT_IN = {"ssm_parameter", "secrets_manager_secret", "airflow_variable", "zookeeper_node", "python_callable"}


def test_importing_the_package_registers_the_built_ins():
    assert BUILT_IN <= set(HANDLERS)
    for name in BUILT_IN:
        cls = get_handler(name)
        assert issubclass(cls, CompletionHandler) and cls.name == name
        assert cls.Config.model_config.get("extra") == "forbid"


def test_base_names_are_re_exported():
    for name in ("CompletionHandler", "HandlerConfig", "HandlerContext", "PublishResult", "register_handler",
                 "get_handler", "UnknownHandlerError", "HANDLERS"):
        assert hasattr(handlers, name), name


def test_unknown_handler_suggests_a_close_name():
    with pytest.raises(UnknownHandlerError, match="did you mean 'ssm_parameter'"):
        get_handler("ssm_paramter")


@pytest.mark.parametrize(
    ("name", "got"), [(["ssm_parameter"], "a list"), ({"ssm_parameter": 1}, "a mapping"), (7, "a number")]
)
def test_a_handler_given_as_a_list_or_mapping_is_no_name(name, got):
    with pytest.raises(UnknownHandlerError) as caught:
        get_handler(name)
    assert caught.value.message.startswith(f"must be a handler name (got {got}); known: airflow_variable, ")
