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

from commands.ads import AdHandlers
from commands.credentials import SecretBox, TokenMinter
from commands.deployments import DeploymentHandlers
from commands.grants import GrantHandlers
from commands.group_commit import GroupCommitter
from commands.journal import Journal
from commands.learning import LearningHandlers
from commands.locks import LockTable
from commands.oauth import AppHandlers
from commands.points import EntryRecorded, GrantPoints, MovePoints, SpendPoints, TransferPoints
from commands.retry import translate_store_errors
from commands.sessions import SessionHandlers
from commands.social import SocialHandlers
from commands.store import BuddoStore
from commands.transfers import PointsSent, SendPoints, TransferHandlers
from commands.users import UserHandlers

T = TypeVar("T")
Clock = Callable[[], datetime]
# Commands that go through group commit when it is on (design §8).
BATCHED = (GrantPoints, SpendPoints, TransferPoints)


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
        group_commit: tuple[int, float] | None = None,
    ) -> None:
        """`box` seals TOTP secrets and `minter` derives successor tokens; without them
        (tests only) throwaway keys are used. `group_commit` is (largest batch, longest
        gathering in seconds); None writes each points command in its own transaction."""
        self.store = store
        self.clock = clock
        self.journal = Journal(store, LockTable())
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store")
        box = box or SecretBox(secrets.token_bytes(32))
        minter = minter or TokenMinter(secrets.token_bytes(32))
        self.committer = GroupCommitter(self.journal, *group_commit) if group_commit else None
        self.transfers = TransferHandlers(store, self.journal)
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
            **self.transfers.table(),
            **AdHandlers(store, self.journal, clock).table(),
            **SocialHandlers(store, clock).table(),
            **LearningHandlers(store, self.journal, clock).table(),
            **DeploymentHandlers(store, self.journal, clock).table(),
        }

    def handle(self, command: object) -> Any:
        """Run `command` here, synchronously (CLI, tests, benchmarks)."""
        handler = self._handlers[type(command)]
        return translate_store_errors(handler, command)

    async def execute(self, command: object) -> Any:
        """Run `command` on the pool and answer its handler's result; points commands go
        to the group committer when there is one."""
        if self.committer is not None:
            if isinstance(command, BATCHED):
                return await self.commit(command.plan())
            if isinstance(command, SendPoints):
                transfer, recipient = await self.run(self.handle_prepared, command)
                return PointsSent(await self.commit(transfer.plan()), recipient)
        return await self.run(self.handle, command)

    def handle_prepared(self, command: SendPoints) -> tuple[TransferPoints, Any]:
        return translate_store_errors(self.transfers.prepare, command)

    async def commit(self, plan: Any) -> EntryRecorded:
        """Hand `plan` to the group committer and wait for its own answer."""
        assert self.committer is not None  # noqa: S101 - only called when there is one
        return await asyncio.wrap_future(self.committer.submit(plan))

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run any synchronous store call on the pool."""
        loop = asyncio.get_running_loop()
        call = functools.partial(translate_store_errors, function, *args)
        return await loop.run_in_executor(self.executor, call)

    def close(self) -> None:
        """Let running commands finish, then close the store."""
        if self.committer is not None:
            self.committer.close()
        self.executor.shutdown(wait=True)
        self.store.close()
