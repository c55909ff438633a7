"""The social aggregates' rules, without a database: blocks, friendships, the word filter."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.errors import ConflictError, ForbiddenError, NotFoundError
from ledger.social import Block, Friendship, block_id, friendship_id, mask_words


def test_block_contract_that_transfers_rely_on() -> None:
    """Transfers load `Block` at `block_id(blocker, blocked)` and read `.active`."""
    blocker, blocked = uuid4(), uuid4()
    block = Block(blocker_id=blocker, blocked_id=blocked)
    assert block.id == block_id(blocker, blocked)
    assert block.id != block_id(blocked, blocker)  # a block has a direction
    assert block.active is True
    block.unblock()
    assert block.active is False
    block.block_again()
    assert block.active is True
    names = [type(e).__name__ for e in block.collect_events()]
    assert names == ["Blocked", "Unblocked", "Reblocked"]


def test_block_again_and_unblock_twice_record_nothing() -> None:
    block = Block(blocker_id=uuid4(), blocked_id=uuid4())
    block.block_again()
    block.unblock()
    block.unblock()
    assert len(block.collect_events()) == 2


def test_friendship_is_one_aggregate_per_pair() -> None:
    a, b = uuid4(), uuid4()
    assert friendship_id(a, b) == friendship_id(b, a)
    assert Friendship(user_ids=[a, b]).id == friendship_id(a, b)


def test_one_pending_request_at_a_time_and_only_the_recipient_answers() -> None:
    a, b = uuid4(), uuid4()
    pair = Friendship(user_ids=[a, b])
    first = uuid4()
    pair.request(first, a, b)
    with pytest.raises(ConflictError):
        pair.request(uuid4(), b, a)
    with pytest.raises(ForbiddenError):
        pair.respond(first, a, accept=True)
    with pytest.raises(ConflictError):
        pair.respond(uuid4(), b, accept=True)
    pair.respond(first, b, accept=True)
    assert pair.friends
    with pytest.raises(ConflictError):
        pair.request(uuid4(), a, b)


def test_end_cancels_declines_or_unfriends() -> None:
    a, b = uuid4(), uuid4()
    pair = Friendship(user_ids=[a, b])
    pair.request(uuid4(), a, b)
    pair.end(a)
    pair.request(uuid4(), a, b)
    pair.end(b)
    withdrawn = [e for e in pair.collect_events() if isinstance(e, Friendship.Withdrawn)]
    assert [e.status for e in withdrawn] == ["cancelled", "declined"]
    with pytest.raises(NotFoundError):
        pair.end(a)


def test_a_block_ends_the_friendship_and_is_noted_on_the_pair() -> None:
    a, b = uuid4(), uuid4()
    pair = Friendship(user_ids=[a, b])
    request = uuid4()
    pair.request(request, a, b)
    pair.respond(request, b, accept=True)
    pair.end_by_block(b)
    assert not pair.friends
    kinds = [type(e).__name__ for e in pair.collect_events()][-2:]
    assert kinds == ["Ended", "BlockNoted"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("darn it", "**** it"),
        ("DaRn!", "****!"),
        ("darned", "darned"),
        ("a.b darn", "a.b ****"),
        ("nothing here", "nothing here"),
    ],
)
def test_mask_words(text: str, expected: str) -> None:
    assert mask_words(text, ["darn", " ", "a.b c"]) == expected
