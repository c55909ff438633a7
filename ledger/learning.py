"""Learning paths (spec 7): the catalog shipped as data files, and each user's progress.

A user chooses one path; it is locked once any module was started. Completing the last step of
a module completes it; the first completion of a module is paid once (the command records the
award in the same transaction). A completed module may be reset after a 24-hour cooldown, and
a reset module pays nothing when completed again.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.ids import derived_id

DEFAULT_PATH = "bitcoin-basics"
RESET_COOLDOWN = timedelta(hours=24)


@dataclass(frozen=True)
class Module:
    number: int
    title: str
    points: int
    steps: tuple[str, ...]


@dataclass(frozen=True)
class LearningPath:
    id: str
    title: str
    modules: tuple[Module, ...]

    def module(self, number: int) -> Module:
        for module in self.modules:
            if module.number == number:
                return module
        raise NotFoundError("No such module.")


def _load(text: str) -> LearningPath:
    data = json.loads(text)
    modules = tuple(
        Module(int(m["module_number"]), str(m["title"]), int(m["points"]), tuple(m["steps"]))
        for m in data["modules"]
    )
    return LearningPath(str(data["id"]), str(data["title"]), modules)


@functools.cache
def catalog() -> dict[str, LearningPath]:
    """Every learning path shipped in ledger/learning_paths/*.json, by id."""
    folder = resources.files("ledger").joinpath("learning_paths")
    paths = [_load(f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".json")]
    return {path.id: path for path in sorted(paths, key=lambda p: p.id)}


def learning_path(path_id: str) -> LearningPath:
    """The path with this id; an unknown one is a validation error (422)."""
    found = catalog().get(path_id)
    if found is None:
        raise ValidationError({"path": [f"must be one of {', '.join(catalog())}"]})
    return found


def progress_id(user_id: UUID) -> UUID:
    """The one LearningProgress of a user."""
    return derived_id("learning-progress", str(user_id))


class LearningProgress(Aggregate):
    """One user's chosen path and the steps and modules they completed."""

    class Started(Aggregate.Created):
        """The user first chose a path."""

        user_id: UUID
        path: str

    class PathChosen(Aggregate.Event):
        """The user chose another path before starting any module."""

        path: str

    class StepCompleted(Aggregate.Event):
        module_number: int
        step: int
        at: datetime

    class ModuleCompleted(Aggregate.Event):
        """Every step of the module is done; `awarded` points were paid (0 after a reset)."""

        module_number: int
        at: datetime
        awarded: int

    class ModuleReset(Aggregate.Event):
        module_number: int
        at: datetime

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return progress_id(user_id)

    @event(Started)
    def __init__(self, user_id: UUID, path: str) -> None:
        self.user_id = user_id
        self.path = path
        self.steps: dict[int, set[int]] = {}
        self.completed_at: dict[int, datetime] = {}
        self.paid: set[int] = set()
        self.started = False

    def choose(self, path: str) -> None:
        if path == self.path:
            return
        if self.started:
            raise ConflictError("The learning path cannot change once a module was started.")
        self._path_chosen(path)

    @event(PathChosen)
    def _path_chosen(self, path: str) -> None:
        self.path = path

    def complete_step(self, module: Module, step: int, at: datetime) -> int:
        """Complete `step` of `module` (again is no change); the points to award now."""
        if not 1 <= step <= len(module.steps):
            raise NotFoundError("No such step.")
        if step in self.steps.get(module.number, set()):
            return 0
        self._step_completed(module.number, step, at)
        if len(self.steps[module.number]) < len(module.steps):
            return 0
        award = 0 if module.number in self.paid else module.points
        self._module_completed(module.number, at, award)
        return award

    @event(StepCompleted)
    def _step_completed(self, module_number: int, step: int, at: datetime) -> None:
        self.steps.setdefault(module_number, set()).add(step)
        self.started = True

    @event(ModuleCompleted)
    def _module_completed(self, module_number: int, at: datetime, awarded: int) -> None:
        self.completed_at[module_number] = at
        self.paid.add(module_number)

    def reset(self, module_number: int, now: datetime) -> None:
        completed_at = self.completed_at.get(module_number)
        if completed_at is None:
            raise ConflictError("Only a completed module can be reset.")
        if now < completed_at + RESET_COOLDOWN:
            raise ConflictError("A module can be reset 24 hours after it was completed.")
        self._module_reset(module_number, now)

    @event(ModuleReset)
    def _module_reset(self, module_number: int, at: datetime) -> None:
        self.steps.pop(module_number, None)
        self.completed_at.pop(module_number, None)
