"""Accounts of the double-entry ledger and the Account aggregate that guards each balance."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import InsufficientPointsError, ValidationError
from ledger.ids import derived_id

# The largest amount one movement may carry (spec 6.1); balances are Python ints, unbounded.
MAX_AMOUNT = 1_000_000_000


class AccountKind(Enum):
    """What an account belongs to; the prefix of its name."""

    USER = "user"
    APP = "app"
    CAMPAIGN = "campaign"
    TREASURY = "treasury"
    REVENUE = "revenue"


SINGLETON_KINDS = frozenset({AccountKind.TREASURY, AccountKind.REVENUE})
TREASURY = "treasury"
REVENUE = "revenue"


def account_name(kind: AccountKind, owner: UUID | None = None) -> str:
    """`user:<uuid>`, `app:<uuid>`, `campaign:<uuid>`, `treasury` or `revenue`."""
    if kind in SINGLETON_KINDS:
        if owner is not None:
            raise ValueError(f"{kind.value} has no owner")
        return kind.value
    if owner is None:
        raise ValueError(f"{kind.value} accounts need an owner id")
    return f"{kind.value}:{owner}"


def parse_account_name(name: str) -> tuple[AccountKind, UUID | None]:
    """Split an account name into its kind and owner, refusing anything malformed."""
    kind_text, _, owner_text = name.partition(":")
    try:
        kind = AccountKind(kind_text)
    except ValueError:
        raise ValidationError({"account": [f"unknown account kind in {name!r}"]}) from None
    if kind in SINGLETON_KINDS:
        if owner_text or ":" in name:
            raise ValidationError({"account": [f"{kind.value} takes no owner"]})
        return kind, None
    try:
        owner = UUID(owner_text)
    except ValueError:
        raise ValidationError({"account": [f"malformed owner id in {name!r}"]}) from None
    if str(owner) != owner_text:
        raise ValidationError({"account": ["owner id must be a lowercase hyphenated UUID"]})
    return kind, owner


def may_go_negative(name: str) -> bool:
    """Only the treasury, the issuer of points, may hold a negative balance."""
    return name == TREASURY


def check_amount(amount: object, field: str = "amount") -> int:
    """An amount is an int (not bool) from 1 to MAX_AMOUNT; anything else is refused."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError({field: ["must be an integer"]})
    if amount < 1:
        raise ValidationError({field: ["must be at least 1"]})
    if amount > MAX_AMOUNT:
        raise ValidationError({field: [f"must be at most {MAX_AMOUNT}"]})
    return amount


class Account(Aggregate):
    """One account's balance; the write side decides every debit here, never on a read model."""

    class Opened(Aggregate.Created):
        """The account was first used."""

        name: str

    class Debited(Aggregate.Event):
        """Points left the account as part of a journal entry."""

        entry_id: UUID
        amount: int
        balance_after: int

    class Credited(Aggregate.Event):
        """Points arrived in the account as part of a journal entry."""

        entry_id: UUID
        amount: int
        balance_after: int

    @staticmethod
    def create_id(name: str) -> UUID:
        return account_id(name)

    @event(Opened)
    def __init__(self, name: str) -> None:
        self.name = name
        self.balance = 0

    def check_debit(self, amount: int) -> None:
        """Refuse an overdraft (only the treasury may go below zero)."""
        check_amount(amount)
        if not may_go_negative(self.name) and self.balance < amount:
            raise InsufficientPointsError(self.name, self.balance, amount)

    def debit(self, entry_id: UUID, amount: int) -> int:
        """Take `amount` out, refusing an overdraft; returns the balance after."""
        self.check_debit(amount)
        self._debited(entry_id, amount, self.balance - amount)
        return self.balance

    def credit(self, entry_id: UUID, amount: int) -> int:
        """Put `amount` in; returns the balance after."""
        check_amount(amount)
        self._credited(entry_id, amount, self.balance + amount)
        return self.balance

    @event(Debited)
    def _debited(self, entry_id: UUID, amount: int, balance_after: int) -> None:
        self.balance = balance_after

    @event(Credited)
    def _credited(self, entry_id: UUID, amount: int, balance_after: int) -> None:
        self.balance = balance_after


def account_id(name: str) -> UUID:
    """The aggregate id of the account called `name`."""
    return derived_id("account", name)
