#!/usr/bin/env python3
"""Run one DAG end to end through the Airflow REST API and narrate it.

Logs in as admin (password from the simple auth manager's passwords file), waits until the DAG is
parsed, unpauses it, triggers a run, prints every task state change as it happens and exits 0 only
if the run succeeds. Standard library only. Normally started by `make demo`, after
scripts/services.sh up, with the environment of scripts/env.sh.

    .venv/bin/python scripts/demo.py [--dag-id shop] [--conf '{"users": 50}'] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(os.environ.get("LOADSTACK_HOME") or Path(__file__).resolve().parents[1])
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME") or ROOT / "var" / "airflow")
BASE_URL = os.environ.get("LOADSTACK_API_URL") or os.environ.get("AIRFLOW__API__BASE_URL") or "http://127.0.0.1:8080"
PASSWORD_FILE = Path(
    os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or AIRFLOW_HOME / "passwords.json"
)
LOG_FOLDER = Path(os.environ.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER") or AIRFLOW_HOME / "logs")
USER = "admin"

FINISHED_RUN_STATES = {"success", "failed"}
BAD_TASK_STATES = {"failed", "upstream_failed"}
# Run for this long with no parse of the DAG but with import errors on the table: report them.
IMPORT_ERROR_GRACE_S = 20


class ApiError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        detail = body
        try:
            parsed = json.loads(body)
            detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
            if not isinstance(detail, str):
                detail = json.dumps(detail, indent=2)
        except ValueError:
            pass
        super().__init__(f"{method} {path} -> HTTP {status}: {detail}")


class Client:
    def __init__(self, base: str, user: str, password: str) -> None:
        self.base = base.rstrip("/")
        self.user = user
        self.password = password
        self.token: str | None = None

    def login(self) -> None:
        body = self._send("POST", "/auth/token", {"username": self.user, "password": self.password}, auth=False)
        self.token = body["access_token"]

    def _send(self, method: str, path: str, payload=None, auth: bool = True, accept: str = "application/json"):
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, method, path, exc.read().decode(errors="replace")) from None
        if accept != "application/json":
            return raw.decode(errors="replace")
        return json.loads(raw) if raw else None

    def call(self, method: str, path: str, payload=None, **kwargs):
        """One API call; logs in again once if the token was refused (expired, server restarted)."""
        try:
            return self._send(method, path, payload, **kwargs)
        except ApiError as exc:
            if exc.status != 401:
                raise
            self.login()
            return self._send(method, path, payload, **kwargs)

    def get(self, path: str, **params):
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return self.call("GET", path + query)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def say(message: str) -> None:
    print(f"{now()}  {message}", flush=True)


def fail(message: str, code: int = 1) -> int:
    print(f"\n{now()}  FAILED: {message}", file=sys.stderr, flush=True)
    return code


# --- waiting for the DAG ----------------------------------------------------------------------
def import_errors(client: Client) -> list[dict]:
    errors, offset = [], 0
    while True:
        page = client.get("/api/v2/importErrors", limit=100, offset=offset)
        errors += page.get("import_errors", [])
        offset += 100
        if offset >= page.get("total_entries", 0):
            return errors


def print_import_errors(errors: list[dict]) -> None:
    for err in errors:
        where = err.get("filename", "?")
        if err.get("bundle_name"):
            where = f"{err['bundle_name']}:{where}"
        print(f"\n--- import error in {where} ({err.get('timestamp', '')}) ---", file=sys.stderr)
        print((err.get("stack_trace") or "").rstrip(), file=sys.stderr)
    print(f"\n(also in the UI: {BASE_URL}/dags  ->  import errors)", file=sys.stderr)


def errors_for(errors: list[dict], dag_id: str, fileloc: str | None) -> list[dict]:
    mine = []
    for err in errors:
        name = err.get("filename") or ""
        if fileloc and (fileloc.endswith(name) or name.endswith(fileloc)):
            mine.append(err)
        elif Path(name).stem == dag_id or dag_id in (err.get("stack_trace") or ""):
            mine.append(err)
    return mine


def wait_for_dag(client: Client, dag_id: str, timeout: float) -> dict | None:
    """The DAG's details once parsed; None (after printing why) if it never is."""
    start = time.monotonic()
    first_errors_seen: float | None = None
    announced = False
    while True:
        errors = import_errors(client)
        try:
            dag = client.get(f"/api/v2/dags/{q(dag_id)}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            dag = None
        if dag is not None:
            if dag.get("has_import_errors"):
                print_import_errors(errors_for(errors, dag_id, dag.get("relative_fileloc") or dag.get("fileloc")) or errors)
                fail(f"DAG {dag_id!r} was parsed before, but its file now fails to import (see above)")
                return None
            return dag
        elapsed = time.monotonic() - start
        mine = errors_for(errors, dag_id, None)
        if errors and first_errors_seen is None:
            first_errors_seen = elapsed
        if mine or (errors and elapsed - first_errors_seen >= IMPORT_ERROR_GRACE_S):
            print_import_errors(mine or errors)
            fail(f"DAG {dag_id!r} is not available: a DAG file fails to import (see above)")
            return None
        if elapsed >= timeout:
            dags = client.get("/api/v2/dags", limit=100).get("dags", [])
            known = ", ".join(sorted(d["dag_id"] for d in dags)) or "none"
            fail(
                f"DAG {dag_id!r} not found after {timeout:.0f} s (DAGs known to Airflow: {known}). "
                f"DAG folder: {os.environ.get('AIRFLOW__CORE__DAGS_FOLDER') or os.environ.get('LOADSTACK_DAGS_FOLDER') or ROOT / 'dags'}; "
                f"dag-processor log: {ROOT / 'var' / 'log' / 'dag-processor.log'}"
            )
            return None
        if not announced:
            say(f"waiting for the dag-processor to parse DAG {dag_id!r} ...")
            announced = True
        time.sleep(2)


# --- following a run --------------------------------------------------------------------------
def task_instances(client: Client, dag_id: str, run_id: str) -> list[dict]:
    tis, offset = [], 0
    while True:
        page = client.get(
            f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}/taskInstances", limit=100, offset=offset
        )
        tis += page.get("task_instances", [])
        offset += 100
        if offset >= page.get("total_entries", 0):
            return tis


