"""A real exporter of the app's metric names whose traffic a test sets: GET /set?qps=Q&errors=E&latency=L.

Run: python exporter.py PORT [MARKER]. A thread counts Q requests a second into
shopapp_requests_total{route="/work",method="GET",status="200"|"500"} (a share E of them 500) and
observes L seconds for each in shopapp_request_duration_seconds, as the app would under that load.
No traffic until told, so a test can make a clean step change.
"""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("shopapp_requests", "requests", ["route", "method", "status"])
LATENCY = Histogram("shopapp_request_duration_seconds", "latency", ["route"])
TICK = 0.05
state = {"qps": 0.0, "errors": 0.0, "latency": 0.02}
# Series exist from the start (zero), as an app's do once it served a request.
REQUESTS.labels("/work", "GET", "200")
LATENCY.labels("/work")


def traffic() -> None:
    owed = owed_errors = 0.0
    next_tick = time.monotonic()
    while True:
        next_tick += TICK
        time.sleep(max(0.0, next_tick - time.monotonic()))
        owed += state["qps"] * TICK
        count = int(owed)
        owed -= count
        owed_errors += count * state["errors"]
        errors = int(owed_errors)
        owed_errors -= errors
        if count:
            REQUESTS.labels("/work", "GET", "200").inc(count - errors)
            if errors:
                REQUESTS.labels("/work", "GET", "500").inc(errors)
            for _ in range(count):
                LATENCY.labels("/work").observe(state["latency"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/metrics":
            body, kind = generate_latest(), CONTENT_TYPE_LATEST
        elif url.path == "/set":
            for key, values in parse_qs(url.query).items():
                state[key] = float(values[0])
            body, kind = repr(state).encode(), "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


threading.Thread(target=traffic, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
