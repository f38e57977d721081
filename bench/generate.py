"""Generation alone, in one process: how fast the events generator builds TSV (nothing written, no server).

Seeding's speed is bounded by generation (see bench/data.py for the end-to-end numbers).

    python -m bench.generate --events 1000000 --profiles 40000
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from loadstack.data.events import EventGenerator
from loadstack.data.params import SeedParams
from loadstack.data.plan import plan_for


def benchmark(params: SeedParams, shards: list[int] | None = None) -> dict[str, float]:
    """Rows, seconds and rows/s over the given shards (default: all), the dataset plan included."""
    plan_for.cache_clear()  # the plan is part of generation: do not let an earlier call pay for it
    started = time.perf_counter()
    plan_for(params)
    plan_seconds = time.perf_counter() - started
    rows = 0
    size = 0
    for shard in shards if shards is not None else range(params.shards):
        for chunk in EventGenerator(params, shard).iter_chunks(100_000):
            rows += len(chunk)
            size += len("".join(chunk))
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "plan_seconds": plan_seconds, "rows_per_second": rows / seconds, "mb": size / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=40_000)
    args = parser.parse_args(argv)
    result = benchmark(SeedParams(events=args.events, profiles=args.profiles))
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
