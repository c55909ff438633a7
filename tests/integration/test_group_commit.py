"""Group commit: many points commands in one transaction, each with its own right answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest

from commands.bus import CommandBus
from commands.group_commit import GroupCommitter
from commands.journal import Journal, _Batch
from commands.locks import LockTable
from commands.points import EntryRecorded, GrantPoints, Idempotency, MovePoints, SpendPoints
from commands.store import BuddoStore
from http_api.settings import Settings
from http_api.wiring import open_store
from ledger.errors import IdempotencyConflictError, InsufficientPointsError, ValidationError
from ledger.journal import EntryKind, Posting


def user() -> tuple[Any, str]:
    user_id = uuid4()
    return user_id, f"user:{user_id}"


def balances(store: BuddoStore) -> dict[str, int]:
    rows = store.snapshot_query(["SELECT account, balance FROM balances"])[0]
    return {str(account): int(balance) for account, balance in rows}


def test_a_batch_gives_every_command_its_own_answer(
    bus: CommandBus, store: BuddoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, alice_account = user()
    bob, bob_account = user()
    app = uuid4()
    bus.handle(GrantPoints(alice_account, 60, "start"))
    bus.handle(GrantPoints(bob_account, 5, "start"))
    key = Idempotency("test", "order-1")
    unbalanced = MovePoints(EntryKind.AWARD, (Posting("treasury", -5), Posting(alice_account, 4)))
    plans = [
        SpendPoints(alice, app, 30).plan(),  # fine
        SpendPoints(alice, app, 50).plan(),  # sees the first: 30 left, refused
        SpendPoints(bob, app, 5, idempotency=key).plan(),  # fine, keyed
        SpendPoints(bob, app, 5, idempotency=key).plan(),  # the same key and body: a replay
        SpendPoints(bob, app, 6, idempotency=key).plan(),  # the same key, another body
        unbalanced.plan(),  # refused alone
        SpendPoints(alice, app, 30).plan(),  # fine: exactly what is left
    ]

    saves = []
    real_save = store.save
    monkeypatch.setattr(store, "save", lambda *objs: saves.append(objs) or real_save(*objs))

    outcomes = bus.journal.record_batch(plans)

    first, refused, keyed, replay, conflict, invalid, last = outcomes
    assert isinstance(first, EntryRecorded)
    assert first.balance_after(alice_account) == 30
    assert isinstance(refused, InsufficientPointsError)
    assert refused.balance == 30
    assert isinstance(keyed, EntryRecorded)
    assert not keyed.replayed
    assert isinstance(replay, EntryRecorded)
    assert replay.replayed
    assert replay.entry_id == keyed.entry_id
    assert isinstance(conflict, IdempotencyConflictError)
    assert isinstance(invalid, ValidationError)
    assert isinstance(last, EntryRecorded)
    assert last.balance_after(alice_account) == 0
    assert len(saves) == 1  # one transaction for the whole batch
    assert first.position == keyed.position == last.position
    found = balances(store)
    assert (found[alice_account], found[bob_account], found[f"app:{app}"]) == (0, 0, 65)
    assert sum(found.values()) == 0


def test_a_conflict_with_another_writer_falls_back_to_one_at_a_time(
    bus: CommandBus, store: BuddoStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, alice_account = user()
    app = uuid4()
    bus.handle(GrantPoints(alice_account, 10, "start"))
    other = open_store(settings)  # another process's store, with locks of its own
    original = _Batch.save

    def save_after_a_rival(batch: _Batch) -> int:
        Journal(other, LockTable()).record(SpendPoints(alice, app, 4).plan())
        monkeypatch.setattr(_Batch, "save", original)
        return original(batch)

    monkeypatch.setattr(_Batch, "save", save_after_a_rival)
    try:
        outcomes = bus.journal.record_batch(
            [SpendPoints(alice, app, 5).plan(), SpendPoints(alice, app, 5).plan()]
        )
    finally:
        other.close()

    spent, refused = outcomes
    assert isinstance(spent, EntryRecorded)
    assert spent.balance_after(alice_account) == 1
    assert isinstance(refused, InsufficientPointsError)
    assert refused.balance == 1
    assert balances(store)[alice_account] == 1


def test_the_committer_answers_every_caller_under_concurrency(
    bus: CommandBus, store: BuddoStore
) -> None:
    wallets = [user() for _ in range(4)]
    app = uuid4()
    for _, account in wallets:
        bus.handle(GrantPoints(account, 25, "start"))
    committer = GroupCommitter(bus.journal, max_batch=16, window=0.002)
    plans = [SpendPoints(wallet, app, 1).plan() for wallet, _ in wallets for _ in range(30)]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = list(pool.map(committer.submit, plans))
        outcomes = [future.exception() or future.result() for future in futures]
    finally:
        committer.close()

    assert sum(isinstance(o, EntryRecorded) for o in outcomes) == 4 * 25
    assert all(isinstance(o, EntryRecorded | InsufficientPointsError) for o in outcomes)
    found = balances(store)
    assert all(found[account] == 0 for _, account in wallets)
    assert found[f"app:{app}"] == 100
    assert sum(found.values()) == 0
