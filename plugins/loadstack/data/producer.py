"""The events producer: one shard generated in a child process while the parent loads earlier chunks.

Both ends of one line-based protocol live here. The child (`python -m loadstack.data.producer`,
`produce_event_chunks`) writes the shard's rows as TSV chunk files and prints `chunk PATH ROWS`
per finished file and `end TOTAL` at the end; the parent (`EventChunkProducer`) hands each chunk to
its loader and writes one line per chunk it has loaded and deleted. The child runs at most
`max_ahead` chunks ahead and blocks on stdin, which also tells it when the parent died (EOF): it
then deletes its files and exits, so an interrupted seed leaves no producer and no garbage behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from loadstack.data.events import EventGenerator
from loadstack.data.params import SeedParams, events_table

# Chunks written but not yet loaded: enough to keep both processes busy, little disk.
DEFAULT_MAX_AHEAD = 2


class ProducerError(RuntimeError):
    """The producer process ended before writing its shard's last chunk; the message has its stderr."""


def produce_event_chunks(params: SeedParams, shard: int, *, out_dir: Path, chunk_rows: int, max_ahead: int) -> int:
    """The child's end: write the shard's rows as chunk files, announce each on stdout, pace by acks on stdin.

    Returns the exit code: 0 after `end TOTAL`, 1 when the parent went away (files deleted).
    """
    generator = EventGenerator(params, shard)
    outstanding = 0
    total = 0
    try:
        for number, lines in enumerate(generator.iter_chunks(chunk_rows)):
            path = out_dir / f"{events_table(shard)}-{number:05d}.tsv"
            partial = path.with_suffix(".partial")
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                handle.write("".join(lines))
            partial.rename(path)
            total += len(lines)
            print(f"chunk {path} {len(lines)}", flush=True)
            outstanding += 1
            while outstanding >= max_ahead:
                if not sys.stdin.readline():
                    raise BrokenPipeError("consumer went away")
                outstanding -= 1
        print(f"end {total}", flush=True)
    except BrokenPipeError:
        for leftover in out_dir.glob(f"{events_table(shard)}-*"):
            leftover.unlink(missing_ok=True)
        try:
            out_dir.rmdir()  # the consumer made it, but a killed consumer cannot remove it any more
        except OSError:
            pass
        # stdout is gone too; keep the interpreter from complaining while it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


class EventChunkProducer:
    """The parent's end: starts the child for one shard and yields its chunk files as they appear."""

    def __init__(
        self, params: SeedParams, shard: int, *, chunk_rows: int, workdir: Path | None, max_ahead: int = DEFAULT_MAX_AHEAD
    ) -> None:
        self.params, self.shard, self.chunk_rows = params, shard, chunk_rows
        self.table = events_table(shard)
        self.directory = Path(tempfile.mkdtemp(prefix=f"loadstack-seed-{self.table}-", dir=workdir))
        self._stderr = tempfile.TemporaryFile(dir=workdir)
        self.total: int | None = None
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadstack.data.producer",
                "--params",
                json.dumps(params.as_dict()),
                "--shard",
                str(shard),
                "--out-dir",
                str(self.directory),
                "--chunk-rows",
                str(chunk_rows),
                "--max-ahead",
                str(max_ahead),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))},
        )

    def __iter__(self) -> Iterator[tuple[Path, int]]:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "chunk":
                path, _, rows = rest.rpartition(" ")
                yield Path(path), int(rows)
            elif kind == "end":
                self.total = int(rest)
                return
        code = self._process.wait()
        self._stderr.seek(0)
        detail = self._stderr.read().decode(errors="replace")[-2000:]
        raise ProducerError(f"the generator for {self.table} exited with code {code} before finishing:\n{detail}")

    def consumed(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        try:
            assert self._process.stdin is not None
            self._process.stdin.write("ok\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the producer has already written its last chunk and exited

    def close(self) -> None:
        try:
            if self._process.stdin:
                self._process.stdin.close()  # EOF: a producer still running cleans up and exits
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        self._stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _package_root() -> str:
    """The directory holding the `loadstack` package, for the producer's import path."""
    return str(Path(__file__).resolve().parents[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadstack.data.producer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", required=True, help="SeedParams as JSON")
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--max-ahead", type=int, default=DEFAULT_MAX_AHEAD)
    args = parser.parse_args(argv)
    params = SeedParams.from_dict(json.loads(args.params))
    return produce_event_chunks(params, args.shard, out_dir=args.out_dir, chunk_rows=args.chunk_rows, max_ahead=args.max_ahead)


if __name__ == "__main__":
    sys.exit(main())
