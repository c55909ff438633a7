"""The composition root: settings in, a wired store, command bus and read database out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from commands.bus import CommandBus
from commands.credentials import SecretBox, TokenMinter
from commands.deploy_runtime import RuntimeDriver, SimulatedRuntime
from commands.store import BuddoStore
from http_api import presence, ratelimit
from http_api.jwt_codec import JwtCodec
from http_api.keyring import load_keys
from http_api.mailer import Mailer, build_mailer
from http_api.presence import MemoryPresence, PostgresPresence, PresenceStore
from http_api.ratelimit import Limit, RateLimiter
from http_api.settings import Settings
from projections import registry
from projections.db import PostgresReadDatabase, ReadDatabase, SQLiteReadDatabase

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> BuddoStore:
    """Open the event store, create its tables on first start, and plug in the read models."""
    if settings.backend == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    store = BuddoStore(settings.store_config())
    statements = registry.schema_statements()
    if settings.backend == "postgres":
        statements += ratelimit.postgres_schema() + presence.postgres_schema()
    store.create_schema(statements)
    store.set_inline_writer(registry.inline_writer())
    return store


DEFAULT_LIMITS = {
    limit.name: limit
    for limit in (
        ratelimit.REGISTER_LIMIT,
        ratelimit.FORGOT_PASSWORD_LIMIT,
        ratelimit.LOGIN_LIMIT,
        ratelimit.CREATE_OAUTH_APP_LIMIT,
        ratelimit.LIST_DEPLOY_APPS_LIMIT,
        ratelimit.CREATE_DEPLOY_APP_LIMIT,
        ratelimit.INTROSPECT_LIMIT,
    )
}


def rate_limits(settings: Settings) -> dict[str, Limit]:
    """The documented limits, with any that settings override."""
    limits = dict(DEFAULT_LIMITS)
    for name, (count, seconds) in settings.rate_limits.items():
        limits[name] = Limit(name, count, seconds)
    return limits


@dataclass
class Services:
    """What request handlers use: commands go to `bus`, queries read `reads`."""

    settings: Settings
    bus: CommandBus
    reads: ReadDatabase
    codec: JwtCodec
    mailer: Mailer
    limiter: RateLimiter
    limits: dict[str, Limit]
    presence: PresenceStore
    runtime: RuntimeDriver

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the response; failures are logged, never lost silently."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed: %r", task.exception())

    async def close(self) -> None:
        await self.runtime.close()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        await self.presence.close()
        await self.limiter.close()
        await self.reads.close()
        await asyncio.get_running_loop().run_in_executor(None, self.bus.close)


async def open_read_database(settings: Settings) -> ReadDatabase:
    """The async reader of the read-model tables for this backend."""
    if settings.backend == "postgres":
        pg = PostgresReadDatabase(
            settings.postgres_conninfo(), settings.read_pool_size, settings.store_timeout
        )
        await pg.open()
        return pg
    return SQLiteReadDatabase(str(settings.sqlite_path), settings.read_pool_size)


def open_limiter(settings: Settings, reads: ReadDatabase) -> RateLimiter:
    """Shared across processes on PostgreSQL (or Redis); per process for the embedded default."""
    if settings.redis_url:
        return ratelimit.RedisRateLimiter(settings.redis_url)
    if isinstance(reads, PostgresReadDatabase):
        return ratelimit.PostgresRateLimiter(reads.pool)
    return ratelimit.MemoryRateLimiter()


def open_presence(reads: ReadDatabase) -> PresenceStore:
    """Shared across processes on PostgreSQL; per process for the embedded default."""
    if isinstance(reads, PostgresReadDatabase):
        return PostgresPresence(reads.pool)
    return MemoryPresence()


async def open_services(settings: Settings) -> Services:
    """Everything with a lifetime; the blocking parts are opened off the event loop."""
    loop = asyncio.get_running_loop()
    keys = await loop.run_in_executor(None, load_keys, settings)
    store = await loop.run_in_executor(None, open_store, settings)
    bus = CommandBus(
        store,
        settings.store_threads,
        SecretBox(keys.secret_key),
        minter=TokenMinter(keys.token_key),
        group_commit=settings.group_commit,
    )
    reads = await open_read_database(settings)
    mailer = build_mailer(settings.smtp_url, settings.data_dir, settings.mail_from)
    log.info("event store ready on %s; mail goes to %s", settings.backend, mailer.describe())
    return Services(
        settings=settings,
        bus=bus,
        reads=reads,
        codec=JwtCodec(keys, settings.issuer),
        mailer=mailer,
        limiter=open_limiter(settings, reads),
        limits=rate_limits(settings),
        presence=open_presence(reads),
        runtime=SimulatedRuntime(bus.execute, settings.deploy_step_seconds),
    )
