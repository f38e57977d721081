"""`loadstack` command line: validate specs and show their step graph."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loadstack.spec import SpecError, load_stack


def _spec_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path])
    return files


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
