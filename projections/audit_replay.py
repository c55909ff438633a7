"""Replay the whole log into private copies of the read models, without writing to the store.

`runner.rebuild` builds its copies in the database it reads from. An auditor's replay must need
only read access, so `ScratchLog` gives it the live log and live tables to read, and a private
SQLite file for the copies (every projection's SQL runs on both backends, and their columns are
TEXT and integers only, so digests compare across them).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from projections import registry
from projections.base import Event, Sql, tracking_schema
from projections.runner import Progress, RebuildReport, SnapshotLog, rebuild

COPY_PREFIX = "rebuild_"


class _ScratchSql:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, statement: str, params: Sequence[object] = ()) -> None:
        self._conn.execute(statement.replace("%s", "?"), tuple(params))


class ScratchLog:
    """The live log and tables for reading; a private SQLite file for the rebuilt copies."""

    def __init__(self, live: SnapshotLog, path: Path) -> None:
        self.live = live
        self.conn = sqlite3.connect(path, isolation_level=None)
        # A throwaway file: durability would only slow the replay down.
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute(tracking_schema())

    def read_events(self, after: int, limit: int) -> list[tuple[int, Event]]:
        return self.live.read_events(after, limit)

    def max_position(self) -> int:
        return self.live.max_position()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Sql]:
        self.conn.execute("BEGIN")
        try:
            yield _ScratchSql(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def snapshot_query(self, statements: Sequence[str]) -> list[list[tuple[object, ...]]]:
        """Queries of the copies run here; the rest in one snapshot of the live store."""
        mine = [COPY_PREFIX in s for s in statements]
        live = iter(
            self.live.snapshot_query([s for s, m in zip(statements, mine, strict=True) if not m])
        )
        return [
            self.conn.execute(s).fetchall() if m else next(live)
            for s, m in zip(statements, mine, strict=True)
        ]

    def close(self) -> None:
        self.conn.close()


def replay_and_compare(live: SnapshotLog, progress: Progress | None = None) -> list[RebuildReport]:
    """Every live read model rebuilt from position 0 in private copies, compared by digest."""
    with tempfile.TemporaryDirectory(prefix="buddo-replay-") as directory:
        scratch = ScratchLog(live, Path(directory) / "replay.sqlite")
        try:
            return rebuild(scratch, registry.INLINE, progress)
        finally:
            scratch.close()
