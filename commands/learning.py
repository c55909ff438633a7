"""Learning commands (spec 7): choose a path, complete a step, reset a module.

Completing a module for the first time awards its points from the treasury: one `award` entry
under the idempotency key `education:<user>` / `<path>:<module>`, saved in the same transaction
as the progress, so it can never be paid twice, not even by concurrent requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.journal import Journal
from commands.points import Idempotency, MovePoints
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.accounts import TREASURY, AccountKind, account_name
from ledger.errors import ConflictError
from ledger.journal import EntryKind, Posting
from ledger.learning import LearningProgress, learning_path, progress_id

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ChooseLearningPath:
    user_id: UUID
    path: str


@dataclass(frozen=True)
class CompleteStep:
    user_id: UUID
    module_number: int
    step: int


@dataclass(frozen=True)
class StepCompletion:
    module_number: int
    step: int
    completed_steps: list[int]
    module_completed: bool
    awarded: int
    position: int


@dataclass(frozen=True)
class ResetModule:
    user_id: UUID
    module_number: int


def award_key(user_id: UUID, path: str, module_number: int) -> Idempotency:
    """The key that makes a module's award payable once."""
    return Idempotency(scope=f"education:{user_id}", key=f"{path}:{module_number}")


class LearningHandlers:
    """Progress from the LearningProgress aggregate; awards through the journal."""

    def __init__(self, store: BuddoStore, journal: Journal, clock: Clock) -> None:
        self.store = store
        self.journal = journal
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            ChooseLearningPath: self.choose,
            CompleteStep: self.complete_step,
            ResetModule: self.reset,
        }

    def progress(self, user_id: UUID) -> LearningProgress | None:
        try:
            return get_as(self.store, progress_id(user_id), LearningProgress)
        except AggregateNotFoundError:
            return None

    def started(self, user_id: UUID) -> LearningProgress:
        progress = self.progress(user_id)
        if progress is None:
            raise ConflictError("Choose a learning path first.")
        return progress

    def choose(self, command: ChooseLearningPath) -> int:
        path = learning_path(command.path).id

        def attempt() -> int:
            progress = self.progress(command.user_id)
            if progress is None:
                progress = LearningProgress(user_id=command.user_id, path=path)
            progress.choose(path)
            return self.store.record(progress)

        return with_retries(attempt)

    def complete_step(self, command: CompleteStep) -> StepCompletion:
        user = account_name(AccountKind.USER, command.user_id)
        with self.journal.locks.hold([TREASURY, user]):
            return with_retries(lambda: self.attempt(command), self.journal.max_attempts)

    def attempt(self, command: CompleteStep) -> StepCompletion:
        """One try from fresh aggregates: the step, and the award when it completes the module."""
        progress = self.started(command.user_id)
        module = learning_path(progress.path).module(command.module_number)
        award = progress.complete_step(module, command.step, self.clock())
        if award == 0:
            position = self.store.record(progress)
        else:
            plan = MovePoints(
                kind=EntryKind.AWARD,
                postings=(
                    Posting(TREASURY, -award),
                    Posting(account_name(AccountKind.USER, command.user_id), award),
                ),
                memo=f"Learning: {module.title}",
                metadata={"path": progress.path, "module_number": module.number},
                idempotency=award_key(command.user_id, progress.path, module.number),
            ).plan()
            entry = self.journal.attempt(plan, extras=lambda: [progress])
            if entry.replayed:
                # Another request paid this module first: our progress was stale; decide again.
                raise IntegrityError("the module's award was recorded meanwhile")
            position = entry.position
        steps = sorted(progress.steps.get(module.number, set()))
        completed = module.number in progress.completed_at
        return StepCompletion(module.number, command.step, steps, completed, award, position)

    def reset(self, command: ResetModule) -> int:
        def attempt() -> int:
            progress = self.started(command.user_id)
            learning_path(progress.path).module(command.module_number)
            progress.reset(command.module_number, self.clock())
            return self.store.record(progress)

        return with_retries(attempt)
