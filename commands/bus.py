"""The command bus: a handler table, a bounded thread pool, and store errors translated.

The event store is synchronous. Each command runs whole (load, decide, save, retry) as one
function on the pool, so the event loop never blocks; a cancelled request's job still finishes,
which is why money commands are idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError

from commands.credentials import SecretBox, TokenMinter
from commands.grants import GrantHandlers
from commands.journal import Journal
from commands.locks import LockTable
from commands.oauth import AppHandlers
from commands.points import GrantPoints, MovePoints, SpendPoints, TransferPoints
from commands.sessions import SessionHandlers
from commands.store import BuddoStore
from commands.transfers import TransferHandlers
from commands.users import UserHandlers
from ledger.errors import UnavailableError

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


def _record_entry(
    journal: Journal, command: GrantPoints | SpendPoints | TransferPoints | MovePoints
) -> Any:
    return journal.record(command.plan())


class CommandBus:
    """Runs commands on the store's thread pool and answers with their results."""

    def __init__(
        self,
        store: BuddoStore,
        threads: int,
        box: SecretBox | None = None,
        clock: Clock = utc_now,
        minter: TokenMinter | None = None,
    ) -> None:
        """`box` seals TOTP secrets and `minter` derives successor tokens; without them
        (tests only) throwaway keys are used."""
        self.store = store
        self.clock = clock
        self.journal = Journal(store, LockTable())
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store")
        box = box or SecretBox(secrets.token_bytes(32))
        minter = minter or TokenMinter(secrets.token_bytes(32))
        record = functools.partial(_record_entry, self.journal)
        self._handlers: dict[type, Callable[[Any], Any]] = {
            GrantPoints: record,
            SpendPoints: record,
            TransferPoints: record,
            MovePoints: record,
            **UserHandlers(store, box, clock).table(),
            **SessionHandlers(store, clock).table(),
            **AppHandlers(store).table(),
            **GrantHandlers(store, minter, clock).table(),
            **TransferHandlers(store, self.journal).table(),
        }

    def handle(self, command: object) -> Any:
        """Run `command` here, synchronously (CLI, tests, benchmarks)."""
        handler = self._handlers[type(command)]
        return translate_store_errors(handler, command)

    async def execute(self, command: object) -> Any:
        """Run `command` on the pool and answer its handler's result."""
        return await self.run(self.handle, command)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run any synchronous store call on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(function, *args))

    def close(self) -> None:
        """Let running commands finish, then close the store."""
        self.executor.shutdown(wait=True)
        self.store.close()


def translate_store_errors(function: Callable[..., T], *args: Any) -> T:
    """Call `function`, turning 'the store cannot be reached' into UnavailableError."""
    try:
        return function(*args)
    except (OperationalError, InterfaceError) as error:
        raise UnavailableError("The event store cannot be reached.", retry_after=2) from error
