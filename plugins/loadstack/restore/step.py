"""What every restore of a stack step shares, whichever resource it restores and wherever.

A step's restore is made for one (profile, stack, step); it restores from a catalogued snapshot with
the variant's size and its placement, resumes after a wait it asked for, and tears down what it made.
`DatabaseRestore` and `CacheRestore` name the two resources; `loadstack.backends` picks the profile's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel

from loadstack.profiles import Profile
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Progress, UnexpectedPhase, WaitEvent


class StepRestore(ABC):
    # What is restored ("database", "cache"), for messages.
    resource: ClassVar[str]

    def __init__(self, profile: Profile, stack: str, step: str) -> None:
        self.profile = profile
        self.stack = stack
        self.step = step

    @abstractmethod
    def restore(self, entry: CatalogEntry, size: BaseModel, placement: BaseModel) -> Progress:
        """Restore from `entry` (or reuse a restore of it): the outputs, or a wait to resume after."""

    def resume(self, snapshot: str, event: WaitEvent) -> Progress:
        """Carry on after a wait `restore` asked for; `snapshot` is the name `restore` was given."""
        raise UnexpectedPhase(f"{self.stack}/{self.step} {self.resource}", event.phase, ())

    @abstractmethod
    def teardown(self) -> str:
        """Remove what `restore` made; says what was removed (for the log)."""
