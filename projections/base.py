"""What a projection is: tables, a pure apply() per event, and a digest of what it built."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

Event = DomainEventProtocol[UUID]
TRACKING_TABLE = "projection_tracking"


class Sql(Protocol):
    """A write transaction: run a statement with `%s` placeholders. `dialect` ("postgres" or
    "sqlite") lets a statement take a form only one database has."""

    dialect: str

    def execute(self, statement: str, params: Sequence[object] = ()) -> None: ...


class Projection(ABC):
    """One read model. `prefix` names a second copy of its tables (used by rebuilds)."""

    name: str
    #: table name -> (DDL with {table}, ORDER BY for the digest)
    tables: dict[str, tuple[str, str]]

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    @property
    def tracking_name(self) -> str:
        """The row of the tracking table that says how far this copy has got."""
        return self.prefix + self.name

    def table(self, name: str) -> str:
        """The real name of one of this projection's tables."""
        return self.prefix + name

    def schema(self) -> list[str]:
        """DDL creating this projection's tables and its tracking row (idempotent)."""
        statements = [ddl.format(table=self.table(name)) for name, (ddl, _) in self.tables.items()]
        statements.append(
            f"INSERT INTO {TRACKING_TABLE} (name, position) VALUES ('{self.tracking_name}', 0)"
            " ON CONFLICT (name) DO NOTHING"
        )
        return statements

    def drop(self) -> list[str]:
        """DDL removing this copy's tables and its tracking row."""
        statements = [f"DROP TABLE IF EXISTS {self.table(name)}" for name in self.tables]
        statements.append(f"DELETE FROM {TRACKING_TABLE} WHERE name = '{self.tracking_name}'")
        return statements

    def digest_queries(self) -> list[str]:
        """Queries whose rows, in order, are everything this projection built."""
        return [
            f"SELECT * FROM {self.table(name)} ORDER BY {order}"
            for name, (_, order) in self.tables.items()
        ]

    @abstractmethod
    def apply(self, sql: Sql, position: int, event: Event) -> None:
        """Write what `event` at `position` changes. Never raises for an unrelated event."""

    def apply_batch(self, sql: Sql, recorded: Sequence[tuple[int, Event]]) -> None:
        """Write what `recorded` (in log order) changes: the same rows as `apply` of each in
        turn. A projection whose rows a batch can write in fewer statements says how."""
        for position, event in recorded:
            self.apply(sql, position, event)


#: rows per multi-row INSERT on SQLite: under its 32,766 parameters
ROWS_PER_STATEMENT = 1_000


def insert_rows(
    sql: Sql,
    into: str,
    types: Sequence[str],
    rows: Sequence[Sequence[object]],
    tail: str = "",
) -> None:
    """`INSERT INTO {into} … {tail}` of `rows`, whose columns have the PostgreSQL `types`.

    On PostgreSQL one statement of one array per column (`unnest`): its text never changes,
    so psycopg parses it once and the server prepares it once, where a `VALUES` list of as many
    placeholders as values is new text for every batch size (psycopg parses statements of over
    50 parameters anew on every call). On SQLite `VALUES` lists of at most ROWS_PER_STATEMENT
    rows.
    """
    if sql.dialect == "postgres":
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        sql.execute(
            f"INSERT INTO {into} SELECT * FROM unnest({arrays}) {tail}".rstrip(),
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    row = "(" + ", ".join(["%s"] * len(types)) + ")"
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        sql.execute(
            f"INSERT INTO {into} VALUES {', '.join([row] * len(chunk))} {tail}".rstrip(),
            [value for values in chunk for value in values],
        )


def tracking_schema() -> str:
    """The one table that holds every projection's position."""
    return (
        f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} "
        "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
    )


def advance_tracking(sql: Sql, projections: Sequence[Projection], position: int) -> None:
    """Record that `projections` have applied everything up to `position` (one statement:
    it runs in every write transaction)."""
    names = [projection.tracking_name for projection in projections]
    sql.execute(
        f"UPDATE {TRACKING_TABLE} SET position = %s"
        f" WHERE name IN ({', '.join(['%s'] * len(names))})",
        (position, *names),
    )


def rows_digest(rows: Sequence[Sequence[Any]]) -> str:
    """SHA-256 over canonical JSON of rows: equal rows give equal digests on any backend
    (numbers, text, booleans and nulls as JSON; anything else, such as a Decimal, as its
    text)."""
    digest = hashlib.sha256()
    encode = json.JSONEncoder(default=str).encode
    for row in rows:
        digest.update(encode(row).encode())
        digest.update(b"\n")
    return digest.hexdigest()


class InlineProjections:
    """Projections written by the recorder in the events' own transaction."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.projections = list(projections)

    def write(self, sql: Sql, recorded: Sequence[tuple[int, Event]]) -> None:
        # Projection by projection: each writes only its own tables, so the order between
        # them does not matter, and each can write the whole batch in a few statements.
        for projection in self.projections:
            projection.apply_batch(sql, recorded)
        advance_tracking(sql, self.projections, recorded[-1][0])
