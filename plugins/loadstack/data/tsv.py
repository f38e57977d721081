"""Field text for `LOAD DATA`'s default TSV format: escaping, NULL, JSON fragments, money, clock times.

    LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

NULL = "\\N"
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def tsv_escape(value: str) -> str:
    """Escape one text field for LOAD DATA's default (backslash) escaping."""
    return value.translate(_TSV_ESCAPES)


def tsv_field(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        return tsv_escape(value)
    return str(value)


def json_text(value: Any) -> str:
    """Compact JSON, TSV-escaped: for fragments built once, never per row."""
    return tsv_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))



def cents(value: int) -> str:
    """An amount in cents as decimal text: 1999 -> "19.99"."""
    return f"{value // 100}.{value % 100:02d}"


@lru_cache(maxsize=1)
def times_of_day() -> tuple[str, ...]:
    """"HH:MM:SS" for every second of a day, indexed by the second: timestamps are built by lookup."""
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))
