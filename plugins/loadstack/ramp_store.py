"""Where a ramp's checkpoint lives: the state bucket, so a retry on any worker resumes where it was.

A ramp checkpoints its whole state (phase, stage, buckets, timeline) after every action and every
few seconds. The object is keyed by stack, run and step: a retry or a cleared task of the same run
finds it; a new run starts from zero. It can grow to about a megabyte for a two-hour ramp (one
sample a second), too big for Airflow's task state store (64 KB by default), which keeps only the
small control record and status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from loadstack.artifacts import read_object
from loadstack.profiles import Profile


def checkpoint_key(stack: str, run_id: str, step: str) -> str:
    return f"ramps/{stack}/{run_id}/{step}/state.json"


@dataclass(frozen=True)
class RampStore:
    profile: Profile
    stack: str
    run_id: str
    step: str

    @property
    def key(self) -> str:
        return checkpoint_key(self.stack, self.run_id, self.step)

    @property
    def location(self) -> str:
        return f"s3://{self.profile.state_bucket}/{self.key}"

    def save(self, state: dict[str, Any]) -> None:
        body = json.dumps(state, separators=(",", ":")).encode()
        self.profile.client("s3").put_object(
            Bucket=self.profile.state_bucket, Key=self.key, Body=body, ContentType="application/json"
        )

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint of this run's ramp, or None if it never checkpointed."""
        body = read_object(self.profile.client("s3"), self.profile.state_bucket, self.key)
        return None if body is None else json.loads(body)

    def delete(self) -> None:
        self.profile.client("s3").delete_object(Bucket=self.profile.state_bucket, Key=self.key)
