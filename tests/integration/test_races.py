"""Races on one wallet: threads and processes spending at once never overdraw it, lose an
update, or record a keyed request twice.

Every bound is a count, never a time: each spender drains the wallet until a spend of 1 is
refused (the wallet is then empty for good), so on any machine the sum spent is exactly the
grant, and the balances recorded after each spend, in log order, form one unbroken chain.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from commands.bus import CommandBus
from commands.points import EntryRecorded, GrantPoints, SpendPoints, TransferPoints
from commands.store import BuddoStore
from http_api.settings import Settings, load_settings
from http_api.wiring import open_read_database, open_store
from ledger.accounts import Account, account_id
from ledger.errors import InsufficientPointsError
from projections import queries
from projections.queries import BalanceView
from tests.integration.race_helpers import (
    AMOUNTS,
    Answer,
    Contended,
    Refused,
    Spent,
    drain,
    process_main,
    run_together,
)

THREADS = 8
START = 50  # points in the raced wallet: far fewer than the racers ask for
PROCESSES = 2
THREADS_PER_PROCESS = 4
PROCESS_START = 300  # enough spends that the processes overlap for a good while
PROCESS_JOIN_SECONDS = 600.0  # generous: a busy 2-core machine spawns slowly

BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)


def flat(per_thread: Iterable[list[Answer]]) -> list[Answer]:
    return [answer for answers in per_thread for answer in answers]


def balances(store: BuddoStore) -> dict[str, int]:
    """The balances read model (written in the events' own transaction)."""
    (rows,) = store.snapshot_query(["SELECT account, balance FROM balances"])
    return {str(account): int(str(balance)) for account, balance in rows}


def count(store: BuddoStore, statement: str) -> int:
    (rows,) = store.snapshot_query([statement])
    return int(str(rows[0][0]))


def stored_events(store: BuddoStore) -> int:
    """How many events the log holds (positions may have gaps: a rolled-back insert uses one)."""
    table: str = store.recorder.events_table_name  # type: ignore[attr-defined]
    return count(store, f"SELECT count(*) FROM {table}")  # noqa: S608


def write_balance(store: BuddoStore, account: str) -> int:
    """The balance the write side decides with: the Account aggregate itself."""
    loaded: object = store.repository.get(account_id(account))
    assert isinstance(loaded, Account)
    return int(loaded.balance)


def read_balance(settings: Settings, account: str) -> BalanceView:
    """The balance query the HTTP API answers with."""

    async def query() -> BalanceView:
        reads = await open_read_database(settings)
        try:
            return await queries.balance(reads, account)
        finally:
            await reads.close()

    return asyncio.run(query())


def check_drained(answers: Sequence[Answer], start: int) -> list[Spent]:
    """The spends add up to exactly `start`, and each saw the balance the one before left."""
    spent = sorted((a for a in answers if isinstance(a, Spent)), key=lambda s: s.position)
    assert sum(s.amount for s in spent) == start
    running = start
    for spend in spent:  # a lost update or a double spend breaks the chain
        running -= spend.amount
        assert spend.balance_after == running, spend
    assert len({s.position for s in spent}) == len(spent)
    for refusal in (a for a in answers if isinstance(a, Refused)):
        assert 0 <= refusal.balance < refusal.amount, refusal
    return spent


def check_ledger(store: BuddoStore, settings: Settings, user: UUID, spent: Sequence[Spent]) -> None:
    """Write model, read model and query agree on an empty wallet; nothing else was written."""
    wallet = f"user:{user}"
    assert write_balance(store, wallet) == 0
    book = balances(store)
    assert book[wallet] == 0
    assert sum(book.values()) == 0
    assert all(b >= 0 for name, b in book.items() if name != "treasury")
    view = read_balance(settings, wallet)
    assert (view.balance, view.position) == (0, store.max_position())
    history = f"SELECT count(*) FROM account_history WHERE account = '{wallet}'"  # noqa: S608
    assert count(store, history) == 1 + len(spent)  # the grant, then each spend once


def each_thread_ended_empty(per_thread: Iterable[list[Answer]]) -> None:
    """Every spender stopped because a spend of 1 was refused, not because it ran out of tries."""
    for answers in per_thread:
        last = answers[-1]
        assert isinstance(last, Refused), last
        assert (last.amount, last.balance) == (1, 0)


# Threads in one process


@BOTH_BACKENDS
def test_threads_spending_from_one_wallet_take_exactly_its_balance(
    bus: CommandBus, store: BuddoStore, settings: Settings
) -> None:
    user, apps = uuid4(), [uuid4() for _ in range(3)]
    bus.handle(GrantPoints(f"user:{user}", START, "race"))
    events_before = stored_events(store)

    barrier = threading.Barrier(THREADS)
    per_thread = run_together(barrier, [partial(drain, bus, user, apps, i) for i in range(THREADS)])

    each_thread_ended_empty(per_thread)
    answers = flat(per_thread)
    # In one process the per-wallet lock serialises the spends: no retry ever runs out.
    assert not [a for a in answers if isinstance(a, Contended)]
    spent = check_drained(answers, START)
    check_ledger(store, settings, user, spent)
    book = balances(store)
    used_apps = [app for app in apps if book.get(f"app:{app}", 0) > 0]
    assert sum(book.get(f"app:{app}", 0) for app in apps) == START
    # Each spend stored 3 events (entry, debit, credit), each new app account 1 more (opened);
    # refused spends stored nothing.
    events = stored_events(store) - events_before
    assert events == 3 * len(spent) + len(used_apps)


def postings_by_account(recorded: Iterable[EntryRecorded]) -> dict[str, list[tuple[int, int, int]]]:
    by_account: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for entry in recorded:
        for posting in entry.postings:
            by_account[posting.account].append(
                (entry.position, posting.delta, posting.balance_after)
            )
    return by_account


def check_chains(recorded: Iterable[EntryRecorded], store: BuddoStore) -> None:
    """For every account, in log order, each balance after is the one before plus the delta."""
    book = balances(store)
    for account, postings in postings_by_account(recorded).items():
        running = 0
        for position, delta, balance_after in sorted(postings):
            running += delta
            assert balance_after == running, (account, position)
        assert book[account] == running == write_balance(store, account)


@pytest.mark.slow
@BOTH_BACKENDS
def test_many_threads_spending_and_transferring_between_wallets_conserve_points(
    bus: CommandBus, store: BuddoStore
) -> None:
    """Heavier: 16 threads, 6 wallets, spends and two-wallet transfers in every direction."""
    users, apps = [uuid4() for _ in range(6)], [uuid4() for _ in range(2)]
    recorded: list[EntryRecorded] = [
        bus.handle(GrantPoints(f"user:{user}", 40, "race")) for user in users
    ]
    lock = threading.Lock()

    def trade(seed: int) -> list[Answer]:
        rng, mine = random.Random(seed), list[Answer]()
        for _ in range(60):
            source, target = rng.sample(users, 2)
            amount = rng.choice(AMOUNTS)
            command: SpendPoints | TransferPoints = (
                SpendPoints(source, rng.choice(apps), amount)
                if rng.random() < 0.4
                else TransferPoints(source, target, amount)
            )
            try:
                done = bus.handle(command)
            except InsufficientPointsError as refusal:
                mine.append(Refused(amount, refusal.balance))
                continue
            with lock:
                recorded.append(done)
        return mine

    refusals = flat(run_together(threading.Barrier(16), [partial(trade, s) for s in range(16)]))

    check_chains(recorded, store)
    assert all(isinstance(r, Refused) and 0 <= r.balance < r.amount for r in refusals)
    assert sum(balances(store).values()) == 0
    assert len(recorded) > len(users)  # the race moved points at all


# Processes on one PostgreSQL database


@pytest.fixture
def pg_environ(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    return {"BUDDO_DATABASE_URL": postgres_url, "BUDDO_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def pg_bus(pg_environ: dict[str, str]) -> Iterator[CommandBus]:
    """The parent's own bus: it makes the schema before the children start, and checks after."""
    command_bus = CommandBus(open_store(load_settings(pg_environ)), threads=1)
    yield command_bus
    command_bus.close()


def race_processes(environ: dict[str, str], job: str, **arguments: object) -> list[list[Answer]]:
    """Run `job` in PROCESSES spawned processes of THREADS_PER_PROCESS threads each, every
    thread released by one barrier; the answers of every thread, in process order."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES * THREADS_PER_PROCESS)
    results = context.Queue()
    processes = [
        context.Process(
            target=process_main,
            args=(
                environ,
                job,
                {**arguments, "threads": THREADS_PER_PROCESS, "first_offset": n * 100},
                barrier,
                results,
            ),
        )
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=PROCESS_JOIN_SECONDS) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=PROCESS_JOIN_SECONDS)
            if process.is_alive():  # only after a failure: never leave a racer behind
                process.kill()
        results.close()
    errors = [str(detail) for status, detail in outcomes if status != "ok"]
    assert not errors, "\n".join(errors)
    assert all(process.exitcode == 0 for process in processes)
    return [answers for _, detail in outcomes for answers in detail]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_processes_spending_from_one_wallet_take_exactly_its_balance(
    pg_environ: dict[str, str], pg_bus: CommandBus
) -> None:
    user, apps = uuid4(), [uuid4() for _ in range(2)]
    pg_bus.handle(GrantPoints(f"user:{user}", PROCESS_START, "race"))

    per_thread = race_processes(pg_environ, "drain", user=user, apps=apps)

    each_thread_ended_empty(per_thread)
    answers = flat(per_thread)
    contended = [a for a in answers if isinstance(a, Contended)]
    # Positions a rolled-back insert used up: how often the processes' saves collided.
    collisions = pg_bus.store.max_position() - stored_events(pg_bus.store)
    print(f"{len(contended)} of {len(answers)} spends ran out of retries; {collisions} gaps")
    spent = check_drained(answers, PROCESS_START)
    check_ledger(pg_bus.store, load_settings(pg_environ), user, spent)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_a_key_sent_from_two_processes_at_once_moves_points_once(
    pg_environ: dict[str, str], pg_bus: CommandBus
) -> None:
    user, app = uuid4(), uuid4()
    pg_bus.handle(GrantPoints(f"user:{user}", 1_000, "race"))
    keys = [(f"order-{n}", AMOUNTS[n % len(AMOUNTS)]) for n in range(24)]

    per_thread = race_processes(pg_environ, "keyed", user=user, apps=[app], keys=keys)

    answers = flat(per_thread)
    assert not [a for a in answers if isinstance(a, Refused)]
    spent = [a for a in answers if isinstance(a, Spent)]
    by_key: dict[str, list[Spent]] = defaultdict(list)
    for spend in spent:
        by_key[spend.key].append(spend)
    assert sorted(by_key) == sorted(key for key, _ in keys)
    for key, spends in by_key.items():
        assert len({s.entry_id for s in spends}) == 1, key  # every sender: the same entry
        assert [s.replayed for s in spends].count(False) == 1, key  # recorded once
    charged = sum(amount for _, amount in keys)
    store = pg_bus.store
    assert write_balance(store, f"user:{user}") == 1_000 - charged
    assert balances(store)[f"app:{app}"] == charged
    assert sum(balances(store).values()) == 0
    first_answers = sorted((s for s in spent if not s.replayed), key=lambda s: s.position)
    running = 1_000
    for spend in first_answers:
        running -= spend.amount
        assert spend.balance_after == running
    entries = "SELECT count(*) FROM account_history WHERE account = %s"
    assert count(store, entries.replace("%s", f"'user:{user}'")) == 1 + len(keys)
