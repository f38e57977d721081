"""A small real HTTP backend for HAProxy tests: answers every path with its name, /health with 200.

Run: python backend.py PORT NAME DIR [MARKER]. /health answers 503 while the file DIR/NAME.down exists, so a
test can fail one backend's checks without stopping it.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

port, name, state_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status = 503 if self.path == "/health" and (state_dir / f"{name}.down").exists() else 200
        body = name.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
