"""The social graph (spec 7): blocks, friendships between two users, chat channels and messages.

A Block is addressed by (blocker, blocked) and a Friendship by the unordered pair of users, so
two concurrent requests about the same pair collide in the event store instead of racing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from ledger.ids import derived_id

CHANNEL_TYPES = ("lobby", "table")
MAX_MESSAGE_LENGTH = 1_000
MAX_REF_LENGTH = 100


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


def friendship_id(user_a: UUID, user_b: UUID) -> UUID:
    """The one Friendship aggregate of two users, whichever of them is named first."""
    low, high = sorted((str(user_a), str(user_b)))
    return derived_id("friendship", low, high)


class Friendship(Aggregate):
    """Two users: at most one pending request between them, or a friendship, or neither."""

    class Opened(Aggregate.Created):
        """The pair first had anything to do with each other."""

        user_ids: list[UUID]

    class Requested(Aggregate.Event):
        """One user asked the other to be friends."""

        request_id: UUID
        from_user_id: UUID
        to_user_id: UUID

    class Accepted(Aggregate.Event):
        """The recipient accepted the pending request: they are friends from now."""

        request_id: UUID
        from_user_id: UUID
        to_user_id: UUID

    class Withdrawn(Aggregate.Event):
        """The pending request ended unaccepted (status: declined or cancelled; why)."""

        request_id: UUID
        by: UUID
        status: str
        reason: str

    class Ended(Aggregate.Event):
        """The friendship ended (why: unfriended or blocked)."""

        by: UUID
        user_ids: list[UUID]
        reason: str

    class BlockNoted(Aggregate.Event):
        """One of the two blocked the other: recorded on the pair too, so that a friend
        request racing the block collides with it in the event store."""

        by: UUID

    @staticmethod
    def create_id(user_ids: list[UUID]) -> UUID:
        return friendship_id(user_ids[0], user_ids[1])

    @event(Opened)
    def __init__(self, user_ids: list[UUID]) -> None:
        self.user_ids = list(user_ids)
        self.friends = False
        self.pending: tuple[UUID, UUID, UUID] | None = None  # request id, from, to

    def request(self, request_id: UUID, from_user_id: UUID, to_user_id: UUID) -> None:
        if self.friends:
            raise ConflictError("You are friends already.")
        if self.pending is not None:
            raise ConflictError("A friend request between you is pending already.")
        self._requested(request_id, from_user_id, to_user_id)

    @event(Requested)
    def _requested(self, request_id: UUID, from_user_id: UUID, to_user_id: UUID) -> None:
        self.pending = (request_id, from_user_id, to_user_id)

    def respond(self, request_id: UUID, user_id: UUID, accept: bool) -> None:
        """The recipient accepts or declines the pending request `request_id`."""
        if self.pending is None or self.pending[0] != request_id:
            raise ConflictError("This friend request is no longer pending.")
        request_id, from_user_id, to_user_id = self.pending
        if to_user_id != user_id:
            raise ForbiddenError("Only the recipient may answer a friend request.")
        if accept:
            self._accepted(request_id, from_user_id, to_user_id)
        else:
            self._withdrawn(request_id, user_id, "declined", "declined")

    @event(Accepted)
    def _accepted(self, request_id: UUID, from_user_id: UUID, to_user_id: UUID) -> None:
        self.pending = None
        self.friends = True

    @event(Withdrawn)
    def _withdrawn(self, request_id: UUID, by: UUID, status: str, reason: str) -> None:
        self.pending = None

    def end(self, by: UUID) -> None:
        """Unfriend, or cancel (the requester) or decline (the recipient) a pending request."""
        if self.friends:
            self._ended(by, self.user_ids, "unfriended")
        elif self.pending is not None:
            status = "cancelled" if self.pending[1] == by else "declined"
            self._withdrawn(self.pending[0], by, status, status)
        else:
            raise NotFoundError("There is no friendship or request between you.")

    def end_by_block(self, by: UUID) -> None:
        """A block ends whatever stood between the two; nothing standing is no error."""
        if self.friends:
            self._ended(by, self.user_ids, "blocked")
        elif self.pending is not None:
            status = "cancelled" if self.pending[1] == by else "declined"
            self._withdrawn(self.pending[0], by, status, "blocked")
        self._block_noted(by)

    @event(BlockNoted)
    def _block_noted(self, by: UUID) -> None:
        pass

    @event(Ended)
    def _ended(self, by: UUID, user_ids: list[UUID], reason: str) -> None:
        self.friends = False


def channel_id(channel_type: str, ref_id: str | None) -> UUID:
    """The one channel of a type and reference: asking twice gives the same channel."""
    return derived_id("chat-channel", channel_type, ref_id or "")


def check_channel(channel_type: str, ref_id: str | None) -> None:
    if channel_type not in CHANNEL_TYPES:
        raise ValidationError({"type": [f"must be one of {', '.join(CHANNEL_TYPES)}"]})
    if channel_type == "table" and not ref_id:
        raise ValidationError({"ref_id": ["a table channel needs the table's ref_id"]})
    if ref_id is not None and not 1 <= len(ref_id) <= MAX_REF_LENGTH:
        raise ValidationError({"ref_id": [f"1 to {MAX_REF_LENGTH} characters"]})


class ChatChannel(Aggregate):
    """A place to talk: the lobby, or one table."""

    class Opened(Aggregate.Created):
        """Someone first asked for this channel."""

        channel_type: str
        ref_id: str | None

    @staticmethod
    def create_id(channel_type: str, ref_id: str | None) -> UUID:
        return channel_id(channel_type, ref_id)

    @event(Opened)
    def __init__(self, channel_type: str, ref_id: str | None) -> None:
        self.channel_type = channel_type
        self.ref_id = ref_id


class ChatMessage(Aggregate):
    """One message as sent, and as shown (with the filtered words masked)."""

    class Sent(Aggregate.Created):
        """A user said something in a channel."""

        channel_id: UUID
        sender_id: UUID
        body: str
        filtered_body: str
        sent_at: datetime

    @event(Sent)
    def __init__(
        self, channel_id: UUID, sender_id: UUID, body: str, filtered_body: str, sent_at: datetime
    ) -> None:
        self.channel_id = channel_id
        self.sender_id = sender_id
        self.body = body
        self.filtered_body = filtered_body
        self.sent_at = sent_at


def check_message(body: str) -> str:
    if not body.strip() or len(body) > MAX_MESSAGE_LENGTH:
        raise ValidationError({"body": [f"1 to {MAX_MESSAGE_LENGTH} characters, not only spaces"]})
    return body


def mask_words(text: str, words: Iterable[str]) -> str:
    """`text` with each whole word of `words` (any letter case) replaced by as many `*`."""
    listed = sorted({word.strip() for word in words if word.strip()}, key=len, reverse=True)
    if not listed:
        return text
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(word) for word in listed) + r")(?!\w)", re.IGNORECASE
    )
    return pattern.sub(lambda match: "*" * len(match.group(0)), text)
