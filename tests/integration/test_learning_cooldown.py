"""The 24-hour reset cooldown and 'a reset module awards nothing again', on the command bus
with a clock the test moves (never by sleeping), on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from commands.bus import CommandBus
from commands.learning import ChooseLearningPath, CompleteStep, ResetModule
from commands.store import BuddoStore
from commands.users import RegisterUser, UserRegistered
from ledger.accounts import Account, account_id
from ledger.errors import ConflictError


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_bus(store: BuddoStore, clock: FakeClock) -> Iterator[CommandBus]:
    bus = CommandBus(store, threads=2, clock=clock)
    yield bus
    bus.executor.shutdown(wait=True)


def new_user(bus: CommandBus) -> UUID:
    made: UserRegistered = bus.handle(
        RegisterUser("learner@example.com", "learner", "correct horse battery")
    )
    return made.user_id


def balance(store: BuddoStore, user_id: UUID) -> int:
    account = store.repository.get(account_id(f"user:{user_id}"))
    assert isinstance(account, Account)
    return int(account.balance)


def complete_module_one(bus: CommandBus, user_id: UUID) -> list[int]:
    return [bus.handle(CompleteStep(user_id, 1, step)).awarded for step in (1, 2, 3)]


def test_reset_after_the_cooldown_awards_nothing_again(
    clocked_bus: CommandBus, store: BuddoStore, clock: FakeClock
) -> None:
    user_id = new_user(clocked_bus)
    clocked_bus.handle(ChooseLearningPath(user_id, "bitcoin-basics"))
    assert complete_module_one(clocked_bus, user_id) == [0, 0, 50]
    clock.now += timedelta(hours=24) - timedelta(seconds=1)
    with pytest.raises(ConflictError):
        clocked_bus.handle(ResetModule(user_id, 1))
    clock.now += timedelta(seconds=1)
    clocked_bus.handle(ResetModule(user_id, 1))
    with pytest.raises(ConflictError):
        clocked_bus.handle(ResetModule(user_id, 1))  # not completed any more
    assert complete_module_one(clocked_bus, user_id) == [0, 0, 0]
    assert balance(store, user_id) == 50
