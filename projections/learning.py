"""LearningView: each user's chosen path and module progress, written inline."""

from __future__ import annotations

import json

from eventsourcing.domain import AggregateEvent

from ledger.learning import LearningProgress
from ledger.times import iso_z
from projections.base import Event, Projection, Sql


class LearningProjection(Projection):
    """One row per user (their path) and per (user, module) they touched."""

    name = "learning"
    tables = {  # noqa: RUF012 - a class-level constant table
        "learning_progress": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
            " path TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "id",
        ),
        "learning_modules": (
            "CREATE TABLE IF NOT EXISTS {table} (progress_id TEXT NOT NULL,"
            " module_number INTEGER NOT NULL, completed_steps TEXT NOT NULL,"
            " status TEXT NOT NULL, completed_at TEXT, updated_at TEXT NOT NULL,"
            " PRIMARY KEY (progress_id, module_number))",
            "progress_id, module_number",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:  # noqa: ARG002
        if not isinstance(event, AggregateEvent):
            return
        progress, when = str(event.originator_id), iso_z(event.timestamp)
        if isinstance(event, LearningProgress.Started):
            sql.execute(
                f"INSERT INTO {self.table('learning_progress')} VALUES (%s, %s, %s, %s)",
                (progress, str(event.user_id), event.path, when),
            )
        elif isinstance(event, LearningProgress.PathChosen):
            sql.execute(
                f"UPDATE {self.table('learning_progress')} SET path = %s, updated_at = %s"
                " WHERE id = %s",
                (event.path, when, progress),
            )
        elif isinstance(event, LearningProgress.StepCompleted):
            self.add_step(sql, progress, event.module_number, event.step, when)
        elif isinstance(event, LearningProgress.ModuleCompleted):
            self.update_module(sql, progress, event.module_number, "completed", iso_z(event.at))
        elif isinstance(event, LearningProgress.ModuleReset):
            sql.execute(
                f"UPDATE {self.table('learning_modules')} SET completed_steps = '[]',"
                " status = 'not_started', completed_at = NULL, updated_at = %s"
                " WHERE progress_id = %s AND module_number = %s",
                (iso_z(event.at), progress, event.module_number),
            )

    def add_step(self, sql: Sql, progress: str, module: int, step: int, when: str) -> None:
        table = self.table("learning_modules")
        sql.execute(
            f"INSERT INTO {table} VALUES (%s, %s, '[]', 'in_progress', NULL, %s)"
            " ON CONFLICT (progress_id, module_number) DO NOTHING",
            (progress, module, when),
        )
        # Append the step to the JSON list in SQL (a step is completed once per module run).
        sql.execute(
            f"UPDATE {table} SET completed_steps = CASE WHEN completed_steps = '[]'"
            " THEN '[' || %s || ']' ELSE substr(completed_steps, 1, length(completed_steps) - 1)"
            " || ',' || %s || ']' END, status = 'in_progress', updated_at = %s"
            " WHERE progress_id = %s AND module_number = %s",
            (str(step), str(step), when, progress, module),
        )

    def update_module(self, sql: Sql, progress: str, module: int, status: str, at: str) -> None:
        sql.execute(
            f"UPDATE {self.table('learning_modules')} SET status = %s, completed_at = %s,"
            " updated_at = %s WHERE progress_id = %s AND module_number = %s",
            (status, at, at, progress, module),
        )


def parse_steps(text: str) -> list[int]:
    """The completed steps column, sorted."""
    return sorted(int(step) for step in json.loads(text))
