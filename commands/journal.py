"""Recording a journal entry: load the accounts, decide, append everything in one save."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.account_copies import AccountCopies
from commands.locks import LockTable
from commands.points import EntryPlan, EntryRecorded, Idempotency, PostingResult
from commands.retry import MAX_ATTEMPTS, with_retries
from commands.store import BuddoStore, get_as
from ledger.accounts import Account
from ledger.errors import BuddoError, InsufficientPointsError
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
    copies: AccountCopies = field(init=False)

    def __post_init__(self) -> None:
        self.copies = AccountCopies(self.store)

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
        names = [p.account for p in plan.postings]
        loaded = self.copies.load(names)
        accounts = [loaded[name] for name in names]
        try:
            entry = _entry(plan, accounts)
        except InsufficientPointsError as refusal:
            key = self._key(plan, None, _refusal_outcome(refusal))
            if key is not None:
                self.store.save(key)  # a refused keyed request stays refused, same answer
            raise
        key = self._key(plan, entry.id, None)
        try:
            recordings = self.store.save(entry, *accounts, key, *extras())
        except IntegrityError:
            self.copies.forget(names)
            raise
        self.copies.saved(accounts)
        return _answer(entry, recordings[-1].notification.id, replayed=False)

    def record_batch(self, plans: Sequence[EntryPlan]) -> list[EntryRecorded | BuddoError]:
        """Group commit: record `plans` in ONE transaction, each deciding against the balances
        its predecessors in the batch left, each with its own answer (an entry, a replay, or
        the error that refused it alone). If another writer moved one of the accounts first,
        nothing of the batch was written: the plans are then recorded one at a time."""
        names = {p.account for plan in plans for p in plan.postings}
        with self.locks.hold(names):
            batch = _Batch(self, self.copies.load(names))
            outcomes = [batch.add(plan) for plan in plans]
            try:
                position: int | None = batch.save()
            except IntegrityError:
                self.copies.forget(names)
                position = None
            else:
                self.copies.saved(batch.accounts.values())
        if position is None:  # after the locks: record() takes them again, one plan at a time
            return [self._alone(plan) for plan in plans]
        return [
            self._alone(plan) if outcome is DEFERRED else _finish(outcome, position)
            for plan, outcome in zip(plans, outcomes, strict=True)
        ]

    def _alone(self, plan: EntryPlan) -> EntryRecorded | BuddoError:
        try:
            return self.record(plan)
        except BuddoError as error:
            return error

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

    def _prior_outcome(self, plan: EntryPlan) -> IdempotencyKey | None:
        return stored_key(self.store, plan.idempotency)

    def _replay(self, prior: IdempotencyKey, plan: EntryPlan) -> EntryRecorded:
        prior.check_same_request(plan.request_digest)
        if prior.refusal is not None:
            refusal = prior.refusal
            raise InsufficientPointsError(refusal["account"], refusal["balance"], refusal["amount"])
        if prior.entry_id is None:
            raise TypeError("an idempotency key with neither an entry nor a refusal")
        entry = get_as(self.store, prior.entry_id, JournalEntry)
        return _answer(entry, self.store.max_position(), replayed=True)


def stored_key(store: BuddoStore, key: Idempotency | None) -> IdempotencyKey | None:
    """What the first request under `key` recorded, if one did (and there is a key)."""
    if key is None:
        return None
    try:
        return get_as(store, idempotency_key_id(key.scope, key.key), IdempotencyKey)
    except AggregateNotFoundError:
        return None


class _Deferred:
    """A plan whose key another plan of the same batch already uses: it runs after the
    batch commits, and so replays (or conflicts with) the first one's answer."""


DEFERRED = _Deferred()
Pending = JournalEntry | EntryRecorded | BuddoError | _Deferred


class _Batch:
    """The aggregates of one group commit, shared by its plans in order."""

    def __init__(self, journal: Journal, loaded: dict[str, Account]) -> None:
        self.journal = journal
        self.loaded = loaded  # every account of the batch, current when it began
        self.accounts: dict[str, Account] = {}  # those a plan used: saved with the batch
        self.aggregates: list[Any] = []
        self.keys: set[UUID] = set()

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            self.accounts[name] = self.loaded[name]
        return self.accounts[name]

    def add(self, plan: EntryPlan) -> Pending:
        """What `plan` comes to: an entry to save, an answer already, or DEFERRED."""
        try:
            return self.decide(plan)
        except BuddoError as error:
            return error

    def decide(self, plan: EntryPlan) -> Pending:
        check_postings(plan.postings)
        journal = self.journal
        if plan.idempotency is not None:
            key_id = idempotency_key_id(plan.idempotency.scope, plan.idempotency.key)
            if key_id in self.keys:
                return DEFERRED
            self.keys.add(key_id)
            prior = journal._prior_outcome(plan)
            if prior is not None:
                return journal._replay(prior, plan)
        accounts = [self.account(p.account) for p in plan.postings]
        try:
            for account, posting in zip(accounts, plan.postings, strict=True):
                if posting.delta < 0:
                    account.check_debit(-posting.delta)  # before any account moves
        except InsufficientPointsError as refusal:
            self.aggregates.append(journal._key(plan, None, _refusal_outcome(refusal)))
            raise
        entry = _entry(plan, accounts)
        self.aggregates += [entry, journal._key(plan, entry.id, None)]
        return entry

    def save(self) -> int:
        """One transaction for everything; the position of its last event (every answer of
        the batch reports it: a read model at that position has all of the batch)."""
        return self.journal.store.record(*self.aggregates, *self.accounts.values())


def _finish(outcome: Pending, position: int) -> EntryRecorded | BuddoError:
    if isinstance(outcome, JournalEntry):
        return _answer(outcome, position, replayed=False)
    if isinstance(outcome, _Deferred):
        raise TypeError("a deferred plan has no answer of its own")
    return outcome


def _refusal_outcome(refusal: InsufficientPointsError) -> dict[str, Any]:
    """What a keyed refusal remembers, to answer its retries the same way."""
    return {
        "error": refusal.code,
        "account": refusal.account,
        "balance": refusal.balance,
        "amount": refusal.amount,
    }


def _entry(plan: EntryPlan, accounts: list[Account]) -> JournalEntry:
    """Post `plan` to its (loaded) accounts and make its entry; refuses an overdraft."""
    results = [
        PostingResult(p.account, p.delta, _post(account, plan.entry_id, p.delta))
        for account, p in zip(accounts, plan.postings, strict=True)
    ]
    return JournalEntry(
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
