"""Idempotency keys, unique through the event store: one aggregate per (scope, key)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import IdempotencyConflictError, ValidationError
from ledger.ids import derived_id

MAX_KEY_LENGTH = 255


def check_key(key: str) -> str:
    """1 to 255 printable ASCII characters (spec section 1)."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise ValidationError(
            {"Idempotency-Key": [f"1 to {MAX_KEY_LENGTH} printable ASCII characters"]}
        )
    return key


class IdempotencyKey(Aggregate):
    """The first outcome of a keyed request: the entry it made (none for a campaign close
    with nothing left to refund), or why it was refused."""

    class Recorded(Aggregate.Created):
        """A keyed request was first answered: with an entry, or with a refusal."""

        scope: str
        key: str
        request_digest: str
        entry_id: UUID | None
        refusal: dict[str, Any] | None

    @staticmethod
    def create_id(scope: str, key: str) -> UUID:
        return idempotency_key_id(scope, key)

    @event(Recorded)
    def __init__(
        self,
        scope: str,
        key: str,
        request_digest: str,
        entry_id: UUID | None,
        refusal: dict[str, Any] | None,
    ) -> None:
        self.scope = scope
        self.key = key
        self.request_digest = request_digest
        self.entry_id = entry_id
        self.refusal = refusal

    def check_same_request(self, request_digest: str) -> None:
        """A key answers only the request it was first used for."""
        if request_digest != self.request_digest:
            raise IdempotencyConflictError


def idempotency_key_id(scope: str, key: str) -> UUID:
    """The aggregate id of the key `key` in `scope` (for example `app:<id>/user:<id>`)."""
    return derived_id("idempotency", scope, key)
