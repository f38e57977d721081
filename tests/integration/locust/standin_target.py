"""A tiny HTTP/1.1 server standing in for the shop app: it serves the locustfile's routes and counts.

Run: ``python standin_target.py --port PORT --run-dir DIR`` (DIR is also its marker on the command
line). Plain asyncio with keep-alive, so at the rates the tests ask (up to a few thousand per
second) the server is never the limit. Besides the app's routes it answers:

GET /_counts[?after=T1&until=T2]
               {"time": epoch, "total": n, "routes": {route: n}, "window": n}: requests to the app's three
               routes (not the loadgen keys), "window" those that arrived in (T1, T2] (epoch seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import time
from collections import Counter
from urllib.parse import parse_qs

PROFILES = [{"profile_id": n, "account_id": 1 + n % 7} for n in range(1, 201)]
SESSIONS = [f"s{n:04d}" for n in range(1, 101)]
ROUTES = (
    ("POST", re.compile(r"^/events$"), "/events"),
    ("GET", re.compile(r"^/profiles/[^/]+/events$"), "/profiles/{id}/events"),
    ("GET", re.compile(r"^/sessions/[^/]+/cart$"), "/sessions/{sid}/cart"),
)

routes: Counter[str] = Counter()
arrivals: list[float] = []  # in arrival order, so sorted


def answer(method: str, target: str) -> tuple[int, bytes]:
    path, _, query = target.partition("?")
    if method == "GET" and path == "/_counts":
        params = {k: float(v[0]) for k, v in parse_qs(query).items()}
        after, until = params.get("after", 0.0), params.get("until", float("inf"))
        window = bisect.bisect_right(arrivals, until) - bisect.bisect_right(arrivals, after)
        body = {"time": time.time(), "total": len(arrivals), "routes": dict(routes), "window": window}
        return 200, json.dumps(body).encode()
    if method == "GET" and path == "/loadgen/keys":
        return 200, json.dumps({"profiles": PROFILES, "sessions": SESSIONS}).encode()
    if method == "GET" and path == "/health":
        return 200, b'{"status": "ok"}'
    for route_method, pattern, name in ROUTES:
        if method == route_method and pattern.match(path):
            routes[name] += 1
            arrivals.append(time.time())
            return (201 if method == "POST" else 200), b'{"ok": true}'
    return 404, b'{"error": "not found"}'


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            status, body = answer(method, path)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run-dir", required=True)
    args = parser.parse_args()
    server = await asyncio.start_server(serve, "127.0.0.1", args.port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
