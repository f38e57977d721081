"""Completion handlers. Importing this package registers the built-in ones:

- `ssm_parameter`          SSM Parameter Store (String / SecureString)
- `secrets_manager_secret` AWS Secrets Manager
- `airflow_variable`       Airflow Variable (Task SDK; inside a task only)
- `zookeeper_node`         ZooKeeper znode (kazoo)
- `python_callable`        your own function
"""

from loadstack.handlers.airflow_variable import AirflowVariableHandler
from loadstack.handlers.base import (
    HANDLERS,
    CompletionHandler,
    HandlerConfig,
    HandlerContext,
    PublishResult,
    UnknownHandlerError,
    get_handler,
    register_handler,
)
from loadstack.handlers.python_callable import (
    CallableResolutionError,
    PythonCallableHandler,
    resolve_callable,
)
from loadstack.handlers.secrets_manager import SecretsManagerSecretHandler
from loadstack.handlers.ssm import SsmParameterHandler
from loadstack.handlers.zookeeper import ZooKeeperConnectionError, ZooKeeperNodeHandler

__all__ = [
    "HANDLERS",
    "AirflowVariableHandler",
    "CallableResolutionError",
    "CompletionHandler",
    "HandlerConfig",
    "HandlerContext",
    "PublishResult",
    "PythonCallableHandler",
    "SecretsManagerSecretHandler",
    "SsmParameterHandler",
    "UnknownHandlerError",
    "ZooKeeperConnectionError",
    "ZooKeeperNodeHandler",
    "get_handler",
    "register_handler",
    "resolve_callable",
]
