from __future__ import annotations

import json

from loadstack.data.tsv import NULL, cents, json_text, times_of_day, tsv_escape, tsv_field


def test_tsv_escaping_round_trips(unescape):
    nasty = 'tab\there\nnew "line" \\ back\rslash\0nul'
    assert "\t" not in tsv_escape(nasty) and "\n" not in tsv_escape(nasty)
    assert unescape(tsv_escape(nasty)) == nasty
    assert tsv_field(None) == "\\N" and tsv_field(12) == "12"


def test_json_fragments_are_compact_and_escaped(unescape):
    text = json_text({"name": "Zoë\tTee", "price": 19.5})
    assert "\t" not in text and "Zoë" in text  # one TSV field, UTF-8 kept
    assert json.loads(unescape(text)) == {"name": "Zoë\tTee", "price": 19.5}
    assert ", " not in text and '": ' not in text  # compact


def test_cents_and_clock_times():
    assert [cents(v) for v in (0, 5, 1999, 100000)] == ["0.00", "0.05", "19.99", "1000.00"]
    clock = times_of_day()
    assert len(clock) == 86400 and clock[0] == "00:00:00" and clock[3661] == "01:01:01" and clock[-1] == "23:59:59"
    assert NULL == "\\N"
