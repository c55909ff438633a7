"""Unique values (email, username, referral code) claimed through the event store itself.

A claim's id is derived from the normalised value, so two users claiming one value create the
same aggregate in two transactions and the second collides: no read model can race it.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError
from ledger.ids import derived_id


class Claim(Aggregate):
    """Who holds a unique value; a released value may be claimed again."""

    class Claimed(Aggregate.Created):
        """A user took the value."""

        kind: str
        value: str
        holder: UUID

    class Reclaimed(Aggregate.Event):
        """A released value was taken again."""

        holder: UUID

    class Released(Aggregate.Event):
        """The holder gave the value up."""

    @staticmethod
    def create_id(kind: str, value: str) -> UUID:
        return claim_id(kind, value)

    @event(Claimed)
    def __init__(self, kind: str, value: str, holder: UUID) -> None:
        self.kind = kind
        self.value = value
        self.holder: UUID | None = holder

    def reclaim(self, holder: UUID) -> None:
        """Take a released value; a held one is a conflict."""
        if self.holder is not None:
            raise ConflictError(f"That {self.kind} is already taken.")
        self._reclaimed(holder)

    @event(Reclaimed)
    def _reclaimed(self, holder: UUID) -> None:
        self.holder = holder

    def release(self) -> None:
        """Give the value up (a username change)."""
        if self.holder is not None:
            self._released()

    @event(Released)
    def _released(self) -> None:
        self.holder = None


def normalise(value: str) -> str:
    """Unique values compare case-insensitively."""
    return value.strip().casefold()


def claim_id(kind: str, value: str) -> UUID:
    """The id of the claim on `value` of `kind` (``email``, ``username``, ``referral``)."""
    return derived_id("claim", kind, normalise(value))


class RegistrationCounter(Aggregate):
    """Hands out registration numbers 1, 2, 3… in signup order (one shared aggregate)."""

    class Started(Aggregate.Created):
        """The counter was first used."""

    class Counted(Aggregate.Event):
        """A registration got the next number."""

        number: int
        user_id: UUID

    @staticmethod
    def create_id() -> UUID:
        return REGISTRATION_COUNTER_ID

    @event(Started)
    def __init__(self) -> None:
        self.count = 0

    def next_number(self, user_id: UUID) -> int:
        """Count one more registration and return its number."""
        self._counted(self.count + 1, user_id)
        return self.count

    @event(Counted)
    def _counted(self, number: int, user_id: UUID) -> None:
        self.count = number


REGISTRATION_COUNTER_ID = derived_id("counter", "registrations")
