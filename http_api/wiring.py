"""The composition root: settings in, a wired store, command bus and read database out."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from commands.bus import CommandBus
from commands.store import BuddoStore
from http_api.settings import Settings
from projections import registry
from projections.db import PostgresReadDatabase, ReadDatabase, SQLiteReadDatabase

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> BuddoStore:
    """Open the event store, create its tables on first start, and plug in the read models."""
    if settings.backend == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    store = BuddoStore(settings.store_config())
    store.create_schema(registry.schema_statements())
    store.set_inline_writer(registry.inline_writer())
    return store


@dataclass
class Services:
    """What request handlers use: commands go to `bus`, queries read `reads`."""

    settings: Settings
    bus: CommandBus
    reads: ReadDatabase

    async def close(self) -> None:
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


async def open_services(settings: Settings) -> Services:
    """Everything with a lifetime; the blocking parts are opened off the event loop."""
    store = await asyncio.get_running_loop().run_in_executor(None, open_store, settings)
    bus = CommandBus(store, settings.store_threads)
    reads = await open_read_database(settings)
    log.info("event store ready on %s", settings.backend)
    return Services(settings, bus, reads)
