"""A logged-in connection to Airflow's REST API v2 through the official client (`airflow_client`).

The simple auth manager hands out a JWT at `POST /auth/token` (username and password as JSON); that
endpoint is not part of the generated client, so it goes through the client's own HTTP layer. A
refused token (expired, or signed by a restarted server with another key) triggers one new login.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import urllib3
from airflow_client.client import (
    ApiClient,
    Configuration,
    DAGApi,
    DAGPatchBody,
    DAGResponse,
    DagRunApi,
    DAGRunResponse,
    ExpiresAt,
    ExtraLinksApi,
    ImportErrorApi,
    ImportErrorResponse,
    TaskInstanceApi,
    TaskInstanceResponse,
    TaskStateStoreApi,
    TaskStateStoreBody,
    TriggerDAGRunPostBody,
    XComApi,
)
from airflow_client.client.exceptions import ApiException, NotFoundException, UnauthorizedException

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_USER = "admin"
PAGE_SIZE = 100

T = TypeVar("T")


class RestError(RuntimeError):
    """A call to the Airflow API failed; the message names the call, the HTTP status and Airflow's detail."""

    def __init__(self, call: str, status: int | None, detail: str) -> None:
        self.call = call
        self.status = status
        super().__init__(f"{call} -> HTTP {status}: {detail}" if status is not None else f"{call}: {detail}")


def _detail(body: str | bytes | None) -> str:
    """Airflow's `detail` field when the body is its JSON error, else the body itself."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
    return detail if isinstance(detail, str) else json.dumps(detail, indent=2)


@dataclass(frozen=True)
class ApiSettings:
    """Where the API is and who logs in. `from_environment()` reads what scripts/env.sh exports."""

    base_url: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        base_url: str | None = None,
        user: str = DEFAULT_USER,
        password_file: Path | None = None,
    ) -> ApiSettings:
        url = base_url or environ.get("LOADSTACK_API_URL") or environ.get("AIRFLOW__API__BASE_URL") or DEFAULT_API_URL
        return cls(base_url=url.rstrip("/"), user=user, password=read_password(password_file or password_file_path(environ), user))


def password_file_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The simple auth manager's passwords file: its own setting, else $AIRFLOW_HOME/passwords.json."""
    explicit = environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if explicit:
        return Path(explicit)
    home = environ.get("AIRFLOW_HOME")
    if not home:
        raise RestError(
            "password file",
            None,
            "neither AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE nor AIRFLOW_HOME is set: "
            "source scripts/env.sh first, or pass --password-file",
        )
    return Path(home) / "passwords.json"


def read_password(path: Path, user: str) -> str:
    try:
        passwords = json.loads(path.read_text())
        password = passwords[user]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = f"no entry for {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RestError(
            f"password file {path}",
            None,
            f'cannot read the password of {user!r} ({reason}); it is a JSON object {{"{user}": "..."}} written '
            "by scripts/services.sh up: start the services, or pass --password-file",
        ) from None
    if not isinstance(password, str):
        raise RestError(f"password file {path}", None, f"the password of {user!r} is not a string")
    return password


