"""Catching read models up with the log in batches: rebuilds, and status of every projection."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from projections.base import Event, Projection, Sql, advance_tracking, rows_digest

BATCH_SIZE = 1_000


class EventLog(Protocol):
    """The parts of the event store a runner needs."""

    def read_events(self, after: int, limit: int) -> list[tuple[int, Event]]: ...

    def max_position(self) -> int: ...

    def transaction(self) -> contextlib.AbstractContextManager[Sql]: ...


Progress = Callable[[int], None]


def catch_up(
    log: EventLog,
    projections: Sequence[Projection],
    start: int,
    stop: int,
    progress: Progress | None = None,
) -> int:
    """Apply events (start, stop] to `projections`, one transaction per batch with tracking."""
    position = start
    while position < stop:
        batch = [item for item in log.read_events(position, BATCH_SIZE) if item[0] <= stop]
        if not batch:
            break
        with log.transaction() as sql:
            for projection in projections:  # each writes only its own tables
                projection.apply_batch(sql, batch)
            advance_tracking(sql, projections, batch[-1][0])
        if progress is not None:
            progress(batch[-1][0] - position)
        position = batch[-1][0]
    return position


@dataclass(frozen=True)
class ProjectionStatus:
    """How far one read model has got."""

    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


@dataclass(frozen=True)
class RebuildReport:
    """A rebuilt copy compared with the live tables."""

    name: str
    position: int
    live_digest: str
    rebuilt_digest: str

    @property
    def matches(self) -> bool:
        return self.live_digest == self.rebuilt_digest


@contextlib.contextmanager
def fresh_copies(
    log: EventLog, factories: Sequence[Callable[[str], Projection]], prefix: str
) -> Iterator[list[Projection]]:
    """Empty copies of the projections' tables under `prefix`, dropped afterwards."""
    copies = [factory(prefix) for factory in factories]
    _run(log, [s for c in copies for s in (*c.drop(), *c.schema())])
    try:
        yield copies
    finally:
        _run(log, [s for c in copies for s in c.drop()])


def _run(log: EventLog, statements: Sequence[str]) -> None:
    with log.transaction() as sql:
        for statement in statements:
            sql.execute(statement)


class SnapshotLog(EventLog, Protocol):
    """An event log that can also answer read queries from one consistent snapshot."""

    def snapshot_query(self, statements: Sequence[str]) -> list[list[tuple[object, ...]]]: ...


TRACKING_QUERY = "SELECT name, position FROM projection_tracking ORDER BY name"
MAX_REBUILD_ROUNDS = 20


def status(log: SnapshotLog, projections: Sequence[Projection]) -> list[ProjectionStatus]:
    """Each projection's position and the head of the log."""
    head = log.max_position()
    (rows,) = log.snapshot_query([TRACKING_QUERY])
    positions = {str(name): int(str(position)) for name, position in rows}
    return [ProjectionStatus(p.name, positions.get(p.tracking_name, 0), head) for p in projections]


def rebuild(
    log: SnapshotLog,
    factories: Sequence[Callable[[str], Projection]],
    progress: Progress | None = None,
) -> list[RebuildReport]:
    """Replay the whole log into fresh tables and compare them with the live ones by digest."""
    live = [factory("") for factory in factories]
    with fresh_copies(log, factories, "rebuild_") as copies:
        position = 0
        for _ in range(MAX_REBUILD_ROUNDS):
            position = catch_up(log, copies, position, log.max_position(), progress)
            queries = [TRACKING_QUERY]
            for projection in (*live, *copies):
                queries.extend(projection.digest_queries())
            tracking, *tables = log.snapshot_query(queries)
            positions = {str(name): int(str(pos)) for name, pos in tracking}
            if all(positions.get(p.tracking_name) == position for p in live):
                return _reports(live, tables, position)
        raise RuntimeError("the log kept moving while rebuilding; try again when it is quieter")


def _reports(
    live: Sequence[Projection],
    tables: list[list[tuple[object, ...]]],
    position: int,
) -> list[RebuildReport]:
    per_live = [len(p.tables) for p in live]
    digests = []
    offset = 0
    for count in per_live + per_live:
        digests.append(rows_digest([row for t in tables[offset : offset + count] for row in t]))
        offset += count
    half = len(live)
    return [
        RebuildReport(p.name, position, digests[i], digests[half + i]) for i, p in enumerate(live)
    ]
