"""Scenario `ledger_inprocess`: spends per second through CommandBus.handle, without HTTP.

On each backend: grant a pool of users plenty of points, run the raw-commit baseline on the
same database, then spend one point at a time for a fixed duration on 1 and on 8 threads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

from benchmarks.baselines import (
    postgres_raw_commits,
    sqlite_raw_commits,
    sqlite_synchronous_name,
)
from benchmarks.context import BenchContext
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement, Operation, run_for, warm_up
from commands.bus import CommandBus
from commands.points import GrantPoints, Idempotency, SpendPoints
from http_api.settings import Settings
from http_api.wiring import open_store
from ledger.accounts import MAX_AMOUNT, AccountKind, account_name

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "postgres")
USERS = 128
THREADS = 8
SPEND_AMOUNT = 1
WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class Case:
    """One way of spending: how many threads, into how many apps, with or without a key."""

    label: str
    threads: int
    apps: int
    keyed: bool = False
    diagnostic: bool = False  # beyond the two required cases


CASES = (
    Case("1 thread, one app", threads=1, apps=1),
    Case(f"{THREADS} threads, one app", threads=THREADS, apps=1),
    Case(f"{THREADS} threads, one app per thread", threads=THREADS, apps=THREADS, diagnostic=True),
    Case("1 thread, one app, Idempotency-Key", threads=1, apps=1, keyed=True, diagnostic=True),
)


def run(ctx: BenchContext) -> Outcome:
    """Both backends, the baseline first on each."""
    outcome = Outcome(
        parameters={
            "duration_s": ctx.duration,
            "warm_up_s": WARM_UP_SECONDS,
            "users": USERS,
            "grant_per_user": MAX_AMOUNT,
            "spend_amount": SPEND_AMOUNT,
            "store_threads": THREADS,
        }
    )
    for backend in BACKENDS:
        _run_backend(ctx, backend, outcome)
    return outcome


def _run_backend(ctx: BenchContext, backend: str, outcome: Outcome) -> None:
    settings = ctx.settings(backend, BUDDO_STORE_THREADS=str(THREADS))
    with _opened_bus(settings) as bus:
        users = _grant_pool(bus, USERS)
        apps = [uuid.uuid4() for _ in range(THREADS)]
        baseline = _baseline(ctx, settings, bus, outcome)
        for case in CASES:
            measured, events_per_op = _measure_case(ctx, bus, users, apps, case)
            outcome.add(
                backend,
                case.label,
                measured,
                baseline,
                diagnostic=case.diagnostic,
                events_per_op=events_per_op,
            )
            _log_row(backend, case.label, measured)


def _baseline(ctx: BenchContext, settings: Settings, bus: CommandBus, outcome: Outcome) -> str:
    """Run the raw-commit loop on the store's own database; returns the baseline's key."""
    if settings.backend == "postgres":
        measured = postgres_raw_commits(ctx.postgres_url, ctx.duration)
        key, label = "postgres_raw_commit", "raw psycopg INSERT + COMMIT, 1 connection"
    else:
        level = int(bus.store.snapshot_query(["PRAGMA synchronous"])[0][0][0])
        synchronous = sqlite_synchronous_name(level)
        outcome.details["sqlite"] = {
            "journal_mode": "WAL",
            "synchronous": f"{synchronous} ({level})",
            "set_by_eventsourcing": "journal_mode=WAL only; synchronous is SQLite's default",
        }
        measured = sqlite_raw_commits(settings.sqlite_path, ctx.duration, synchronous)
        key = "sqlite_raw_commit"
        label = f"raw sqlite3 INSERT + COMMIT, WAL, synchronous={synchronous}"
    outcome.add_baseline(key, settings.backend, label, measured)
    _log_row(settings.backend, label, measured)
    return key


@contextlib.contextmanager
def _opened_bus(settings: Settings) -> Iterator[CommandBus]:
    bus = CommandBus(open_store(settings), THREADS)
    try:
        yield bus
    finally:
        bus.close()


def _grant_pool(bus: CommandBus, count: int) -> list[UUID]:
    """`count` new users, each granted the most one grant may carry."""
    users = [uuid.uuid4() for _ in range(count)]
    for user in users:
        bus.handle(GrantPoints(account_name(AccountKind.USER, user), MAX_AMOUNT, "bench pool"))
    return users


def _measure_case(
    ctx: BenchContext, bus: CommandBus, users: list[UUID], apps: list[UUID], case: Case
) -> tuple[Measurement, float]:
    """The case's spends for the duration, and how many events each spend stored."""
    make = _spenders(bus, users, apps[: case.apps], case)
    warm_up(WARM_UP_SECONDS, make, case.threads)
    before = bus.store.max_position()
    measured = run_for(ctx.duration, make, case.threads)
    stored = bus.store.max_position() - before
    return measured, round(stored / measured.ops, 2) if measured.ops else 0.0


