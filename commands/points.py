"""Points commands: grant, spend and transfer, each one balanced journal entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from ledger.accounts import TREASURY, AccountKind, account_name, check_amount
from ledger.errors import ValidationError
from ledger.journal import (
    EntryKind,
    Posting,
    check_memo,
    check_metadata,
    entry_id_for_key,
)


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key, within the scope it is unique in (e.g. app and user)."""

    scope: str
    key: str


@dataclass(frozen=True)
class EntryPlan:
    """What a points command asks the journal to record."""

    entry_id: UUID
    kind: EntryKind
    postings: tuple[Posting, ...]
    memo: str
    metadata: dict[str, Any]
    app_id: UUID | None
    effective_at: datetime | None
    idempotency: Idempotency | None
    request_digest: str


@dataclass(frozen=True)
class PostingResult:
    """One posting as recorded, with the balance its account had right after."""

    account: str
    delta: int
    balance_after: int


@dataclass(frozen=True)
class EntryRecorded:
    """The answer to a points command: the entry, and whether this was a replay."""

    entry_id: UUID
    kind: str
    postings: tuple[PostingResult, ...]
    memo: str
    metadata: dict[str, Any]
    app_id: UUID | None
    recorded_at: datetime
    effective_at: datetime | None
    position: int
    replayed: bool

    def balance_after(self, account: str) -> int:
        """The balance `account` had right after this entry."""
        return next(p.balance_after for p in self.postings if p.account == account)


@dataclass(frozen=True)
class GrantPoints:
    """The treasury issues points to a user or an app."""

    to_account: str
    amount: int
    reason: str
    idempotency: Idempotency | None = None
    effective_at: datetime | None = None

    def plan(self) -> EntryPlan:
        amount = check_amount(self.amount)
        if not self.to_account.startswith((AccountKind.USER.value, AccountKind.APP.value)):
            raise ValidationError({"to_account": ["points are granted to a user or an app"]})
        postings = (Posting(TREASURY, -amount), Posting(self.to_account, amount))
        return _plan(self, EntryKind.GRANT, postings, self.reason, {}, None)


@dataclass(frozen=True)
class SpendPoints:
    """A user spends points in an app; the app's account is credited."""

    user_id: UUID
    app_id: UUID
    amount: int
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency: Idempotency | None = None

    def plan(self) -> EntryPlan:
        amount = check_amount(self.amount)
        postings = (
            Posting(account_name(AccountKind.USER, self.user_id), -amount),
            Posting(account_name(AccountKind.APP, self.app_id), amount),
        )
        metadata = check_metadata(dict(self.metadata))
        return _plan(self, EntryKind.SPEND, postings, self.description, metadata, self.app_id)


@dataclass(frozen=True)
class TransferPoints:
    """A user moves points to another user (through an app, when one acts for them)."""

    from_user_id: UUID
    to_user_id: UUID
    amount: int
    note: str = ""
    app_id: UUID | None = None
    idempotency: Idempotency | None = None

    def plan(self) -> EntryPlan:
        amount = check_amount(self.amount)
        if self.from_user_id == self.to_user_id:
            raise ValidationError({"to_user_id": ["cannot transfer to yourself"]})
        postings = (
            Posting(account_name(AccountKind.USER, self.from_user_id), -amount),
            Posting(account_name(AccountKind.USER, self.to_user_id), amount),
        )
        return _plan(self, EntryKind.TRANSFER, postings, self.note, {}, self.app_id)


@dataclass(frozen=True)
class MovePoints:
    """Any other balanced movement (awards, ad payouts, campaign funding, deployment
    charges): the caller names the kind and the postings; the journal checks them. A
    movement that must happen once (a module's award) carries an idempotency key."""

    kind: EntryKind
    postings: tuple[Posting, ...]
    memo: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    app_id: UUID | None = None
    idempotency: Idempotency | None = None

    def plan(self) -> EntryPlan:
        return _plan(self, self.kind, self.postings, self.memo, dict(self.metadata), self.app_id)


PointsCommand = GrantPoints | SpendPoints | TransferPoints | MovePoints


def _plan(
    command: PointsCommand,
    kind: EntryKind,
    postings: tuple[Posting, ...],
    memo: str,
    metadata: dict[str, Any],
    app_id: UUID | None,
) -> EntryPlan:
    key = command.idempotency
    return EntryPlan(
        entry_id=entry_id_for_key(key.scope, key.key) if key else uuid4(),
        kind=kind,
        postings=postings,
        memo=check_memo(memo),
        metadata=metadata,
        app_id=app_id,
        effective_at=getattr(command, "effective_at", None),
        idempotency=key,
        request_digest=request_digest(command),
    )


def request_digest(command: Any) -> str:
    """SHA-256 of a command's canonical JSON without its key: 'the same request'. `command`
    is a dataclass with an `idempotency` field (a points command, a campaign close). (The
    JSON of `asdict(command)`, which the stored digests were made with, without its deep copy
    of every field: it ran for every spend.)"""
    values = {
        part.name: _plain(getattr(command, part.name))
        for part in fields(command)
        if part.name != "idempotency"
    }
    canonical = json.dumps(
        {"command": type(command).__name__, **values}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """What asdict() makes of a field's value, as far as JSON can tell."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
