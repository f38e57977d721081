from __future__ import annotations

from loadstack.data.seed import SeedProgress, default_chunk_rows


def test_progress_lines():
    line = str(SeedProgress("events_03", 40_000, 80_000, 0.5))
    assert line == "events_03: 40,000/80,000 rows (50%), 80,000 rows/s, ETA 0.5 s"
    assert "done, 80,000 rows in 1.0 s (80,000 rows/s)" in str(SeedProgress("events_03", 80_000, 80_000, 1.0, done=True))
    assert "skipped" in str(SeedProgress("events_03", 5, 5, 0, done=True, skipped=True))
    assert SeedProgress("t", 0, 10, 0).eta_seconds is None


def test_chunks_keep_both_processes_busy():
    assert default_chunk_rows(62_500) == 7_812
    assert default_chunk_rows(1_000) == 5_000 and default_chunk_rows(10_000_000) == 100_000
