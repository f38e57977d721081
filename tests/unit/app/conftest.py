"""The application under test lives in the top-level app/ folder (package shopapp), outside plugins/:
put it on sys.path for its unit tests."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[3] / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

# Starlette 1.x prefers httpx2 for its TestClient; httpx (installed) serves these tests the same.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
