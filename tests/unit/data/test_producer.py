"""The producer protocol end to end with a real child process (`python -m loadstack.data.producer`), no server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadstack.data.events import EventGenerator
from loadstack.data.producer import EventChunkProducer, ProducerError


def test_chunks_arrive_in_order_and_equal_the_generator(small_params, tmp_path):
    shard = 3
    producer = EventChunkProducer(small_params, shard, chunk_rows=300, workdir=tmp_path, max_ahead=2)
    received = []
    try:
        for path, rows in producer:
            text = path.read_text(encoding="utf-8")
            assert text.count("\n") == rows <= 300
            received.append(text)
            producer.consumed(path)
            assert not path.exists()
    finally:
        producer.close()
    expected = ["".join(chunk) for chunk in EventGenerator(small_params, shard).iter_chunks(300)]
    assert received == expected
    assert producer.total == sum(text.count("\n") for text in received) == EventGenerator(small_params, shard).total_rows
    assert not any(tmp_path.iterdir())  # its directory is gone too


def test_the_child_stops_at_max_ahead_and_cleans_up_when_the_parent_goes(small_params, tmp_path):
    out_dir = tmp_path / "chunks"
    out_dir.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "loadstack.data.producer", "--params", json.dumps(small_params.as_dict()),
         "--shard", "0", "--out-dir", str(out_dir), "--chunk-rows", "100", "--max-ahead", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        announced = [child.stdout.readline().split()[0] for _ in range(2)]
        assert announced == ["chunk", "chunk"]
        assert len(list(out_dir.glob("*.tsv"))) == 2  # no acknowledgement: it waits, two chunks ahead
        child.stdin.close()  # the parent is gone
        assert child.wait(timeout=30) == 1
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not out_dir.exists()  # chunks deleted, then the directory


def test_a_child_that_dies_early_is_an_error_with_its_stderr(small_params, tmp_path):
    producer = EventChunkProducer(small_params, 99, chunk_rows=100, workdir=tmp_path)  # no shard 99
    try:
        with pytest.raises(ProducerError, match=r"(?s)events_99 exited with code 1.*shard 99 is outside 0\.\.15"):
            list(producer)
    finally:
        producer.close()
