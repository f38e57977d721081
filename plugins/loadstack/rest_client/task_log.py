"""Task logs made readable: Airflow 3 writes one JSON record per line (timestamp, level, event, error_detail).

Records come from the REST API (dicts, or plain strings for unstructured lines) or from a log file
(JSON text lines); both render the same way. The tail of a failed task's log keeps the last error
records even when they scrolled out of the tail, with the last frames of their traceback.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Mapping

TAIL_LINES = 25
FRAMES_SHOWN = 3


def as_record(line: Any) -> Mapping[str, Any] | str:
    """A dict for a structured record (a dict, or a JSON text line with an `event`), else the text."""
    if isinstance(line, Mapping):
        return line
    text = str(line)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict) and "event" in parsed else text


def format_record(record: Mapping[str, Any] | str) -> list[str]:
    """`HH:MM:SS LEVEL   event`, then for an exception its last frames and `Type: value`."""
    if isinstance(record, str):
        return [record]
    stamp = record.get("timestamp", "")
    clock = stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp)[11:19]
    out = [f"{clock} {str(record.get('level', '')).upper():7s} {record.get('event', '')}"]
    for exc in record.get("error_detail") or []:
        for frame in (exc.get("frames") or [])[-FRAMES_SHOWN:]:
            out.append(f"    at {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
        out.append(f"    {exc.get('exc_type')}: {exc.get('exc_value')}")
    return out


def is_error(record: Mapping[str, Any] | str) -> bool:
    return not isinstance(record, str) and str(record.get("level", "")).lower() in ("error", "critical")


def tail(lines: Iterable[Any], count: int = TAIL_LINES) -> str:
    """The last `count` records rendered; the last two error records before them are kept, then `...`."""
    records = [as_record(line) for line in lines if not (isinstance(line, str) and not line.strip())]
    shown = records[-count:]
    earlier_errors = [r for r in records[:-count] if is_error(r)][-2:] if len(records) > count else []
    out: list[str] = []
    for record in earlier_errors:
        out += format_record(record)
    if earlier_errors:
        out.append("    ...")
    for record in shown:
        out += format_record(record)
    return "\n".join(out)
