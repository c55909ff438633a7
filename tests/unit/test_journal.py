"""Journal entries and command plans: balanced, bounded, and keyed deterministically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from uuid import uuid4

import pytest

from commands.points import (
    GrantPoints,
    Idempotency,
    MovePoints,
    SpendPoints,
    TransferPoints,
    request_digest,
)
from ledger.errors import IdempotencyConflictError, ValidationError
from ledger.idempotency import IdempotencyKey, check_key
from ledger.journal import MAX_MEMO_LENGTH, EntryKind, Posting, check_metadata, check_postings

USER, OTHER, APP = uuid4(), uuid4(), uuid4()


def test_a_spend_debits_the_user_and_credits_the_app() -> None:
    plan = SpendPoints(USER, APP, 25, "coffee").plan()
    assert plan.postings == (Posting(f"user:{USER}", -25), Posting(f"app:{APP}", 25))
    assert plan.kind.value == "spend"


def test_a_grant_comes_from_the_treasury() -> None:
    plan = GrantPoints(f"user:{USER}", 10, "welcome").plan()
    assert plan.postings[0] == Posting("treasury", -10)


def test_grants_go_only_to_users_and_apps() -> None:
    with pytest.raises(ValidationError):
        GrantPoints("revenue", 10, "nope").plan()


def test_a_transfer_to_oneself_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        TransferPoints(USER, USER, 5).plan()
    assert "to_user_id" in refused.value.fields


@pytest.mark.parametrize(
    "postings",
    [
        (Posting("treasury", -5),),
        (Posting("treasury", -5), Posting(f"user:{USER}", 4)),
        (Posting(f"user:{USER}", -5), Posting(f"user:{USER}", 5)),
        (Posting("treasury", 0), Posting(f"user:{USER}", 0)),
    ],
)
def test_unbalanced_or_degenerate_entries_are_refused(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(ValidationError):
        check_postings(postings)


def test_memo_and_metadata_limits() -> None:
    with pytest.raises(ValidationError):
        SpendPoints(USER, APP, 1, "x" * (MAX_MEMO_LENGTH + 1)).plan()
    with pytest.raises(ValidationError):
        check_metadata({f"k{i}": i for i in range(21)})
    with pytest.raises(ValidationError):
        check_metadata({"nested": {"a": 1}})


def test_a_keyed_request_always_addresses_the_same_entry() -> None:
    key = Idempotency("app/user", "k-1")
    first = SpendPoints(USER, APP, 3, idempotency=key).plan()
    again = SpendPoints(USER, APP, 3, idempotency=key).plan()
    assert first.entry_id == again.entry_id
    assert first.request_digest == again.request_digest
    assert SpendPoints(USER, APP, 3).plan().entry_id != SpendPoints(USER, APP, 3).plan().entry_id


def test_the_digest_ignores_the_key_but_not_the_body() -> None:
    plain = SpendPoints(USER, APP, 3)
    keyed = SpendPoints(USER, APP, 3, idempotency=Idempotency("s", "k"))
    assert request_digest(plain) == request_digest(keyed)
    assert request_digest(plain) != request_digest(SpendPoints(USER, APP, 4))
    assert request_digest(plain) != request_digest(TransferPoints(USER, APP, 3))


def _digest_as_first_stored(command: object) -> str:
    """The digest as idempotency records were first written: JSON of `asdict(command)`."""
    values = asdict(command)  # type: ignore[call-overload]
    values.pop("idempotency")
    canonical = json.dumps(
        {"command": type(command).__name__, **values}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "command",
    [
        SpendPoints(USER, APP, 3, "coffee", {"order": {"id": 7, "items": ["a", "b"]}}),
        TransferPoints(USER, OTHER, 9, "thanks", APP),
        GrantPoints(f"user:{USER}", 10, "welcome"),
        MovePoints(EntryKind.AD_PAYOUT, (Posting(f"campaign:{APP}", -2), Posting(f"app:{APP}", 2))),
    ],
)
def test_the_digest_of_a_request_is_the_one_its_key_was_stored_with(command: object) -> None:
    """A retry after an upgrade must still match the key its first attempt stored."""
    assert request_digest(command) == _digest_as_first_stored(command)  # type: ignore[arg-type]


def test_a_key_answers_only_its_own_request() -> None:
    key = IdempotencyKey(scope="s", key="k", request_digest="a", entry_id=uuid4(), refusal=None)
    key.check_same_request("a")
    with pytest.raises(IdempotencyConflictError):
        key.check_same_request("b")


@pytest.mark.parametrize("bad", ["", "x" * 256, "tab\there", "nul\x00", "é"])
def test_idempotency_keys_are_short_printable_ascii(bad: str) -> None:
    with pytest.raises(ValidationError):
        check_key(bad)
