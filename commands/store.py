"""The event store: one eventsourcing Application whose recorder also writes inline read models.

Every `save()` appends its events and, in the same database transaction, hands them with their
positions to the inline writer (the composition root plugs the projections in). A conflicting
save therefore leaves both the events and the read models untouched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from uuid import UUID

import psycopg
import psycopg.conninfo
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Recording, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import Environment, EnvType
from psycopg.rows import tuple_row

from commands import audit_chain
from commands.audit_chain import ChainWriter, RawEvent

log = logging.getLogger(__name__)

# A session-level advisory lock key ("buddo" in ASCII): one process at a time creates tables.
SCHEMA_LOCK_KEY = 0x6275646430

Recorded = Sequence[tuple[int, DomainEventProtocol[UUID]]]


class SqlExecutor(Protocol):
    """What a projection may do with the write transaction: run a statement (`%s` params)."""

    dialect: str

    def execute(self, statement: str, params: Sequence[object] = ()) -> None: ...


class InlineWriter(Protocol):
    """Read models written in the same transaction as the events they follow."""

    def write(self, sql: SqlExecutor, recorded: Recorded) -> None: ...


class _SQLiteSql:
    dialect = "sqlite"

    def __init__(self, cursor: SQLiteCursor) -> None:
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[object] = ()) -> None:
        self._cursor.execute(statement.replace("%s", "?"), tuple(params))


class _PostgresSql:
    dialect = "postgres"

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[object] = ()) -> None:
        self._cursor.execute(statement, tuple(params))


def _raw_events(ids: Sequence[int], stored: Sequence[StoredEvent]) -> list[RawEvent]:
    return [
        (i, e.originator_id, e.originator_version, e.topic, e.state)
        for i, e in zip(ids, stored, strict=True)
    ]


class SQLiteInlineRecorder(SQLiteApplicationRecorder):
    """SQLite recorder that writes the inline read models inside the insert transaction."""

    inline: InlineWriter | None = None

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            ChainWriter(c, "?").append(_raw_events(ids, stored_events))
        if self.inline is not None and ids:
            self.inline.write(_SQLiteSql(c), list(zip(ids, kwargs["buddo_events"], strict=True)))
        return ids


class PostgresInlineRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder that writes the inline read models after the events, under the
    table lock (so read-model positions follow commit order and row locks cannot deadlock)."""

    inline: InlineWriter | None = None

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            ChainWriter(curs, "%s").append(_raw_events(ids, stored_events))
        if self.inline is not None and ids:
            recorded = list(zip(ids, kwargs["buddo_events"], strict=True))
            self.inline.write(_PostgresSql(curs), recorded)
        return ids


@dataclass(frozen=True)
class StoreConfig:
    """Where the event store lives and how hard it may try."""

    backend: str  # "sqlite" or "postgres"
    sqlite_path: str = ""
    postgres: dict[str, str] = field(default_factory=dict)  # libpq keywords
    pool_size: int = 8
    timeout_seconds: float = 5.0
    aggregate_cache_size: int = 10_000

    def library_env(self) -> dict[str, str]:
        """The eventsourcing settings this configuration stands for."""
        env = {
            "CREATE_TABLE": "n",  # tables are made once, under a lock, by create_schema()
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
        }
        if self.backend == "sqlite":
            return env | {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": str(max(1, round(self.timeout_seconds))),
                "APPLICATION_RECORDER_TOPIC": "commands.store:SQLiteInlineRecorder",
            }
        pg = self.postgres
        return env | {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": pg.get("dbname", ""),
            "POSTGRES_HOST": pg.get("host", "127.0.0.1"),
            "POSTGRES_PORT": pg.get("port", "5432"),
            "POSTGRES_USER": pg.get("user", "postgres"),
            "POSTGRES_PASSWORD": pg.get("password", ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": "2",
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(self.timeout_seconds))),
            "POSTGRES_LOCK_TIMEOUT": str(max(1, round(self.timeout_seconds))),
            # No ping per checkout: it cost a round trip per aggregate load (13% of the group
            # committer's time); the library retries a dead connection's OperationalError itself.
            "POSTGRES_PRE_PING": "n",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",  # it lets tailing readers miss events
            "APPLICATION_RECORDER_TOPIC": "commands.store:PostgresInlineRecorder",
        }


A = TypeVar("A")


def begin_snapshot(cursor: Any, backend: str) -> None:
    """Make the transaction just begun on `cursor` one read-only snapshot. On PostgreSQL it is
    also exempt from the 5 s idle-in-transaction limit the library puts on every connection:
    that limit guards the writers' table lock, and a reader holds none, but between two queries
    it may spend longer digesting millions of rows (a replay of 1,000,000 events did). SQLite's
    transaction sees one snapshot from its first read."""
    if backend == "postgres":
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SET LOCAL idle_in_transaction_session_timeout = 0")


def get_as(store: Application[UUID], aggregate_id: UUID, cls: type[A]) -> A:
    """Load an aggregate known to be of `cls` (AggregateNotFoundError if there is none)."""
    aggregate: object = store.repository.get(aggregate_id)
    if not isinstance(aggregate, cls):
        raise TypeError(f"{aggregate_id} is a {type(aggregate).__name__}, not {cls.__name__}")
    return aggregate


