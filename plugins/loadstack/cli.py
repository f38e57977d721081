"""`loadstack` command line: validate specs, show their step graph, list the stacks that are up, run DAGs and
steer ramps through Airflow's REST API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from loadstack.profiles import ProfileError, load_profile
from loadstack.run_history import HISTORY_COLUMNS, HISTORY_PREFIX, RunHistory, history_rows, index_key
from loadstack.spec import SpecError, load_stack
from loadstack.stack_registry import REGISTRY_PREFIX, StackEntry, StackRegistry, describe_expiry


def _spec_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path])
    return files


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one_line(text: str, limit: int = 500) -> str:
    """`text` with newlines and other control characters escaped, cut to `limit` characters."""
    text = "".join(_ESCAPES.get(c, c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
                   for c in text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _crash_line(path: Path, exc: BaseException) -> str:
    """The one line for a file loadstack itself failed on (anything but a SpecError)."""
    what = f"{type(exc).__name__}: {_one_line(str(exc))}" if str(exc) else type(exc).__name__
    return f"{_one_line(str(path))}: loadstack failed on this file ({what}); this is a loadstack bug — please report it"


def cmd_validate(args: argparse.Namespace) -> int:
    files = _spec_files(args.paths)
    if not files:
        print("loadstack validate: no spec files found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    bad = 0
    for path in files:
        try:
            stack = load_stack(path)
        except SpecError as exc:
            bad += 1
            for line in exc.lines():
                print(line, file=sys.stderr)
            continue
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one file must not stop the others
            # Anything but a SpecError is loadstack's fault, not the spec's (RecursionError, MemoryError, a
            # TypeError on input of an unexpected shape): say so in one line, and go on with the next file.
            bad += 1
            print(_crash_line(path, exc), file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{path}: ok ({len(stack.steps)} steps)")
    if bad and not args.quiet:
        print(f"{bad} of {len(files)} spec(s) invalid", file=sys.stderr)
    return 1 if bad else 0


def parse_durations(text: str) -> dict[str, float]:
    """`network=20,app_cluster=70` or the path of a JSON object {step: seconds}."""
    if Path(text).is_file():
        return {k: float(v) for k, v in json.loads(Path(text).read_text()).items()}
    durations = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--durations: '{item}' is not step=seconds")
        durations[name.strip()] = float(value)
    return durations


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        stack = load_stack(args.path)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    graph = stack.graph
    levels = graph.levels()
    print(f"stack {stack.name}: {len(graph.nodes)} steps, {len(levels)} levels")
    for index, level in enumerate(levels):
        print(f"level {index}: {', '.join(level)}")
    print("edges:")
    for upstream, downstream in graph.edges:
        print(f"  {upstream} -> {downstream}")
    if args.durations:
        try:
            durations = parse_durations(args.durations)
            path = graph.critical_path(durations)
        except (KeyError, ValueError) as exc:
            print(f"loadstack graph: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 1
        total = sum(durations[n] for n in graph.nodes)
        print(f"critical path: {' -> '.join(path.steps)} ({path.duration:g}s; all steps in sequence: {total:g}s)")
    return 0


LS_COLUMNS = ("stack", "profile", "variant", "owner", "created", "expires", "status")


def registry_rows(entries: list[StackEntry], now: datetime) -> list[tuple[str, ...]]:
    """One row per entry, in LS_COLUMNS order; times in UTC."""
    rows = []
    for entry in entries:
        expires = f"{entry.expires_at:%Y-%m-%d %H:%M} ({describe_expiry(entry, now)})"
        status = f"{entry.status}: {entry.reason}" if entry.status != "up" and entry.reason else entry.status
        rows.append((entry.stack, entry.profile, entry.variant, entry.owner, f"{entry.created_at:%Y-%m-%d %H:%M}",
                     expires, status))
    return rows


def cmd_ls(args: argparse.Namespace) -> int:
    try:
        profile = load_profile()
        entries = StackRegistry(profile).list()
    except (ProfileError, ClientError, BotoCoreError, ValueError) as exc:
        print(f"loadstack ls: {exc}", file=sys.stderr)
        return 1
    if not entries:
        print(f"no stacks are up (registry: s3://{profile.state_bucket}/{REGISTRY_PREFIX})")
        return 0
    print_table(LS_COLUMNS, registry_rows(entries, datetime.now(UTC)))
    return 0


def print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    for row in [tuple(c.upper() for c in columns), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_history(args: argparse.Namespace) -> int:
    try:
        profile = load_profile()
        records = RunHistory(profile).list(args.stack)
    except (ProfileError, ClientError, BotoCoreError, ValueError, KeyError) as exc:
        print(f"loadstack history: {exc}", file=sys.stderr)
        return 1
    if not records:
        print(f"no runs of {args.stack} recorded (history: s3://{profile.state_bucket}/{HISTORY_PREFIX}{args.stack}/)")
        return 0
    shown = records[-args.limit:] if args.limit > 0 else records
    passed = sum(r.outcome == "pass" for r in shown)
    print_table(HISTORY_COLUMNS, history_rows(shown))
    print(f"{len(shown)} of {len(records)} runs shown, {passed} passed; page: "
          f"s3://{profile.report_bucket}/{index_key(args.stack)}")
    return 0


def _client(args: argparse.Namespace):
    # airflow_client takes seconds to import: only the commands that talk to Airflow pay for it.
    from loadstack.rest_client.client import AirflowRestClient, ApiSettings

    settings = ApiSettings.from_environment(base_url=args.api_url, user=args.user, password_file=args.password_file)
    return AirflowRestClient(settings)


def _log_folder() -> Path | None:
    """Airflow's task log folder when this machine runs Airflow: read when the API cannot serve a log."""
    folder = os.environ.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER")
    return Path(folder) if folder else None


