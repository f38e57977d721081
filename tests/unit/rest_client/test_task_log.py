from __future__ import annotations

import json
from datetime import datetime, timezone

from loadstack.rest_client.task_log import format_record, tail


def _line(event: str, level: str = "info", **extra) -> str:
    return json.dumps({"timestamp": "2026-01-02T03:04:05.123Z", "level": level, "event": event, **extra})


def test_json_lines_and_dicts_render_alike():
    as_text = format_record(json.loads(_line("started", "warning")))
    as_dict = format_record({"timestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "level": "warning", "event": "started"})
    assert as_text == as_dict == ["03:04:05 WARNING started"]
    assert format_record("not json at all") == ["not json at all"]


def test_an_exception_shows_its_last_frames_and_value():
    frames = [{"filename": f"f{i}.py", "lineno": i, "name": f"fn{i}"} for i in range(5)]
    record = json.loads(_line("Task failed", "error", error_detail=[{"exc_type": "KeyError", "exc_value": "'x'", "frames": frames}]))
    assert format_record(record) == [
        "03:04:05 ERROR   Task failed", "    at f2.py:2 in fn2", "    at f3.py:3 in fn3", "    at f4.py:4 in fn4", "    KeyError: 'x'",
    ]


def test_the_tail_keeps_earlier_errors():
    lines = [_line("early error", "error")] + [_line(f"info {i}") for i in range(30)] + ["", "plain text at the end"]
    text = tail(lines, count=5).splitlines()
    assert text[0] == "03:04:05 ERROR   early error" and text[1] == "    ..."
    assert text[2:] == [f"03:04:05 INFO    info {i}" for i in range(26, 30)] + ["plain text at the end"]
    assert tail([_line("only")]) == "03:04:05 INFO    only"
