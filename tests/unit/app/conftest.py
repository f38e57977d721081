"""The application under test lives in the top-level app/ folder (package shopapp), outside plugins/:
put it on sys.path for its unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[3] / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))


def pytest_configure(config):
    # Starlette 1.x prefers httpx2 for its TestClient; httpx (installed) serves these tests the same.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient` is deprecated")