def cmd_run(args: argparse.Namespace) -> int:
    # airflow_client takes seconds to import: only the commands that talk to Airflow pay for it.
    from loadstack.rest_client.client import RestError
    from loadstack.rest_client.run import Narrator, parse_conf, run_dag

    narrator = Narrator()
    try:
        conf = parse_conf(args.conf)
    except ValueError as exc:
        narrator.fail(str(exc))
        return 2
    try:
        client = _client(args)
    except RestError as exc:
        narrator.fail(str(exc))
        return 1
    with client:
        try:
            outcome = run_dag(client, args.dag_id, conf, timeout=args.timeout, parse_timeout=args.parse_timeout,
                              poll=args.poll, narrator=narrator, log_folder=_log_folder())
        except KeyboardInterrupt:
            narrator.fail("interrupted; the run goes on in Airflow (see the UI)")
            return 130
    return 0 if outcome.succeeded else 1


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def cmd_runs(args: argparse.Namespace) -> int:
    # airflow_client takes seconds to import: only the commands that talk to Airflow pay for it.
    from loadstack.rest_client.client import RestError
    from loadstack.rest_client.run import state_of

    try:
        with _client(args) as client:
            runs = client.runs(args.dag_id, limit=args.limit)
    except RestError as exc:
        print(f"loadstack runs: {exc}", file=sys.stderr)
        return 1
    if not runs:
        print(f"no runs of {args.dag_id}")
        return 0
    width = max(len(run.dag_run_id) for run in runs)
    print(f"{'run_id':{width}s}  {'state':10s}  {'started':19s}  {'ended':19s}  duration")
    for run in runs:
        duration = f"{run.duration:.0f} s" if run.duration is not None else "-"
        print(f"{run.dag_run_id:{width}s}  {state_of(run):10s}  {_when(run.start_date):19s}  {_when(run.end_date):19s}  {duration}")
    return 0


