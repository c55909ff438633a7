"""The journal decides on the accounts this process saved last only while the store says they
are current: a copy another process has moved since is never the basis of a decision."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from commands.account_copies import AccountCopies
from commands.bus import CommandBus
from commands.journal import Journal
from commands.locks import LockTable
from commands.points import GrantPoints, SpendPoints
from commands.store import BuddoStore
from http_api.settings import Settings
from http_api.wiring import open_store
from ledger.errors import InsufficientPointsError


def balance(store: BuddoStore, account: str) -> int:
    rows = store.snapshot_query(["SELECT account, balance FROM balances"])[0]
    return {str(name): int(str(amount)) for name, amount in rows}[account]


def count_conflicts(monkeypatch: pytest.MonkeyPatch) -> list[IntegrityError]:
    """Every save the event store refuses from now on (an attempt decided on stale state)."""
    refused: list[IntegrityError] = []
    original = BuddoStore.save

    def save(store: BuddoStore, *objs: Any, **kwargs: Any) -> Any:
        try:
            return original(store, *objs, **kwargs)
        except IntegrityError as error:
            refused.append(error)
            raise

    monkeypatch.setattr(BuddoStore, "save", save)
    return refused


def test_a_copy_another_process_moved_is_reloaded_before_deciding(
    bus: CommandBus, store: BuddoStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, app = uuid4(), uuid4()
    bus.handle(GrantPoints(f"user:{alice}", 10, "start"))
    bus.handle(SpendPoints(alice, app, 1))  # this process now keeps alice at 9
    other = open_store(settings)
    try:
        Journal(other, LockTable()).record(SpendPoints(alice, app, 8).plan())
    finally:
        other.close()
    conflicts = count_conflicts(monkeypatch)

    with pytest.raises(InsufficientPointsError) as refused:
        bus.handle(SpendPoints(alice, app, 5))

    assert refused.value.balance == 1
    spent = bus.handle(SpendPoints(alice, app, 1))
    assert spent.balance_after(f"user:{alice}") == 0
    assert balance(store, f"user:{alice}") == 0
    assert balance(store, f"app:{app}") == 10
    assert conflicts == []  # decided on the store's balance, not on a refused save


def test_a_move_between_the_check_and_the_save_is_refused_and_decided_again(
    bus: CommandBus, store: BuddoStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, app = uuid4(), uuid4()
    bus.handle(GrantPoints(f"user:{alice}", 10, "start"))
    bus.handle(SpendPoints(alice, app, 1))
    other = open_store(settings)
    original = AccountCopies.load

    def load_then_a_rival_spends(copies: AccountCopies, names: object) -> object:
        loaded = original(copies, names)  # type: ignore[arg-type]
        monkeypatch.setattr(AccountCopies, "load", original)
        Journal(other, LockTable()).record(SpendPoints(alice, app, 8).plan())
        return loaded

    monkeypatch.setattr(AccountCopies, "load", load_then_a_rival_spends)
    try:
        with pytest.raises(InsufficientPointsError) as refused:
            bus.handle(SpendPoints(alice, app, 5))  # decided on 9; the store says 1
    finally:
        other.close()

    assert refused.value.balance == 1
    assert balance(store, f"user:{alice}") == 1
    assert balance(store, f"app:{app}") == 9