def _spenders(
    bus: CommandBus, users: list[UUID], apps: list[UUID], case: Case
) -> Callable[[int], Operation]:
    """Thread i spends from its own slice of the users, round-robin, into app i mod apps."""

    def make(index: int) -> Operation:
        return _spender(bus, users[index :: case.threads], apps[index % len(apps)], case.keyed)

    return make


def _spender(bus: CommandBus, users: list[UUID], app: UUID, keyed: bool) -> Operation:
    turn = itertools.cycle(users)

    def spend() -> None:
        user = next(turn)
        key = Idempotency(f"app:{app}/user:{user}", uuid.uuid4().hex) if keyed else None
        bus.handle(SpendPoints(user, app, SPEND_AMOUNT, "bench", idempotency=key))

    return spend


def _log_row(backend: str, label: str, measured: Measurement) -> None:
    log.info(
        "  %-8s %-52s %8.1f ops/s  p50 %6.2f ms  p99 %6.2f ms",
        backend,
        label,
        measured.ops_per_second,
        measured.percentile_ms(0.50),
        measured.percentile_ms(0.99),
    )


SCENARIO = Scenario(
    name="ledger_inprocess",
    title="Spends in-process (CommandBus.handle, no HTTP)",
    about=(
        f"Each spend is `CommandBus.handle(SpendPoints(...))` of {SPEND_AMOUNT} point: load the "
        "user's and the app's accounts, decide, and save a journal entry plus both accounts in "
        "one transaction, with every inline read model written in it. "
        f"Setup grants {USERS} users {MAX_AMOUNT:,} points each. One thread spends from the users "
        f"round-robin into one app; {THREADS} threads split the users between them. The "
        "baseline, run just before on the same database, is a raw loop on one connection that "
        "inserts one row and commits, one row per transaction. Ratio = spends/s ÷ raw commits/s."
    ),
    notes=(
        "- Rows marked *diagnostic* go beyond the two required cases: spends into one "
        "app per thread (no shared hot account), and spends that carry an Idempotency-Key (one "
        "more aggregate read and written per spend).\n"
        "- On PostgreSQL every eventsourcing write takes `LOCK TABLE ... IN EXCLUSIVE MODE` on "
        "the events table, so writers are serialised by the database whatever the thread count; "
        "and every spend into one app also queues on that app account's in-process lock. More "
        "threads therefore add latency and little throughput.\n"
        "- A spend stores 3 events (entry, debit, credit) in one transaction: its ratio is work "
        "per commit. This is the path of one command per transaction (`CommandBus.handle`, as "
        "the CLI and the store threads run it); spends and transfers over HTTP go through the "
        "group committer instead, many to a transaction (`spend_http`).\n"
        "- SQLite runs with the library's settings: WAL, and SQLite's default `synchronous` "
        "(recorded with the figures); its baseline uses the same."
    ),
    run=run,
)
