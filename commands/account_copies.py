"""The accounts this process last saved, checked against the store in one query per save.

Deciding an entry needs its accounts as they are now. Loading each through the repository
costs a query per account (the library's cache still asks the store for newer events), which
for a group commit of 60 spends is 60 round trips before anything is written. Here the
copies this process saved last are kept, and one query asks the store for the newest version
of every account a save is about to touch: a copy at that version is current; any other
account is loaded through the repository as before.

A copy is never trusted on its own word: an entry decided on a copy that another process has
moved since the query fails the event store's version check (IntegrityError), and the journal
drops the copies it used before deciding again.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable

from eventsourcing.application import AggregateNotFoundError, LRUCache

from commands.store import BuddoStore, get_as
from ledger.accounts import Account, account_id

CACHE_SIZE = 10_000


class AccountCopies:
    """Current accounts for a save, in one query when this process saved them last."""

    def __init__(self, store: BuddoStore, size: int = CACHE_SIZE) -> None:
        self.store = store
        self._saved: LRUCache[str, Account] = LRUCache(maxsize=size)

    def load(self, names: Iterable[str]) -> dict[str, Account]:
        """Each account of `names` as it is now (a new one if it was never used). The caller
        holds the accounts' in-process locks, so only another process can move them."""
        wanted = list(dict.fromkeys(names))
        versions = self.store.aggregate_versions([account_id(name) for name in wanted])
        return {name: self._current(name, versions.get(account_id(name))) for name in wanted}

    def _current(self, name: str, version: int | None) -> Account:
        if version is None:
            return Account(name)
        try:
            saved = self._saved.get(name)
        except KeyError:
            saved = None
        if saved is not None and saved.version == version:
            return copy.deepcopy(saved)  # the caller's moves must not reach the kept copy
        try:
            return get_as(self.store, account_id(name), Account)
        except AggregateNotFoundError:  # its first event is not visible here yet
            return Account(name)

    def saved(self, accounts: Iterable[Account]) -> None:
        """Keep `accounts`, just saved (the caller no longer moves them)."""
        for account in accounts:
            self._saved.put(account.name, account)

    def forget(self, names: Iterable[str]) -> None:
        """Drop the copies of `names` (a save decided on them was refused)."""
        for name in names:
            with contextlib.suppress(KeyError):
                self._saved.get(name, evict=True)
