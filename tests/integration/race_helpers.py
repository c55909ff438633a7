"""Helpers for the race tests: spenders that run on threads, in this process or a spawned one.

A spender records every answer it gets as a plain tuple (picklable, so a child process can hand
its answers back through a queue): the tests then check them against the ledger.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as ProcessBarrier
from pathlib import Path
from typing import Any
from uuid import UUID

from commands.bus import CommandBus
from commands.points import Idempotency, SpendPoints
from http_api.settings import load_settings
from http_api.wiring import open_store
from ledger.errors import ContentionError, InsufficientPointsError

# Most attempts one spender makes: a bound by count, never by time.
MAX_ATTEMPTS_PER_SPENDER = 400
AMOUNTS = (1, 2, 3)
START_TIMEOUT_SECONDS = 120.0  # how long a spender waits at the barrier for the others

BarrierLike = threading.Barrier | ProcessBarrier


@dataclass(frozen=True)
class Spent:
    """A spend that was recorded."""

    amount: int
    position: int
    balance_after: int
    entry_id: str
    replayed: bool
    key: str = ""


@dataclass(frozen=True)
class Refused:
    """A spend refused for want of points, with the balance the ledger saw."""

    amount: int
    balance: int


@dataclass(frozen=True)
class Contended:
    """A spend given up after the optimistic retries ran out."""

    amount: int


Answer = Spent | Refused | Contended


def spend_once(bus: CommandBus, command: SpendPoints) -> Answer:
    """Send one spend; answer what happened (any other error propagates and fails the test)."""
    try:
        done = bus.handle(command)
    except InsufficientPointsError as refusal:
        return Refused(command.amount, refusal.balance)
    except ContentionError:
        return Contended(command.amount)
    user = f"user:{command.user_id}"
    key = command.idempotency.key if command.idempotency else ""
    return Spent(
        command.amount, done.position, done.balance_after(user), str(done.entry_id),
        done.replayed, key,
    )  # fmt: skip


def drain(bus: CommandBus, user: UUID, apps: list[UUID], offset: int) -> list[Answer]:
    """Spend 1, 2, 3, 1, ... (starting at `offset`) until a spend of 1 is refused: the wallet
    is then empty, for good, since nothing credits it during the race."""
    answers: list[Answer] = []
    amounts = itertools.islice(itertools.cycle(AMOUNTS), offset, None)
    for number, amount in zip(range(MAX_ATTEMPTS_PER_SPENDER), amounts, strict=False):
        app = apps[(offset + number) % len(apps)]
        answer = spend_once(bus, SpendPoints(user, app, amount, f"race {offset}/{number}"))
        answers.append(answer)
        if isinstance(answer, Refused) and amount == 1:
            break
    return answers


def send_keyed(
    bus: CommandBus, user: UUID, app: UUID, keys: list[tuple[str, int]], offset: int
) -> list[Answer]:
    """Send every (key, amount) once, starting at `offset` so threads collide on each key."""
    scope = f"app:{app}/user:{user}"
    order = keys[offset % len(keys) :] + keys[: offset % len(keys)]
    return [
        spend_once(
            bus, SpendPoints(user, app, amount, "keyed", idempotency=Idempotency(scope, key))
        )
        for key, amount in order
    ]


def run_together(
    barrier: BarrierLike, work: Iterable[Callable[[], list[Answer]]]
) -> list[list[Answer]]:
    """Run each piece of work on its own thread, all released by `barrier` at once."""

    def start_then(job: Callable[[], list[Answer]]) -> list[Answer]:
        barrier.wait(START_TIMEOUT_SECONDS)
        return job()

    jobs = list(work)
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="racer") as pool:
        futures = [pool.submit(start_then, job) for job in jobs]
        return [future.result() for future in futures]


def process_main(
    environ: dict[str, str],
    job: str,
    arguments: dict[str, Any],
    barrier: ProcessBarrier,
    results: Queue[tuple[str, object]],
) -> None:
    """A spawned process: its own store and bus on the same database, `threads` racers."""
    try:
        Path(environ["BUDDO_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        bus = CommandBus(open_store(load_settings(environ)), threads=1)
        try:
            results.put(("ok", _process_job(bus, job, arguments, barrier)))
        finally:
            bus.close()
    except BaseException:  # noqa: BLE001 - the parent reports whatever went wrong here
        barrier.abort()
        results.put(("error", traceback.format_exc()))


def _process_job(
    bus: CommandBus, job: str, arguments: dict[str, Any], barrier: ProcessBarrier
) -> list[list[Answer]]:
    user, apps, first = arguments["user"], arguments["apps"], arguments["first_offset"]
    offsets = range(first, first + arguments["threads"])
    if job == "drain":
        return run_together(barrier, [partial(drain, bus, user, apps, o) for o in offsets])
    keyed = partial(send_keyed, bus, user, apps[0], arguments["keys"])
    return run_together(barrier, [partial(keyed, o) for o in offsets])
