"""A standing Locust cluster, run as services independent of any stack; ramps attach to it by URL.

    python -m loadstack.locust.service up --dir D [--workers 2]     # master + workers; prints the master URL
    python -m loadstack.locust.service worker --dir D --master-host H --master-port P [--index I]
    python -m loadstack.locust.service status --dir D               # JSON: URL, master port, PIDs, workers
    python -m loadstack.locust.service down --dir D                 # stops every process of D by PID

`up` starts the master with no target (each ramp names its app: `load.master_url` in the ramp step,
then `POST /loadstack/target`) and `--workers` worker processes, every one a process of its own
with its PID file and log in D, bound to 127.0.0.1; it waits until all workers are connected and
prints the master's web URL as its only line on stdout. `worker` starts one more worker dialling a
master by host and port: on a load-generator host of its own it gets the master host's address.
`up` again in the same D finds the running processes and prints the same URL.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from loadstack.locust import master_api
from loadstack.locust.cluster import DEFAULT_LOCUSTFILE, DEFAULT_USER_MAX_QPS, LocustCluster, Ports
from loadstack.supervisor import SupervisorError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m loadstack.locust.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        found = sub.add_parser(name, help=help_text)
        found.add_argument("--dir", type=Path, required=True, help="the cluster's run directory (PIDs, logs, ports)")
        return found

    up = command("up", "start the master and its workers; print the master's URL")
    up.add_argument("--workers", type=_positive, default=2, help="worker processes on this host (default 2)")
    up.add_argument("--locustfile", type=Path, default=DEFAULT_LOCUSTFILE)
    up.add_argument("--web-port", type=_positive, help="the master's web port (default: a free one)")
    up.add_argument("--master-port", type=_positive, help="where workers dial the master (default: a free one)")
    up.add_argument("--user-max-qps", type=float, default=DEFAULT_USER_MAX_QPS)
    up.add_argument("--timeout", type=float, default=60, help="seconds to wait for every worker to connect")
    worker = command("worker", "start one more worker dialling a master by host and port")
    worker.add_argument("--master-host", required=True, help="the master host's address")
    worker.add_argument("--master-port", type=_positive, required=True, help="the master's --master-bind-port")
    worker.add_argument("--index", type=int, default=0, help="this worker's number in --dir (its PID and log files)")
    worker.add_argument("--locustfile", type=Path, default=DEFAULT_LOCUSTFILE)
    command("status", "print the cluster's URL, master port, PIDs and connected workers as JSON; exit 1 if it is down")
    command("down", "stop the master and every worker of --dir by PID")
    return top


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def ports_of(web_port: int | None, master_port: int | None) -> Ports | None:
    """Both ports given, or neither (free ones are picked); one alone is a mistake."""
    if web_port is None and master_port is None:
        return None
    if web_port is None or master_port is None:
        raise ValueError("give both --web-port and --master-port, or neither")
    if web_port == master_port:
        raise ValueError(f"--web-port and --master-port must differ, both are {web_port}")
    return Ports(master=master_port, web=web_port)


def up(args: argparse.Namespace) -> int:
    cluster = LocustCluster(
        run_dir=args.dir,
        target_url=None,
        workers=args.workers,
        locustfile=args.locustfile,
        ports=ports_of(args.web_port, args.master_port),
        user_max_qps=args.user_max_qps,
    )
    try:
        url = cluster.start()
        cluster.wait_ready(args.timeout)
    except BaseException:
        cluster.stop()
        raise
    print(url, flush=True)
    return 0


def worker(args: argparse.Namespace) -> int:
    cluster = LocustCluster(run_dir=args.dir, target_url=None, locustfile=args.locustfile)
    pid = cluster.start_worker(args.index, master_port=args.master_port, master_host=args.master_host)
    print(pid, flush=True)
    return 0


def status(args: argparse.Namespace) -> int:
    cluster = LocustCluster(run_dir=args.dir, target_url=None)
    pids = {p.name: p.pid() for p in cluster.processes() if p.pid_path.exists()}
    found: dict = {"dir": str(cluster.run_dir), "pids": pids}
    if cluster.master_process().is_running():
        cluster.ports = cluster.recorded_ports()
        found["url"] = cluster.url
        found["master_port"] = cluster.ports.master  # what a worker on another host dials (`worker --master-port`)
        try:
            found["master"] = master_api.rate_state(cluster.url, timeout=5)
        except master_api.LocustMasterError as exc:
            found["problem"] = str(exc)
    print(json.dumps(found, indent=2, sort_keys=True))
    return 0 if "master" in found else 1


def down(args: argparse.Namespace) -> int:
    stopped = LocustCluster(run_dir=args.dir, target_url=None).stop()
    print(json.dumps({"stopped": stopped}))
    return 0


COMMANDS = {"up": up, "worker": worker, "status": status, "down": down}


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as exc:
        top.error(str(exc))
    except SupervisorError as exc:
        print(f"loadstack.locust.service {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
