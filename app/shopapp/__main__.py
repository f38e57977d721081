"""``python -m shopapp --host 127.0.0.1 --port PORT --name NAME``: one app process (one uvicorn worker).

NAME labels the process in its log and /health, and marks it on its command line (a supervisor
knows its process by it). Configuration comes from the environment (see `config`); a missing or
invalid variable, or an unreadable secret, stops it before it binds its port (exit code 2). A
database or Redis it cannot reach stops it during start-up (exit code 3). SIGTERM or SIGINT: it
stops accepting, finishes the requests in flight (up to 10 s) and closes its pools.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from shopapp.app import create_app
from shopapp.cache import Cache
from shopapp.config import ConfigError, load_settings
from shopapp.credentials import load_endpoints
from shopapp.database import EventStore

EXIT_CONFIG, EXIT_STARTUP = 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shopapp", description="The shop stack's application under test.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--name", required=True, help="this process's name, e.g. shop-app-1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s shopapp[{args.name}] %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(os.environ, args.name)
        database, cache = load_endpoints(settings)
    except ConfigError as exc:
        print(f"shopapp {args.name}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    app = create_app(settings, store=EventStore(database, settings.db_pool_size), cache=Cache(cache))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            access_log=False,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
            server_header=False,
        )
    )
    server.run()
    if not server.started:
        print(f"shopapp {args.name}: could not start (the error is above)", file=sys.stderr)
        return EXIT_STARTUP
    return 0


if __name__ == "__main__":
    sys.exit(main())
