"""Social commands (spec 7): friend requests, blocks, chat channels and messages.

Every rule is decided from aggregates: whether a user exists (User), whether a block stands
(Block, both ways), whether a request is pending (Friendship of the pair). A block also ends the
pair's friendship or pending request, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.errors import ForbiddenError, NotFoundError, ValidationError
from ledger.social import (
    Block,
    ChatChannel,
    ChatMessage,
    Friendship,
    block_id,
    channel_id,
    check_channel,
    check_message,
    friendship_id,
    mask_words,
)
from ledger.users import User

Clock = Callable[[], datetime]
A = TypeVar("A")


@dataclass(frozen=True)
class RequestFriend:
    user_id: UUID
    other_id: UUID


@dataclass(frozen=True)
class FriendRequested:
    request_id: UUID
    position: int


@dataclass(frozen=True)
class AnswerFriendRequest:
    """The recipient accepts or declines; `other_id` is the requester."""

    user_id: UUID
    other_id: UUID
    request_id: UUID
    accept: bool


@dataclass(frozen=True)
class EndFriendship:
    """Unfriend `other_id`, or cancel or decline the request pending between the two."""

    user_id: UUID
    other_id: UUID


@dataclass(frozen=True)
class BlockUser:
    user_id: UUID
    other_id: UUID


@dataclass(frozen=True)
class UnblockUser:
    user_id: UUID
    other_id: UUID


@dataclass(frozen=True)
class OpenChannel:
    channel_type: str
    ref_id: str | None


@dataclass(frozen=True)
class ChannelOpened:
    channel_id: UUID
    position: int


@dataclass(frozen=True)
class PostMessage:
    """`blocked_words` is the configured word filter, masked in the message's filtered_body."""

    channel_id: UUID
    sender_id: UUID
    body: str
    blocked_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessagePosted:
    message_id: UUID
    position: int


class SocialHandlers:
    """One short handler per social command."""

    def __init__(self, store: BuddoStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            RequestFriend: self.request_friend,
            AnswerFriendRequest: self.answer,
            EndFriendship: self.end_friendship,
            BlockUser: self.block,
            UnblockUser: self.unblock,
            OpenChannel: self.open_channel,
            PostMessage: self.post_message,
        }

    def _find(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        try:
            return get_as(self.store, aggregate_id, cls)
        except (AggregateNotFoundError, TypeError):
            return None

    def _other_user(self, user_id: UUID, other_id: UUID) -> None:
        if user_id == other_id:
            raise ValidationError({"user_id": ["that is you"]})
        if self._find(other_id, User) is None:
            raise NotFoundError("No such user.")

    def blocked_either_way(self, a: UUID, b: UUID) -> bool:
        return any(
            block is not None and block.active
            for block in (self._find(block_id(a, b), Block), self._find(block_id(b, a), Block))
        )

    def _pair(self, a: UUID, b: UUID) -> Friendship:
        return self._find(friendship_id(a, b), Friendship) or Friendship(
            user_ids=sorted([a, b], key=str)
        )

    def _existing_pair(self, a: UUID, b: UUID) -> Friendship:
        pair = self._find(friendship_id(a, b), Friendship)
        if pair is None:
            raise NotFoundError("There is no friendship or request between you.")
        return pair

    def request_friend(self, command: RequestFriend) -> FriendRequested:
        self._other_user(command.user_id, command.other_id)
        request_id = uuid4()

        def attempt() -> FriendRequested:
            if self.blocked_either_way(command.user_id, command.other_id):
                raise ForbiddenError("You cannot send this user a friend request.")
            pair = self._pair(command.user_id, command.other_id)
            pair.request(request_id, command.user_id, command.other_id)
            return FriendRequested(request_id, self.store.record(pair))

        return with_retries(attempt)

    def answer(self, command: AnswerFriendRequest) -> int:
        def attempt() -> int:
            pair = self._existing_pair(command.user_id, command.other_id)
            pair.respond(command.request_id, command.user_id, command.accept)
            return self.store.record(pair)

        return with_retries(attempt)

    def end_friendship(self, command: EndFriendship) -> int:
        def attempt() -> int:
            pair = self._existing_pair(command.user_id, command.other_id)
            pair.end(command.user_id)
            return self.store.record(pair)

        return with_retries(attempt)

    def block(self, command: BlockUser) -> int:
        self._other_user(command.user_id, command.other_id)

        def attempt() -> int:
            block = self._find(block_id(command.user_id, command.other_id), Block)
            if block is None:
                block = Block(blocker_id=command.user_id, blocked_id=command.other_id)
            else:
                block.block_again()
            pair = self._pair(command.user_id, command.other_id)
            pair.end_by_block(command.user_id)
            return self.store.record(block, pair)

        return with_retries(attempt)

    def unblock(self, command: UnblockUser) -> int:
        def attempt() -> int:
            block = self._find(block_id(command.user_id, command.other_id), Block)
            if block is None:
                return self.store.max_position()  # nothing to lift: unblocking is idempotent
            block.unblock()
            return self.store.record(block)

        return with_retries(attempt)

    def open_channel(self, command: OpenChannel) -> ChannelOpened:
        check_channel(command.channel_type, command.ref_id)
        found_id = channel_id(command.channel_type, command.ref_id)

        def attempt() -> ChannelOpened:
            if self._find(found_id, ChatChannel) is not None:
                return ChannelOpened(found_id, self.store.max_position())
            channel = ChatChannel(channel_type=command.channel_type, ref_id=command.ref_id)
            return ChannelOpened(channel.id, self.store.record(channel))

        return with_retries(attempt)

    def post_message(self, command: PostMessage) -> MessagePosted:
        body = check_message(command.body)
        if self._find(command.channel_id, ChatChannel) is None:
            raise NotFoundError("No such channel.")
        message = ChatMessage(
            channel_id=command.channel_id,
            sender_id=command.sender_id,
            body=body,
            filtered_body=mask_words(body, command.blocked_words),
            sent_at=self.clock(),
        )
        return MessagePosted(message.id, self.store.record(message))
