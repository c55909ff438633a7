"""Recording a journal entry: load the accounts, decide, append everything in one save."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.locks import LockTable
from commands.points import EntryPlan, EntryRecorded, PostingResult
from commands.retry import MAX_ATTEMPTS, with_retries
from commands.store import BuddoStore, get_as
from ledger.accounts import Account, account_id
from ledger.errors import InsufficientPointsError
from ledger.idempotency import IdempotencyKey, idempotency_key_id
from ledger.journal import JournalEntry, check_postings

Extras = Callable[[], Sequence[Any]]


def _nothing() -> Sequence[Any]:
    return ()


@dataclass
class Journal:
    """Writes entries to the store; safe to call from many threads and processes at once."""

    store: BuddoStore
    locks: LockTable
    max_attempts: int = MAX_ATTEMPTS

    def record(self, plan: EntryPlan, extras: Extras | None = None) -> EntryRecorded:
        """Record `plan` once (a keyed retry replays the first outcome), or raise why not.
        `extras` makes, on each attempt, aggregates saved in the entry's own transaction."""
        check_postings(plan.postings)
        with self.locks.hold(p.account for p in plan.postings):
            return with_retries(lambda: self.attempt(plan, extras), self.max_attempts)

    def attempt(self, plan: EntryPlan, extras: Extras | None = None) -> EntryRecorded:
        """One try, for callers that decide the plan afresh on each of their own retries
        (they hold the account locks): IntegrityError when another writer came first."""
        prior = self._prior_outcome(plan)
        if prior is not None:
            return self._replay(prior, plan)
        return self._try_record(plan, extras or _nothing)

    def _try_record(self, plan: EntryPlan, extras: Extras) -> EntryRecorded:
        accounts = [self._account(p.account) for p in plan.postings]
        try:
            results = tuple(
                PostingResult(p.account, p.delta, _post(account, plan.entry_id, p.delta))
                for account, p in zip(accounts, plan.postings, strict=True)
            )
        except InsufficientPointsError as refusal:
            self._remember_refusal(plan, refusal)
            raise
        entry = JournalEntry(
            id=plan.entry_id,
            kind=plan.kind.value,
            postings=[
                {"account": r.account, "delta": r.delta, "balance_after": r.balance_after}
                for r in results
            ],
            memo=plan.memo,
            metadata=plan.metadata,
            app_id=plan.app_id,
            effective_at=plan.effective_at,
        )
        key = self._key(plan, entry.id, None)
        recordings = self.store.save(entry, *accounts, key, *extras())
        return _answer(entry, recordings[-1].notification.id, replayed=False)

    def _account(self, name: str) -> Account:
        try:
            return get_as(self.store, account_id(name), Account)
        except AggregateNotFoundError:
            return Account(name)

    def _key(
        self, plan: EntryPlan, entry_id: UUID | None, refusal: dict[str, Any] | None
    ) -> IdempotencyKey | None:
        if plan.idempotency is None:
            return None
        return IdempotencyKey(
            scope=plan.idempotency.scope,
            key=plan.idempotency.key,
            request_digest=plan.request_digest,
            entry_id=entry_id,
            refusal=refusal,
        )

    def _remember_refusal(self, plan: EntryPlan, refusal: InsufficientPointsError) -> None:
        # A refused keyed request stays refused, with the same answer, when retried.
        outcome = {
            "error": refusal.code,
            "account": refusal.account,
            "balance": refusal.balance,
            "amount": refusal.amount,
        }
        key = self._key(plan, None, outcome)
        if key is not None:
            self.store.save(key)

    def _prior_outcome(self, plan: EntryPlan) -> IdempotencyKey | None:
        if plan.idempotency is None:
            return None
        key_id = idempotency_key_id(plan.idempotency.scope, plan.idempotency.key)
        try:
            return get_as(self.store, key_id, IdempotencyKey)
        except AggregateNotFoundError:
            return None

    def _replay(self, prior: IdempotencyKey, plan: EntryPlan) -> EntryRecorded:
        prior.check_same_request(plan.request_digest)
        if prior.refusal is not None:
            refusal = prior.refusal
            raise InsufficientPointsError(refusal["account"], refusal["balance"], refusal["amount"])
        if prior.entry_id is None:
            raise TypeError("an idempotency key with neither an entry nor a refusal")
        entry = get_as(self.store, prior.entry_id, JournalEntry)
        return _answer(entry, self.store.max_position(), replayed=True)


def _post(account: Account, entry_id: UUID, delta: int) -> int:
    if delta < 0:
        return account.debit(entry_id, -delta)
    return account.credit(entry_id, delta)


def _answer(entry: JournalEntry, position: int, *, replayed: bool) -> EntryRecorded:
    return EntryRecorded(
        entry_id=entry.id,
        kind=entry.kind,
        postings=tuple(
            PostingResult(p["account"], int(p["delta"]), int(p["balance_after"]))
            for p in entry.postings
        ),
        memo=entry.memo,
        metadata=dict(entry.metadata),
        app_id=entry.app_id,
        recorded_at=entry.created_on,
        effective_at=entry.effective_at,
        position=position,
        replayed=replayed,
    )