class AirflowRestClient:
    """The calls loadstack makes, each returning the client's typed models; errors become `RestError`."""

    def __init__(self, settings: ApiSettings, *, timeout: float = 30) -> None:
        self.settings = settings
        self.timeout = timeout
        # No urllib3 retries: a refused connection should fail in one attempt, with its reason.
        self._api_client = ApiClient(Configuration(host=settings.base_url, retries=False))
        self._dags = DAGApi(self._api_client)
        self._runs = DagRunApi(self._api_client)
        self._import_errors = ImportErrorApi(self._api_client)
        self._task_instances = TaskInstanceApi(self._api_client)
        self._task_state = TaskStateStoreApi(self._api_client)
        self._links = ExtraLinksApi(self._api_client)
        self._xcoms = XComApi(self._api_client)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def close(self) -> None:
        """Closes the pooled connections (the generated ApiClient has no close of its own)."""
        self._api_client.rest_client.pool_manager.clear()

    def __enter__(self) -> AirflowRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- authentication ------------------------------------------------------------------------
    def login(self) -> None:
        call = f"POST {self.base_url}/auth/token (user {self.settings.user})"
        method, url, headers, body, post_params = self._api_client.param_serialize(
            method="POST",
            resource_path="/auth/token",
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body={"username": self.settings.user, "password": self.settings.password},
        )
        try:
            response = self._api_client.call_api(method, url, headers, body, post_params, _request_timeout=self.timeout)
            data = response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise RestError(call, None, f"cannot reach the api-server ({exc})") from None
        if not 200 <= response.status < 300:
            raise RestError(call, response.status, _detail(data))
        try:
            token = json.loads(data)["access_token"]
        except (ValueError, KeyError, TypeError):
            raise RestError(call, response.status, f"no access_token in the answer: {data[:200]!r}") from None
        self._api_client.configuration.access_token = token

    def _call(self, call: str, request: Callable[..., T], *args: Any, none_if_missing: bool = False, **kwargs: Any) -> T:
        """One API call, logged in first if need be, once more after a new login if the token is refused."""
        if self._api_client.configuration.access_token is None:
            self.login()
        for attempt in (1, 2):
            try:
                return request(*args, _request_timeout=self.timeout, **kwargs)
            except UnauthorizedException:
                if attempt == 2:
                    raise RestError(call, 401, "the API refused a fresh token") from None
                self.login()
            except NotFoundException as exc:
                if none_if_missing:
                    return None
                raise RestError(call, exc.status, _detail(exc.body)) from None
            except ApiException as exc:
                raise RestError(call, exc.status, _detail(exc.body)) from None
            except urllib3.exceptions.HTTPError as exc:
                raise RestError(call, None, f"cannot reach the api-server at {self.base_url} ({exc})") from None
            except ValueError as exc:  # pydantic's ValidationError too: an answer the client's models reject
                raise RestError(call, None, f"unexpected answer (another Airflow version?): {exc}") from None
        raise AssertionError("unreachable")

    def _pages(self, call: str, request: Callable[..., Any], items: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        offset = 0
        while True:
            page = self._call(call, request, *args, limit=PAGE_SIZE, offset=offset, **kwargs)
            batch = getattr(page, items)
            yield from batch
            offset += len(batch)
            total = page.total_entries
            if not batch or (total is not None and offset >= total) or (total is None and len(batch) < PAGE_SIZE):
                return

    # --- DAGs ----------------------------------------------------------------------------------
    def dag(self, dag_id: str) -> DAGResponse | None:
        """The DAG, or None while no parse of it has reached the database."""
        return self._call(f"GET /api/v2/dags/{dag_id}", self._dags.get_dag, dag_id, none_if_missing=True)

    def dags(self) -> list[DAGResponse]:
        return list(self._pages("GET /api/v2/dags", self._dags.get_dags, "dags"))

    def import_errors(self) -> list[ImportErrorResponse]:
        return list(self._pages("GET /api/v2/importErrors", self._import_errors.get_import_errors, "import_errors"))

    def unpause(self, dag_id: str) -> DAGResponse:
        return self._call(
            f"PATCH /api/v2/dags/{dag_id}", self._dags.patch_dag, dag_id, DAGPatchBody(is_paused=False),
            update_mask=["is_paused"],
        )

    # --- runs ----------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> DAGRunResponse:
        """A manual run now (`logical_date` null); `conf` is checked against the DAG's params by Airflow."""
        body = TriggerDAGRunPostBody(logical_date=None, conf=conf or {})
        return self._call(f"POST /api/v2/dags/{dag_id}/dagRuns", self._runs.trigger_dag_run, dag_id, body)

    def run(self, dag_id: str, run_id: str) -> DAGRunResponse:
        return self._call(f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}", self._runs.get_dag_run, dag_id, run_id)

    def runs(self, dag_id: str, *, limit: int = 20) -> list[DAGRunResponse]:
        """The most recent runs first."""
        page = self._call(
            f"GET /api/v2/dags/{dag_id}/dagRuns", self._runs.get_dag_runs, dag_id, limit=limit, order_by=["-run_after"]
        )
        return list(page.dag_runs)

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceResponse]:
        return list(
            self._pages(
                f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                self._task_instances.get_task_instances, "task_instances", dag_id, run_id,
            )
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, *, try_number: int, map_index: int = -1) -> list[Any]:
        """One attempt's log as records: dicts (structured lines: event, timestamp, level, ...) or strings.

        Read raw: the client's `StructuredLogMessage` model keeps only `event` and `timestamp` and
        drops `level` and `error_detail` (the traceback), which is what a failure report needs.
        """
        call = f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        for attempt in (1, 2):
            response = self._call(
                call, self._task_instances.get_log_without_preload_content, dag_id, run_id, task_id, try_number,
                map_index=map_index, full_content=True, accept="application/json",
            )
            if response.status == 401 and attempt == 1:
                self.login()
                continue
            break
        if not 200 <= response.status < 300:
            raise RestError(call, response.status, _detail(response.data))
        try:
            content = json.loads(response.data)["content"]
        except (ValueError, KeyError, TypeError):
            raise RestError(call, response.status, f"unexpected answer: {response.data[:200]!r}") from None
        return [item if isinstance(item, (dict, str)) else str(item) for item in content or []]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", *, map_index: int = -1) -> Any:
        """A task instance's XCom value (JSON), or None if it pushed none under `key`."""
        call = f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        found = self._call(call, self._xcoms.get_xcom_entry, dag_id, task_id, run_id, key, map_index=map_index,
                           deserialize=True, none_if_missing=True)
        if found is None:
            return None
        # The client answers an anyOf wrapper (native JSON or a string), the entry itself in `actual_instance`.
        return getattr(found, "actual_instance", found).value

    def extra_links(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[str, str]:
        """The task instance's extra links that have an address ({name: url}), e.g. the ramp report's."""
        call = f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
        found = self._call(call, self._links.get_extra_links, dag_id, run_id, task_id, map_index=map_index)
        return {name: url for name, url in (found.extra_links or {}).items() if url}

    # --- task state store (a task instance's own key/value store; the ramp's control record) -----
    def task_state(self, dag_id: str, run_id: str, task_id: str, key: str, *, map_index: int = -1) -> Any:
        """The value under `key` in the task instance's state store, or None if there is none."""
        call = f"GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store/{key}"
        found = self._call(
            call, self._task_state.get_task_state_store, key, dag_id, run_id, task_id, map_index=map_index,
            none_if_missing=True,
        )
        return None if found is None else found.value

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any, *, map_index: int = -1) -> None:
        """Create or overwrite `key` (kept for the configured retention, like the task's own writes)."""
        call = f"PUT /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store/{key}"
        body = TaskStateStoreBody(value=value, expires_at=ExpiresAt("default"))
        self._call(call, self._task_state.set_task_state_store, key, dag_id, run_id, task_id, body, map_index=map_index)

    # --- UI addresses --------------------------------------------------------------------------
    def dag_run_url(self, dag_id: str, run_id: str) -> str:
        return f"{self.base_url}/dags/{_q(dag_id)}/runs/{_q(run_id)}"

    def task_url(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        url = f"{self.dag_run_url(dag_id, run_id)}/tasks/{_q(task_id)}"
        return url + (f"/mapped/{map_index}" if map_index >= 0 else "")


def _q(value: str) -> str:
    return quote(value, safe="")
