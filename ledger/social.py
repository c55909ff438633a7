"""The social graph's rules that money depends on: blocks (spec 7)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.ids import derived_id


def block_id(blocker_id: UUID, blocked_id: UUID) -> UUID:
    """The one Block aggregate of `blocker_id` blocking `blocked_id`."""
    return derived_id("block", str(blocker_id), str(blocked_id))


class Block(Aggregate):
    """One user blocking another; lifted and laid again over time."""

    class Blocked(Aggregate.Created):
        """The blocker blocked the other user."""

        blocker_id: UUID
        blocked_id: UUID

    class Reblocked(Aggregate.Event):
        """The blocker blocked the same user again after lifting an earlier block."""

    class Unblocked(Aggregate.Event):
        """The blocker lifted the block."""

    @staticmethod
    def create_id(blocker_id: UUID, blocked_id: UUID) -> UUID:
        return block_id(blocker_id, blocked_id)

    @event(Blocked)
    def __init__(self, blocker_id: UUID, blocked_id: UUID) -> None:
        self.blocker_id = blocker_id
        self.blocked_id = blocked_id
        self.active = True

    def block_again(self) -> None:
        if not self.active:
            self._reblocked()

    @event(Reblocked)
    def _reblocked(self) -> None:
        self.active = True

    def unblock(self) -> None:
        if self.active:
            self._unblocked()

    @event(Unblocked)
    def _unblocked(self) -> None:
        self.active = False