def _as_tuple(row: Any) -> tuple[Any, ...]:
    # psycopg rows come as dicts (the library's row factory), sqlite3 rows as sequences.
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


class BuddoStore(Application[UUID]):
    """The one event store of the service; every aggregate lives in its single sequence."""

    name = "buddo"

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        super().__init__(config.library_env())

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only our settings configure the store: the process environment must not leak in.
        return Environment(name, dict(env or {}))

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        processing_event.saved_kwargs["buddo_events"] = tuple(processing_event.events)
        return super()._record(processing_event)

    def set_inline_writer(self, writer: InlineWriter) -> None:
        """Plug in the read models that are written in the events' own transaction."""
        recorder = self.recorder
        if not isinstance(recorder, SQLiteInlineRecorder | PostgresInlineRecorder):
            raise TypeError(f"{type(recorder).__name__} cannot write inline read models")
        recorder.inline = writer

    def record(self, *objs: Any) -> int:
        """Save `objs` in one transaction; the position of the last event (or the head when
        there was nothing new to save)."""
        recordings = self.save(*objs)
        return recordings[-1].notification.id if recordings else self.max_position()

    def max_position(self) -> int:
        """The position of the newest stored event (0 for an empty store)."""
        return self.recorder.max_notification_id() or 0

    def read_events(self, after: int, limit: int) -> list[tuple[int, DomainEventProtocol[UUID]]]:
        """Up to `limit` events after position `after`, decoded, in log order."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def aggregate_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The version of the newest stored event of each of `ids` that has any: one query,
        an index probe per id however long the aggregate's history."""
        if not ids:
            return {}
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        if self.config.backend == "postgres":
            # One statement, prepared, on an autocommit connection: one round trip.
            with datastore.get_connection() as conn, conn.cursor() as cursor:
                cursor.execute(
                    "SELECT ids.id, (SELECT e.originator_version FROM buddo_events e"
                    " WHERE e.originator_id = ids.id"
                    " ORDER BY e.originator_version DESC LIMIT 1) AS version"
                    " FROM unnest(%s::uuid[]) AS ids(id)",
                    (list(ids),),
                    prepare=True,
                )
                rows = [_as_tuple(row) for row in cursor.fetchall()]
        else:
            marks = ", ".join(["(?)"] * len(ids))  # only placeholders are interpolated
            with datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"WITH ids(id) AS (VALUES {marks})"  # noqa: S608
                    " SELECT ids.id, (SELECT e.originator_version FROM stored_events e"
                    " WHERE e.originator_id = ids.id"
                    " ORDER BY e.originator_version DESC LIMIT 1) FROM ids",
                    [aggregate.hex for aggregate in ids],
                )
                rows = [_as_tuple(row) for row in cursor.fetchall()]
        return {
            identifier if isinstance(identifier, UUID) else UUID(identifier): int(version)
            for identifier, version in rows
            if version is not None
        }

    def create_schema(self, statements: Sequence[str]) -> None:
        """Create the event tables and then `statements` (read models), once, under a lock."""
        with self._schema_lock():
            recorder: Any = self.recorder  # both our recorders have create_table()
            recorder.create_table()
            with self.transaction() as sql:
                for statement in (*audit_chain.schema(self.config.backend), *statements):
                    sql.execute(statement)
            self._backfill_chain()

    def _backfill_chain(self) -> None:
        """Chain events stored before the chain existed, under the writers' own lock."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=True) as cursor:
            if self.config.backend == "postgres":
                cursor.execute("LOCK TABLE buddo_events IN EXCLUSIVE MODE")
            chained = audit_chain.backfill(cursor, self.config.backend)
        if chained:
            log.info("chained %d events stored before the audit chain existed", chained)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqlExecutor]:
        """A write transaction on the store's database, outside the event log (read models)."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=True) as cursor:
            if self.config.backend == "sqlite":
                yield _SQLiteSql(cursor)
            else:
                # Pipelined: the statements go out without waiting on each other's answers
                # (a rebuild writes thousands per transaction); an error surfaces at the end.
                with cursor.connection.pipeline():
                    yield _PostgresSql(cursor)

    def snapshot_query(self, statements: Sequence[str]) -> list[list[tuple[Any, ...]]]:
        """Run read-only `statements` in one transaction that sees one consistent snapshot."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        results = []
        postgres = self.config.backend == "postgres"
        with datastore.transaction(commit=False) as cursor:
            begin_snapshot(cursor, self.config.backend)
            # Plain tuples, in binary from PostgreSQL: rebuilds digest every row of every
            # read model through here.
            inner = cursor if postgres else cursor.sqlite_cursor
            inner.row_factory = tuple_row if postgres else None
            for statement in statements:
                if postgres:
                    inner.execute(statement, binary=True)
                else:
                    inner.execute(statement)
                results.append(inner.fetchall())
        return results

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        if self.config.backend != "postgres":
            yield  # the embedded default has one process
            return
        conninfo = psycopg.conninfo.make_conninfo(**self.config.postgres)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
