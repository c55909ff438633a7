"""Transfers between users: the recipient named by id or username, blocks honoured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.journal import Journal
from commands.points import EntryRecorded, Idempotency, TransferPoints
from commands.store import BuddoStore, get_as
from ledger.claims import Claim, claim_id
from ledger.errors import TransferRefusedError, ValidationError
from ledger.social import Block, block_id
from ledger.users import User


@dataclass(frozen=True)
class SendPoints:
    """A user sends points to another user, named by id or by username (exactly one)."""

    from_user_id: UUID
    amount: int
    to_user_id: UUID | None = None
    to_username: str | None = None
    note: str = ""
    app_id: UUID | None = None
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class PointsSent:
    """The transfer's entry, and who received it."""

    entry: EntryRecorded
    to_user_id: UUID


def _unknown_recipient() -> ValidationError:
    return ValidationError({"to_user_id": ["no such user"]})


class TransferHandlers:
    """Resolve the recipient on the write side, refuse blocked pairs, record one entry."""

    def __init__(self, store: BuddoStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    def table(self) -> dict[type, Callable[..., object]]:
        return {SendPoints: self.send}

    def send(self, command: SendPoints) -> PointsSent:
        transfer, recipient = self.prepare(command)
        return PointsSent(self.journal.record(transfer.plan()), recipient)

    def prepare(self, command: SendPoints) -> tuple[TransferPoints, UUID]:
        """The transfer to record, once the recipient is known and no block stands."""
        recipient = self.recipient(command)
        if recipient == command.from_user_id:
            raise ValidationError({"to_user_id": ["cannot transfer to yourself"]})
        if self.blocked(command.from_user_id, recipient) or self.blocked(
            recipient, command.from_user_id
        ):
            raise TransferRefusedError
        transfer = TransferPoints(
            from_user_id=command.from_user_id,
            to_user_id=recipient,
            amount=command.amount,
            note=command.note,
            app_id=command.app_id,
            idempotency=command.idempotency,
        )
        return transfer, recipient

    def recipient(self, command: SendPoints) -> UUID:
        if (command.to_user_id is None) == (command.to_username is None):
            raise ValidationError({"to_user_id": ["give to_user_id or to_username, not both"]})
        if command.to_user_id is not None:
            try:
                return get_as(self.store, command.to_user_id, User).id
            except (AggregateNotFoundError, TypeError):
                raise _unknown_recipient() from None
        try:
            holder = get_as(self.store, claim_id("username", command.to_username or ""), Claim)
        except (AggregateNotFoundError, TypeError):
            raise ValidationError({"to_username": ["no such user"]}) from None
        if holder.holder is None:
            raise ValidationError({"to_username": ["no such user"]})
        return holder.holder

    def blocked(self, blocker: UUID, blocked: UUID) -> bool:
        try:
            return get_as(self.store, block_id(blocker, blocked), Block).active
        except (AggregateNotFoundError, TypeError):
            return False