def cmd_ramp(args: argparse.Namespace) -> int:
    # airflow_client takes seconds to import: only the commands that talk to Airflow pay for it.
    from loadstack.rest_client.client import RestError
    from loadstack.rest_client.ramp import RampNotFound, find_ramp, read_status, send_control

    try:
        with _client(args) as client:
            ramp = find_ramp(client, args.stack, run_id=args.run, step=args.step)
            where = f"{ramp.dag_id} run {ramp.run_id} task {ramp.task_id} ({ramp.state})"
            if args.action == "status":
                status, control = read_status(client, ramp)
                print(where)
                print(f"status:  {json.dumps(status, sort_keys=True) if status else 'none published yet'}")
                print(f"control: {json.dumps(control, sort_keys=True) if control else 'none (running freely)'}")
                return 0
            record = send_control(client, ramp, args.action, reason=args.reason)
    except (RestError, RampNotFound) as exc:
        print(f"loadstack ramp {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.action} sent to {where} (seq {record.seq}); the ramp applies it at its next tick")
    return 0


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    api = parser.add_argument_group("Airflow API (defaults from scripts/env.sh)")
    api.add_argument("--api-url", help="the api-server's base URL (default: $LOADSTACK_API_URL)")
    api.add_argument("--user", default="admin", help="simple auth manager user (default: %(default)s)")
    api.add_argument("--password-file", type=Path,
                     help='JSON {"user": "password"} (default: $AIRFLOW_HOME/passwords.json)')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadstack", description="Synthetic load-test stacks as Airflow DAGs.")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate stack specs; exit 1 if any is invalid")
    validate.add_argument("paths", nargs="+", help="spec files or directories of *.yaml")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    validate.set_defaults(func=cmd_validate)
    graph = sub.add_parser("graph", help="print a stack's parallel levels, edges and critical path")
    graph.add_argument("path")
    graph.add_argument("--durations", help="step=seconds,... or a JSON file; prints the critical path")
    graph.set_defaults(func=cmd_graph)
    ls = sub.add_parser("ls", help="list the stacks that are up (the stack registry in the profile's state bucket)")
    ls.set_defaults(func=cmd_ls)
    history = sub.add_parser("history", help="a stack's recorded runs, newest first: outcome, where it failed, "
                             "spin-up time, ramp result, teardown (kept in the profile's state bucket)")
    history.add_argument("stack")
    history.add_argument("--limit", type=int, default=30, help="the newest N runs (0: all; default: %(default)s)")
    history.set_defaults(func=cmd_history)
    run = sub.add_parser("run", help="trigger a DAG run through the REST API and follow it; exit 0 only on success")
    run.add_argument("dag_id")
    run.add_argument("--conf", default="{}", help="JSON object passed as the run's conf (DAG params)")
    run.add_argument("--timeout", type=float, default=1800, help="seconds to follow the run (default: %(default)s)")
    run.add_argument("--parse-timeout", type=float, default=120, help="seconds to wait for the DAG to be parsed")
    run.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    _add_connection_flags(run)
    run.set_defaults(func=cmd_run)
    runs = sub.add_parser("runs", help="list a DAG's most recent runs")
    runs.add_argument("dag_id")
    runs.add_argument("--limit", type=int, default=20)
    _add_connection_flags(runs)
    runs.set_defaults(func=cmd_runs)
    ramp = sub.add_parser("ramp", help="status of a running ramp, or pause / resume / terminate it")
    ramp.add_argument("action", choices=["status", "pause", "resume", "terminate"])
    ramp.add_argument("stack", help="the stack (its DAG id)")
    ramp.add_argument("--run", help="a run id (default: the newest running run)")
    ramp.add_argument("--step", help="the ramp step, if the stack has several")
    ramp.add_argument("--reason", default="", help="why (kept in the ramp's decision log)")
    _add_connection_flags(ramp)
    ramp.set_defaults(func=cmd_ramp)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
