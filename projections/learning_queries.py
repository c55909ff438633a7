"""Queries over learning progress: the chosen path and each module's status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.learning import progress_id
from projections.db import ReadDatabase
from projections.learning import parse_steps


@dataclass(frozen=True)
class ModuleProgress:
    module_number: int
    status: str
    completed_steps: list[int]
    completed_at: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "module_number": self.module_number,
            "status": self.status,
            "completed_steps": self.completed_steps,
            "completed_at": self.completed_at,
        }


async def chosen_path(db: ReadDatabase, user_id: UUID) -> str | None:
    row = await db.fetch_one(
        "SELECT path FROM learning_progress WHERE id = %s", (str(progress_id(user_id)),)
    )
    return str(row["path"]) if row else None


async def modules(db: ReadDatabase, user_id: UUID) -> dict[int, ModuleProgress]:
    """The modules the user touched, by number (untouched ones are not started)."""
    rows = await db.fetch_all(
        "SELECT * FROM learning_modules WHERE progress_id = %s ORDER BY module_number",
        (str(progress_id(user_id)),),
    )
    return {
        int(row["module_number"]): ModuleProgress(
            int(row["module_number"]),
            row["status"],
            parse_steps(row["completed_steps"]),
            row["completed_at"],
        )
        for row in rows
    }


async def module(db: ReadDatabase, user_id: UUID, number: int) -> ModuleProgress:
    found = (await modules(db, user_id)).get(number)
    return found or ModuleProgress(number, "not_started", [], None)