def ti_label(ti: dict) -> str:
    return ti["task_id"] + (f"[{ti['map_index']}]" if mapped(ti) else "")


def mapped(ti: dict) -> bool:
    index = ti.get("map_index")
    return index is not None and index >= 0


def log_path(dag_id: str, run_id: str, ti: dict) -> Path:
    """Where the default log_filename_template puts a task attempt's log."""
    path = LOG_FOLDER / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={ti['task_id']}"
    if mapped(ti):
        path = path / f"map_index={ti['map_index']}"
    return path / f"attempt={max(ti.get('try_number') or 1, 1)}.log"


def ui_task_url(dag_id: str, run_id: str, ti: dict) -> str:
    url = f"{BASE_URL}/dags/{q(dag_id)}/runs/{q(run_id)}/tasks/{q(ti['task_id'])}"
    if mapped(ti):
        url += f"/mapped/{ti['map_index']}"
    return url


def format_log_line(line: str) -> list[str]:
    """One task-log line, readable: Airflow 3 writes JSON lines (timestamp, level, event, error_detail)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return [line]
    if not isinstance(rec, dict) or "event" not in rec:
        return [line]
    stamp = str(rec.get("timestamp", ""))[11:19]
    out = [f"{stamp} {str(rec.get('level', '')).upper():7s} {rec['event']}"]
    for exc in rec.get("error_detail") or []:
        frames = exc.get("frames") or []
        for frame in frames[-3:]:
            out.append(f"    at {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
        out.append(f"    {exc.get('exc_type')}: {exc.get('exc_value')}")
    return out


def tail_log(text: str, lines: int = 25) -> str:
    """The end of a task log; error records anywhere in it are kept (with their traceback)."""
    formatted: list[tuple[bool, list[str]]] = []
    for line in text.rstrip().splitlines():
        rendered = format_log_line(line)
        formatted.append(('"level":"error"' in line or '"level": "error"' in line, rendered))
    tail = formatted[-lines:]
    # The task's own exception is usually the last error: make sure it is shown.
    errors = [f for f in formatted[:-lines] if f[0]][-2:]
    out: list[str] = []
    if errors:
        for _, rendered in errors:
            out += rendered
        out.append("    ...")
    for _, rendered in tail:
        out += rendered
    return "\n".join(out)


def report_failed(client: Client, dag_id: str, run_id: str, tis: list[dict]) -> None:
    bad = [ti for ti in tis if ti.get("state") in BAD_TASK_STATES]
    if not bad:
        print("no task is marked failed; see the run in the UI", file=sys.stderr)
        return
    print("\nfailed tasks:", file=sys.stderr)
    for ti in bad:
        print(f"  {ti_label(ti):40s} {ti['state']}", file=sys.stderr)
    for ti in (t for t in bad if t["state"] == "failed"):
        path = log_path(dag_id, run_id, ti)
        print(f"\n--- {ti_label(ti)}: last lines of its log ---", file=sys.stderr)
        if path.exists():
            print(tail_log(path.read_text(errors="replace")), file=sys.stderr)
        else:
            try:
                text = client.call(
                    "GET",
                    f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}/taskInstances/{q(ti['task_id'])}"
                    f"/logs/{max(ti.get('try_number') or 1, 1)}?map_index={ti.get('map_index', -1)}",
                    accept="text/plain",
                )
                print(tail_log(text), file=sys.stderr)
            except (ApiError, OSError) as exc:
                print(f"(could not fetch the log: {exc})", file=sys.stderr)
        print(f"log file: {path}", file=sys.stderr)
        print(f"in the UI: {ui_task_url(dag_id, run_id, ti)}", file=sys.stderr)


def follow_run(client: Client, dag_id: str, run_id: str, timeout: float, poll: float) -> tuple[str, list[dict]]:
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    run_state = "queued"
    deadline = time.monotonic() + timeout
    tis: list[dict] = []
    width = 28
    while True:
        run = client.get(f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}")
        tis = task_instances(client, dag_id, run_id)
        if run["state"] != run_state and run["state"] not in FINISHED_RUN_STATES:
            say(f"run {run_id}: {run['state']}")
        run_state = run["state"]
        width = max([width] + [len(ti_label(ti)) for ti in tis])
        for ti in sorted(tis, key=lambda t: (t.get("start_date") or "~", t["task_id"], t.get("map_index", -1))):
            key = (ti["task_id"], ti.get("map_index", -1))
            state = ti.get("state") or "none"
            tries = ti.get("try_number") or 0
            old_state, old_tries = seen.get(key, ("none", 0))
            if key not in seen and state == "none":
                seen[key] = (state, tries)
                continue
            if (state, tries) != (old_state, old_tries):
                extra = f"  (try {tries})" if tries > 1 and state in ("running", "queued") else ""
                if state in ("success", "failed") and ti.get("duration") is not None:
                    extra = f"  ({ti['duration']:.1f} s)"
                if state != old_state:
                    say(f"{ti_label(ti):{width}s} {old_state} \u2192 {state}{extra}")
                seen[key] = (state, tries)
        if run_state in FINISHED_RUN_STATES:
            return run_state, tis
        if time.monotonic() > deadline:
            return "timeout", tis
        time.sleep(poll)


def find_reports(since: float) -> list[Path]:
    """Report files written during the run (anything named *report* under var/, outside Airflow's logs)."""
    found = []
    var = ROOT / "var"
    for path in var.rglob("*report*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since and LOG_FOLDER not in path.parents:
                found.append(path)
        except OSError:
            continue
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dag-id", default="shop")
    parser.add_argument("--conf", default="{}", help="JSON object passed as the run's conf (DAG params)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run (default 30 min)")
    parser.add_argument("--parse-timeout", type=float, default=120, help="seconds to wait for the DAG to be parsed")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--first", action="append", default=[], metavar="DAG_ID",
                        help="run this DAG to success before the main one (repeatable), e.g. loadstack_snapshots")
    parser.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    try:
        conf = json.loads(args.conf)
    except ValueError as exc:
        return fail(f"--conf is not valid JSON: {exc}", 2)
    if not isinstance(conf, dict):
        return fail("--conf must be a JSON object", 2)

    try:
        password = json.loads(PASSWORD_FILE.read_text())[USER]
    except (OSError, ValueError, KeyError) as exc:
        return fail(f"cannot read the {USER} password from {PASSWORD_FILE} ({exc}); run scripts/services.sh up first")

    client = Client(BASE_URL, USER, password)
    try:
        client.login()
    except (ApiError, OSError) as exc:
        return fail(f"cannot log in to {BASE_URL} as {USER}: {exc}. Is the api-server up? (scripts/services.sh status)")

    for first in args.first:
        say(f"first: {first}")
        try:
            status = main([f"--dag-id={first}", f"--timeout={args.timeout}", f"--parse-timeout={args.parse_timeout}",
                           f"--poll={args.poll}", "--no-summary"])
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0)
        if status != 0:
            return fail(f"{first} did not succeed; not running {args.dag_id}")

    started = time.time()
    try:
        dag = wait_for_dag(client, args.dag_id, args.parse_timeout)
        if dag is None:
            return 1
        say(f"DAG {args.dag_id!r} is parsed ({dag.get('relative_fileloc') or dag.get('fileloc', '')})")
        if dag.get("is_paused"):
            client.call("PATCH", f"/api/v2/dags/{q(args.dag_id)}", {"is_paused": False})
            say(f"unpaused {args.dag_id!r}")
        try:
            run = client.call("POST", f"/api/v2/dags/{q(args.dag_id)}/dagRuns", {"logical_date": None, "conf": conf})
        except ApiError as exc:
            return fail(f"the run was refused: {exc}")
        run_id = run["dag_run_id"]
        run_url = f"{BASE_URL}/dags/{q(args.dag_id)}/runs/{q(run_id)}"
        say(f"triggered run {run_id}" + (f" with conf {json.dumps(conf)}" if conf else ""))
        say(f"follow it in the UI: {run_url}")
        state, tis = follow_run(client, args.dag_id, run_id, args.timeout, args.poll)
    except (ApiError, OSError) as exc:
        return fail(f"talking to the Airflow API at {BASE_URL}: {exc}")
    except KeyboardInterrupt:
        return fail("interrupted; the run goes on in Airflow (see the UI)", 130)

    elapsed = time.time() - started
    log_dir = LOG_FOLDER / f"dag_id={args.dag_id}" / f"run_id={run_id}"
    counts: dict[str, int] = {}
    for ti in tis:
        counts[ti.get("state") or "none"] = counts.get(ti.get("state") or "none", 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))

    if state == "success":
        print(f"\n{now()}  run {run_id} succeeded in {elapsed:.0f} s ({summary})")
    elif state == "timeout":
        fail(f"run {run_id} still {state} after {args.timeout:.0f} s ({summary}); it goes on in Airflow")
    else:
        fail(f"run {run_id} ended {state} after {elapsed:.0f} s ({summary})")
        report_failed(client, args.dag_id, run_id, tis)

    if args.no_summary:
        return 0 if state == "success" else 1
    print()
    print(f"Airflow UI:     {BASE_URL}   (this run: {run_url})")
    print(f"login:          user {USER}, password {password}")
    print(f"password file:  {PASSWORD_FILE}")
    print(f"task logs:      {log_dir}/")
    for report in find_reports(started):
        print(f"report:         {report}")
    print("stop everything: make down")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
