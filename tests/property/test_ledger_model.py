"""The ledger against a plain model: random grants, spends, transfers and keyed retries.

A Hypothesis state machine drives the real store (SQLite file, or a fresh PostgreSQL database)
through the command bus, and after every step compares the `balances` read model with a dict of
balances. At the end the whole log is replayed: the inline read models rebuilt from position 0
must match the live ones, and summing every entry's postings must give the model's balances.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from commands.bus import CommandBus
from commands.points import (
    EntryRecorded,
    GrantPoints,
    Idempotency,
    PointsCommand,
    SpendPoints,
    TransferPoints,
)
from commands.store import BuddoStore
from http_api.settings import load_settings
from http_api.wiring import open_store
from ledger.accounts import TREASURY
from ledger.errors import IdempotencyConflictError, InsufficientPointsError, ValidationError
from ledger.journal import JournalEntry
from projections import registry, runner
from tests.conftest import create_database, drop_database

USERS = (
    UUID("00000000-0000-4000-8000-000000000001"),
    UUID("00000000-0000-4000-8000-000000000002"),
    UUID("00000000-0000-4000-8000-000000000003"),
    UUID("00000000-0000-4000-8000-000000000004"),
)
APPS = (
    UUID("00000000-0000-4000-8000-00000000000a"),
    UUID("00000000-0000-4000-8000-00000000000b"),
)
USER_ACCOUNTS = tuple(f"user:{user}" for user in USERS)
APP_ACCOUNTS = tuple(f"app:{app}" for app in APPS)

# Few scopes and keys, so that keys collide: replays and conflicts happen by chance too.
SCOPES = (f"app:{APPS[0]}/user:{USERS[0]}", f"app:{APPS[1]}/user:{USERS[1]}")
KEYS = ("k-1", "k-2", "k-3")

users = st.sampled_from(USERS)
apps = st.sampled_from(APPS)
grantees = st.sampled_from(USER_ACCOUNTS + APP_ACCOUNTS)
amounts = st.integers(min_value=1, max_value=60)
maybe_keys = st.none() | st.builds(Idempotency, st.sampled_from(SCOPES), st.sampled_from(KEYS))

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REPLAY_BATCH = 100


@dataclass(frozen=True)
class Outcome:
    """The first answer to a keyed command: its entry and balances after, or its refusal."""

    command: PointsCommand
    entry_id: UUID | None
    balances_after: dict[str, int]
    refused_balance: int | None


def movement(command: PointsCommand) -> list[tuple[str, int]]:
    """The postings the model expects for `command`, debit first."""
    if isinstance(command, GrantPoints):
        return [(TREASURY, -command.amount), (command.to_account, command.amount)]
    if isinstance(command, SpendPoints):
        return [
            (f"user:{command.user_id}", -command.amount),
            (f"app:{command.app_id}", command.amount),
        ]
    return [
        (f"user:{command.from_user_id}", -command.amount),
        (f"user:{command.to_user_id}", command.amount),
    ]


def body(command: PointsCommand) -> PointsCommand:
    """The command without its key: what 'the same request' compares."""
    return dataclasses.replace(command, idempotency=None)


def read_balances(store: BuddoStore) -> dict[str, int]:
    (rows,) = store.snapshot_query(["SELECT account, balance FROM balances"])
    return {str(account): int(str(balance)) for account, balance in rows}


class LedgerMachine(RuleBasedStateMachine):
    """Commands on the real store, checked step by step against a dict of balances."""

    keys = Bundle("keys")

    def __init__(self, backend: str, admin_url: str | None) -> None:
        super().__init__()
        self.model: dict[str, int] = {}
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.entries: dict[UUID, dict[str, int]] = {}
        self.admin_url = admin_url
        self.database_url: str | None = None
        self.data_dir = Path(tempfile.mkdtemp(prefix="buddo-model-"))
        environ = {"BUDDO_DATA_DIR": str(self.data_dir)}
        if backend == "postgres":
            assert admin_url is not None
            self.database_url = create_database(admin_url)
            environ["BUDDO_DATABASE_URL"] = self.database_url
        try:
            self.store = open_store(load_settings(environ))
        except BaseException:
            self._remove_storage()
            raise
        self.bus = CommandBus(self.store, threads=2)

    # Running a command and checking its answer against the model

    def submit(self, command: PointsCommand) -> Outcome | None:
        """Run `command`; answers the new keyed outcome to remember, if there is one."""
        if isinstance(command, TransferPoints) and command.from_user_id == command.to_user_id:
            # Refused while planning, before any key is looked at.
            self._expect_nothing_moves(command, ValidationError)
            return None
        key = command.idempotency
        if key is not None and (key.scope, key.key) in self.outcomes:
            self._submit_again(command, self.outcomes[key.scope, key.key])
            return None
        postings = movement(command)
        debited, amount = postings[0][0], -postings[0][1]
        balance = self.model.get(debited, 0)
        if debited != TREASURY and balance < amount:
            with pytest.raises(InsufficientPointsError) as refused:
                self.bus.handle(command)
            assert (refused.value.balance, refused.value.amount) == (balance, amount)
            if key is None:
                return None
            return Outcome(command, None, {}, balance)
        result = self.bus.handle(command)
        assert isinstance(result, EntryRecorded)
        assert not result.replayed
        assert result.entry_id not in self.entries
        assert result.position == self.store.max_position()
        for account, delta in postings:
            self.model[account] = self.model.get(account, 0) + delta
        after = {p.account: p.balance_after for p in result.postings}
        assert [(p.account, p.delta) for p in result.postings] == postings
        assert after == {account: self.model[account] for account, _ in postings}
        self.entries[result.entry_id] = after
        return None if key is None else Outcome(command, result.entry_id, after, None)

    def _submit_again(self, command: PointsCommand, prior: Outcome) -> None:
        if body(command) != body(prior.command):
            self._expect_nothing_moves(command, IdempotencyConflictError)
            return
        head = self.store.max_position()
        if prior.refused_balance is not None:
            # A refused keyed request stays refused, with its first answer, however rich now.
            with pytest.raises(InsufficientPointsError) as refused:
                self.bus.handle(command)
            assert refused.value.balance == prior.refused_balance
        else:
            result = self.bus.handle(command)
            assert result.replayed
            assert result.entry_id == prior.entry_id
            assert {p.account: p.balance_after for p in result.postings} == prior.balances_after
        assert self.store.max_position() == head  # a replay never appends anything

    def _expect_nothing_moves(self, command: PointsCommand, error: type[Exception]) -> None:
        head = self.store.max_position()
        with pytest.raises(error):
            self.bus.handle(command)
        assert self.store.max_position() == head

    def _remember(self, outcome: Outcome | None) -> object:
        if outcome is None:
            return multiple()
        key = outcome.command.idempotency
        assert key is not None
        self.outcomes[key.scope, key.key] = outcome
        return key

    # Rules

    @rule(target=keys, to_account=grantees, amount=amounts, key=maybe_keys)
    def grant(self, to_account: str, amount: int, key: Idempotency | None) -> object:
        return self._remember(self.submit(GrantPoints(to_account, amount, "grant", key)))

    @rule(target=keys, user=users, app=apps, amount=amounts, key=maybe_keys)
    def spend(self, user: UUID, app: UUID, amount: int, key: Idempotency | None) -> object:
        command = SpendPoints(user, app, amount, "spend", {"n": amount}, key)
        return self._remember(self.submit(command))

    @rule(target=keys, source=users, dest=users, amount=amounts, key=maybe_keys)
    def transfer(self, source: UUID, dest: UUID, amount: int, key: Idempotency | None) -> object:
        command = TransferPoints(source, dest, amount, "transfer", None, key)
        return self._remember(self.submit(command))

    @rule(key=keys)
    def retry_same_request(self, key: Idempotency) -> None:
        prior = self.outcomes[key.scope, key.key]
        assert self.submit(prior.command) is None

    @rule(key=keys, change=st.sampled_from(["amount", "memo", "kind"]))
    def reuse_key_for_another_request(self, key: Idempotency, change: str) -> None:
        prior = self.outcomes[key.scope, key.key].command
        other: PointsCommand
        if change == "amount":
            other = dataclasses.replace(prior, amount=prior.amount + 1)
        elif change == "memo" and isinstance(prior, GrantPoints):
            other = dataclasses.replace(prior, reason=prior.reason + "!")
        elif change == "memo" and isinstance(prior, SpendPoints):
            other = dataclasses.replace(prior, description=prior.description + "!")
        elif change == "memo" and isinstance(prior, TransferPoints):
            other = dataclasses.replace(prior, note=prior.note + "!")
        elif isinstance(prior, GrantPoints):
            other = SpendPoints(USERS[0], APPS[0], prior.amount, idempotency=key)
        else:
            other = GrantPoints(USER_ACCOUNTS[0], prior.amount, "grant", key)
        assert body(other) != body(prior)
        assert self.submit(other) is None  # the key is known: this must be a conflict

    # Invariants, after every step

    @invariant()
    def read_model_equals_the_model(self) -> None:
        balances = read_balances(self.store)
        assert sum(balances.values()) == 0
        assert all(balance >= 0 for account, balance in balances.items() if account != TREASURY)
        assert balances == self.model

    # The end of a run: replaying the log gives the same state

    def teardown(self) -> None:
        try:
            self.check_replay()
        finally:
            self.bus.close()
            self._remove_storage()

    def check_replay(self) -> None:
        reports = runner.rebuild(self.store, registry.INLINE)
        assert {report.name for report in reports} >= {"balances", "account_history"}
        assert all(report.matches for report in reports), reports

        replayed: dict[str, int] = {}
        seen: list[UUID] = []
        position = 0
        while batch := self.store.read_events(position, REPLAY_BATCH):
            for position, event in batch:  # noqa: B007 - the last position pages on
                if not isinstance(event, JournalEntry.Recorded):
                    continue
                seen.append(event.originator_id)
                assert sum(int(p["delta"]) for p in event.postings) == 0
                for posting in event.postings:
                    account = str(posting["account"])
                    replayed[account] = replayed.get(account, 0) + int(posting["delta"])
                    assert int(posting["balance_after"]) == replayed[account]
        assert len(seen) == len(set(seen))  # no entry recorded twice
        assert set(seen) == set(self.entries)
        assert replayed == self.model == read_balances(self.store)

    def _remove_storage(self) -> None:
        if self.database_url is not None and self.admin_url is not None:
            drop_database(self.admin_url, self.database_url)
            self.database_url = None
        shutil.rmtree(self.data_dir, ignore_errors=True)


def machine_factory(backend: str, admin_url: str | None) -> Callable[[], LedgerMachine]:
    return lambda: LedgerMachine(backend, admin_url)


def test_the_sqlite_ledger_behaves_like_the_model() -> None:
    run_state_machine_as_test(machine_factory("sqlite", None), settings=MACHINE_SETTINGS)


def test_the_postgres_ledger_behaves_like_the_model(postgres_admin_url: str) -> None:
    run_state_machine_as_test(
        machine_factory("postgres", postgres_admin_url), settings=MACHINE_SETTINGS
    )
