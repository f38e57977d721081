"""Who may see and steer a ramp: the one access check every route of the ramp app depends on.

Airflow mounts plugin FastAPI apps without any protection, so the check is ours. It is Airflow's own:
the user comes from the api-server's JWT (an `Authorization: Bearer` header, or the `_token` cookie the
UI's login sets, which a same-origin page sends along), and the auth manager decides on the task
instances of the DAG named in the path, exactly as for the REST API's task state store (GET to read,
PUT to write a control record). No token: 401; a bad token or no right: 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends

Access = Literal["GET", "PUT"]


def ramp_user(access: Access) -> Callable[..., BaseUser]:
    """A dependency returning the logged-in user allowed `access` ("GET": see, "PUT": steer) on the task
    instances of the DAG in the route's `dag_id` path parameter; it raises 401 / 403 otherwise."""
    allowed = requires_access_dag(method=access, access_entity=DagAccessEntity.TASK_INSTANCE)

    # The default, not an Annotated type: annotations are strings here, and FastAPI resolves them in the
    # module's globals, where the closure's `allowed` is not.
    def dependency(user: GetUserDep, _: None = Depends(allowed)) -> BaseUser:
        return user

    return dependency
