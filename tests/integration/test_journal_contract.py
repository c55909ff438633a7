"""The ledger contract, run against SQLite and PostgreSQL alike (the `backend` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from commands.bus import CommandBus
from commands.journal import Journal
from commands.locks import LockTable
from commands.points import GrantPoints, Idempotency, SpendPoints, TransferPoints
from commands.store import BuddoStore
from http_api.settings import Settings
from http_api.wiring import open_read_database, open_store
from ledger.accounts import Account, account_id
from ledger.errors import (
    ContentionError,
    IdempotencyConflictError,
    InsufficientPointsError,
    ValidationError,
)
from projections import queries
from projections.db import ReadDatabase

USER, OTHER, APP = uuid4(), uuid4(), uuid4()
USER_ACCOUNT, OTHER_ACCOUNT, APP_ACCOUNT = f"user:{USER}", f"user:{OTHER}", f"app:{APP}"


@pytest.fixture
async def reads(settings: Settings, store: BuddoStore) -> AsyncIterator[ReadDatabase]:
    db = await open_read_database(settings)
    yield db
    await db.close()


def balances(store: BuddoStore) -> dict[str, int]:
    (rows,) = store.snapshot_query(["SELECT account, balance FROM balances"])
    return {str(account): int(str(balance)) for account, balance in rows}


async def test_grant_spend_and_transfer_move_points_as_double_entry(
    bus: CommandBus, store: BuddoStore, reads: ReadDatabase
) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 100, "welcome"))
    spent = bus.handle(SpendPoints(USER, APP, 30, "coffee", {"table": 7}))
    moved = bus.handle(TransferPoints(USER, OTHER, 20, "thanks"))

    assert spent.balance_after(USER_ACCOUNT) == 70
    assert moved.balance_after(USER_ACCOUNT) == 50
    assert balances(store) == {
        "treasury": -100,
        USER_ACCOUNT: 50,
        APP_ACCOUNT: 30,
        OTHER_ACCOUNT: 20,
    }
    view = await queries.balance(reads, USER_ACCOUNT)
    assert (view.balance, view.position) == (50, moved.position)
    assert moved.position == store.max_position()


async def test_history_is_newest_first_and_paginated(bus: CommandBus, reads: ReadDatabase) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 100, "welcome"))
    for amount in (1, 2, 3, 4, 5):
        bus.handle(SpendPoints(USER, APP, amount, f"buy {amount}"))

    first = await queries.history(reads, USER_ACCOUNT, limit=4)
    assert [item.delta for item in first.items] == [-5, -4, -3, -2]
    assert first.items[0].counterparty == APP_ACCOUNT
    assert first.next_cursor is not None
    rest = await queries.history(reads, USER_ACCOUNT, limit=4, cursor=first.next_cursor)
    assert [item.delta for item in rest.items] == [-1, 100]
    assert rest.next_cursor is None
    only_app = await queries.history(reads, USER_ACCOUNT, app_id=str(APP))
    assert len(only_app.items) == 5


async def test_a_bad_cursor_is_a_validation_error(reads: ReadDatabase) -> None:
    with pytest.raises(ValidationError):
        await queries.history(reads, USER_ACCOUNT, cursor="not-ours")


def test_an_overdraft_is_refused_and_writes_nothing(bus: CommandBus, store: BuddoStore) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 10, "welcome"))
    head = store.max_position()
    with pytest.raises(InsufficientPointsError) as refused:
        bus.handle(SpendPoints(USER, APP, 11))
    assert refused.value.balance == 10
    assert store.max_position() == head
    assert balances(store)[USER_ACCOUNT] == 10


def test_a_keyed_retry_replays_the_first_answer_and_moves_nothing(
    bus: CommandBus, store: BuddoStore
) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 50, "welcome"))
    key = Idempotency(f"app:{APP}/user:{USER}", "order-1")
    first = bus.handle(SpendPoints(USER, APP, 20, "order", idempotency=key))
    head = store.max_position()
    again = bus.handle(SpendPoints(USER, APP, 20, "order", idempotency=key))

    assert again.replayed
    assert not first.replayed
    assert (again.entry_id, again.postings, again.recorded_at) == (
        first.entry_id,
        first.postings,
        first.recorded_at,
    )
    assert store.max_position() == head
    assert balances(store)[USER_ACCOUNT] == 30


def test_a_key_reused_for_another_request_is_a_conflict(bus: CommandBus, store: BuddoStore) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 50, "welcome"))
    key = Idempotency("scope", "order-2")
    bus.handle(SpendPoints(USER, APP, 20, idempotency=key))
    head = store.max_position()
    with pytest.raises(IdempotencyConflictError):
        bus.handle(SpendPoints(USER, APP, 21, idempotency=key))
    assert store.max_position() == head


def test_a_refused_keyed_request_stays_refused(bus: CommandBus, store: BuddoStore) -> None:
    key = Idempotency("scope", "too-much")
    with pytest.raises(InsufficientPointsError):
        bus.handle(SpendPoints(USER, APP, 5, idempotency=key))
    bus.handle(GrantPoints(USER_ACCOUNT, 100, "now there is enough"))
    with pytest.raises(InsufficientPointsError) as again:
        bus.handle(SpendPoints(USER, APP, 5, idempotency=key))
    assert again.value.balance == 0
    assert balances(store)[USER_ACCOUNT] == 100


def test_a_conflicting_save_leaves_events_and_read_models_untouched(
    bus: CommandBus, store: BuddoStore
) -> None:
    bus.handle(GrantPoints(USER_ACCOUNT, 10, "welcome"))
    stale = store.repository.get(account_id(USER_ACCOUNT))
    assert isinstance(stale, Account)
    bus.handle(SpendPoints(USER, APP, 4))  # moves the account on
    head, before = store.max_position(), balances(store)

    stale.debit(uuid4(), 1)
    with pytest.raises(IntegrityError):
        store.save(stale)
    assert store.max_position() == head
    assert balances(store) == before


def test_conflicts_are_retried_a_bounded_number_of_times(
    store: BuddoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def always_conflicts(*objects: object, **_: object) -> None:
        calls.append(objects)
        raise IntegrityError("simulated conflict")

    monkeypatch.setattr(store, "save", always_conflicts)
    journal = Journal(store, LockTable(), max_attempts=3)
    with pytest.raises(ContentionError):
        journal.record(GrantPoints(USER_ACCOUNT, 1, "x").plan())
    assert len(calls) == 3


def test_state_survives_a_restart_on_the_same_storage(settings: Settings) -> None:
    first = CommandBus(open_store(settings), threads=1)
    first.handle(GrantPoints(USER_ACCOUNT, 12, "welcome"))
    first.close()

    second = CommandBus(open_store(settings), threads=1)
    try:
        assert balances(second.store)[USER_ACCOUNT] == 12
        assert second.handle(SpendPoints(USER, APP, 2)).balance_after(USER_ACCOUNT) == 10
    finally:
        second.close()


async def test_a_query_can_wait_for_a_commands_position(
    bus: CommandBus, reads: ReadDatabase
) -> None:
    done = await bus.execute(GrantPoints(USER_ACCOUNT, 3, "welcome"))
    assert await queries.wait_for(reads, "balances", done.position, seconds=1.0)
    assert not await queries.wait_for(reads, "balances", done.position + 1, seconds=0.05)
    assert await queries.projection_lag(reads) == 0
