"""The Account aggregate: given its events, a debit or credit either records or refuses."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.accounts import (
    MAX_AMOUNT,
    Account,
    AccountKind,
    account_name,
    check_amount,
    parse_account_name,
)
from ledger.errors import InsufficientPointsError, ValidationError

USER = f"user:{uuid4()}"


def replayed(account: Account) -> Account:
    """A fresh copy rebuilt from the account's events (what a reload sees)."""
    events = account.collect_events()
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert isinstance(copy, Account)
    return copy


def test_a_new_account_is_empty() -> None:
    account = Account(USER)
    assert account.balance == 0
    assert [type(e).__name__ for e in account.pending_events] == ["Opened"]


def test_credit_then_debit_records_balances_after() -> None:
    account = Account(USER)
    assert account.credit(uuid4(), 70) == 70
    assert account.debit(uuid4(), 30) == 40
    debited = account.pending_events[-1]
    assert isinstance(debited, Account.Debited)
    assert (debited.amount, debited.balance_after) == (30, 40)


def test_an_overdraft_is_refused_before_any_event_exists() -> None:
    account = Account(USER)
    account.credit(uuid4(), 5)
    before = len(account.pending_events)
    with pytest.raises(InsufficientPointsError) as refused:
        account.debit(uuid4(), 6)
    assert refused.value.balance == 5
    assert len(account.pending_events) == before
    assert account.balance == 5


def test_only_the_treasury_may_go_negative() -> None:
    treasury = Account("treasury")
    assert treasury.debit(uuid4(), 1_000) == -1_000
    revenue = Account("revenue")
    with pytest.raises(InsufficientPointsError):
        revenue.debit(uuid4(), 1)


def test_replay_gives_the_same_state() -> None:
    account = Account(USER)
    account.credit(uuid4(), 9)
    account.debit(uuid4(), 4)
    copy = replayed(account)
    assert (copy.name, copy.balance, copy.version) == (USER, 5, 3)


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 1.5, "3", True, None])
def test_amounts_must_be_positive_integers_within_the_limit(amount: object) -> None:
    with pytest.raises(ValidationError) as refused:
        check_amount(amount)
    assert "amount" in refused.value.fields


def test_account_names_round_trip() -> None:
    owner = uuid4()
    assert parse_account_name(account_name(AccountKind.APP, owner)) == (AccountKind.APP, owner)
    assert parse_account_name("treasury") == (AccountKind.TREASURY, None)


@pytest.mark.parametrize(
    "name", ["bank", "user:", "user:not-a-uuid", "treasury:x", f"user:{str(uuid4()).upper()}"]
)
def test_malformed_account_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        parse_account_name(name)
