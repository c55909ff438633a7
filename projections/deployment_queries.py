"""Queries over deployments: an app's list, one deployment, its log lines."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from projections.db import ReadDatabase, Row
from projections.queries import decode_cursor, encode_cursor, keyset, page_of

FIELDS = (
    "id",
    "app_id",
    "deploy_tier_id",
    "tier",
    "subdomain",
    "custom_domain",
    "container_image",
    "container_name",
    "port",
    "cpu_limit_millicores",
    "memory_limit_mb",
    "status",
    "health_status",
    "last_health_check",
    "host_server",
    "billing_status",
    "deployed_at",
    "stopped_at",
    "inserted_at",
    "updated_at",
)


def _deployment(row: Row) -> dict[str, Any]:
    shown = {name: row[name] for name in FIELDS}
    shown["env_var_names"] = json.loads(row["env_var_names"])
    return shown


async def deployments(
    db: ReadDatabase, app_id: UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the app's deployments, destroyed ones too, newest first, and the cursor of
    the next page (None at the end). A deployment's position is that of its creation."""
    before = decode_cursor(cursor) if cursor else None
    rows = await db.fetch_all(
        "SELECT * FROM deployments WHERE app_id = %s AND position < %s"
        " ORDER BY position DESC LIMIT %s",
        (str(app_id), 2**62 if before is None else before, limit + 1),
    )
    page = rows[:limit]
    more = len(rows) > limit
    return [_deployment(row) for row in page], encode_cursor(page[-1]["position"]) if more else None


async def deployment(db: ReadDatabase, app_id: UUID, deployment_id: UUID) -> dict[str, Any]:
    """One of the app's deployments; another app's is not found."""
    row = await db.fetch_one(
        "SELECT * FROM deployments WHERE id = %s AND app_id = %s",
        (str(deployment_id), str(app_id)),
    )
    if row is None:
        raise NotFoundError("No such deployment.")
    return _deployment(row)


def as_created(deployment: dict[str, Any]) -> dict[str, Any]:
    """`deployment` as the create answered it: nothing has moved yet (an idempotent replay
    answers the first response unchanged, spec section 1)."""
    return deployment | {
        "status": "pending",
        "health_status": "unknown",
        "last_health_check": None,
        "deployed_at": None,
        "stopped_at": None,
        "updated_at": deployment["inserted_at"],
    }


async def logs(
    db: ReadDatabase, deployment_id: UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of `{at, stream, line}` in the order they were written, keyed by the position of
    the move that wrote them and the line's number in it, and the cursor of the next page."""
    after, params = keyset("position, line_number", cursor, (int, int))
    rows = await db.fetch_all(
        "SELECT at, stream, line, position, line_number FROM deployment_logs"
        f" WHERE deployment_id = %s{after} ORDER BY position, line_number LIMIT %s",
        (str(deployment_id), *params, limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (row["position"], row["line_number"]))
    return [{name: row[name] for name in ("at", "stream", "line")} for row in page], next_cursor


async def coming_up(db: ReadDatabase) -> list[tuple[UUID, UUID, str]]:
    """`(app_id, deployment_id, status)` of every deployment still pending or provisioning,
    oldest first."""
    rows = await db.fetch_all(
        "SELECT app_id, id, status FROM deployments"
        " WHERE status IN ('pending', 'provisioning') ORDER BY position"
    )
    return [(UUID(row["app_id"]), UUID(row["id"]), row["status"]) for row in rows]
