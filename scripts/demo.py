#!/usr/bin/env python3
"""Run one DAG end to end through the Airflow REST API and narrate it.

Logs in as admin (password from the simple auth manager's passwords file), waits until the DAG is
parsed, unpauses it, triggers a run, prints every task state change as it happens and exits 0 only
if the run succeeds; then says where the UI, the task logs and any report are. The work is done by
`loadstack.rest_client` (also behind `loadstack run`). Normally started by `make demo`, after
scripts/services.sh up, with the environment of scripts/env.sh.

    .venv/bin/python scripts/demo.py [--first loadstack_snapshots] [--dag-id shop] [--conf '{"users": 50}'] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadstack.rest_client.client import AirflowRestClient, ApiSettings, RestError, password_file_path
from loadstack.rest_client.run import Narrator, parse_conf, run_dag

ROOT = Path(os.environ.get("LOADSTACK_HOME") or Path(__file__).resolve().parents[1])
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME") or ROOT / "var" / "airflow")
LOG_FOLDER = Path(os.environ.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER") or AIRFLOW_HOME / "logs")


def report_links(client: AirflowRestClient, dag_id: str, run_id: str) -> list[tuple[str, str, str]]:
    """(task, link name, url) of every extra link the run's tasks published (the ramp reports)."""
    found = []
    for ti in client.task_instances(dag_id, run_id):
        if ti.task_id.endswith(".report"):
            for name, url in sorted(client.extra_links(dag_id, run_id, ti.task_id).items()):
                found.append((ti.task_id, name, url))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dag-id", default="shop")
    parser.add_argument("--conf", default="{}", help="JSON object passed as the run's conf (DAG params)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run (default 30 min)")
    parser.add_argument("--parse-timeout", type=float, default=120, help="seconds to wait for the DAG to be parsed")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--first", action="append", default=[], metavar="DAG_ID",
                        help="run this DAG to success before the main one (repeatable), e.g. loadstack_snapshots")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    narrator = Narrator()

    try:
        conf = parse_conf(args.conf)
    except ValueError as exc:
        narrator.fail(str(exc))
        return 2

    environ = {"AIRFLOW_HOME": str(AIRFLOW_HOME), **os.environ}
    try:
        settings = ApiSettings.from_environment(environ)
    except RestError as exc:
        narrator.fail(f"{exc}")
        return 1
    client = AirflowRestClient(settings)
    try:
        client.login()
    except RestError as exc:
        narrator.fail(f"cannot log in to {settings.base_url} as {settings.user}: {exc}. "
                      "Is the api-server up? (scripts/services.sh status)")
        return 1

    dags_folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or os.environ.get("LOADSTACK_DAGS_FOLDER") or ROOT / "dags"
    hint = f"DAG folder: {dags_folder}; dag-processor log: {ROOT / 'var' / 'log' / 'dag-processor.log'}"

    def run(dag_id: str, run_conf: dict):
        return run_dag(client, dag_id, run_conf, timeout=args.timeout, parse_timeout=args.parse_timeout, poll=args.poll,
                       narrator=narrator, log_folder=LOG_FOLDER, not_found_hint=hint)

    try:
        for first in args.first:
            narrator.say(f"first: {first}")
            if not run(first, {}).succeeded:
                narrator.fail(f"{first} did not succeed; not running {args.dag_id}")
                return 1
        outcome = run(args.dag_id, conf)
        if outcome.run_id is None:  # never triggered: the reason is printed above
            return 1
        try:
            links = report_links(client, args.dag_id, outcome.run_id)
        except RestError as exc:
            links = []
            narrator.problem(f"the run's report links could not be read: {exc}")
    except KeyboardInterrupt:
        narrator.fail("interrupted; the run goes on in Airflow (see the UI)")
        return 130
    finally:
        client.close()

    print()
    print(f"Airflow UI:     {settings.base_url}   (this run: {outcome.url})")
    # The password stays in its file (mode 0600): a terminal's scrollback and a CI log are not for secrets.
    print(f"login:          user {settings.user}, password in {password_file_path(environ)}")
    print(f"task logs:      {os.environ.get('LOADSTACK_TASK_LOGS') or LOG_FOLDER / f'dag_id={args.dag_id}' / f'run_id={outcome.run_id}'}/")
    for task_id, name, url in links:
        print(f"{name.lower() + ':':15s} {url}   ({task_id})")
    print(f"stop everything: {os.environ.get('LOADSTACK_STOP_COMMAND', 'make down')}")
    return 0 if outcome.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
