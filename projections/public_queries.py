"""Queries for the public directory (spec 7): the operators of listed apps."""

from __future__ import annotations

from typing import Any

from projections.db import ReadDatabase, in_list
from projections.queries import keyset, page_of

# An app the directory shows: listed, neither deleted nor suspended.
SHOWN = "a.listed = 1 AND a.deleted = 0 AND a.suspended = 0"
APP_FIELDS = ("client_id", "app_name", "logo_url", "website_url")


async def operators(
    db: ReadDatabase, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of `{username, apps: [{client_id, app_name, logo_url, website_url}]}`, one for
    each owner, not suspended, of a shown app, by username in any case; and the cursor of the
    next page: the last owner's (username_key, id), as a username can change."""
    after, params = keyset("u.username_key, u.id", cursor, (str, str))
    owners = await db.fetch_all(
        "SELECT u.id, u.username, u.username_key FROM users u WHERE u.suspended = 0"
        f" AND EXISTS (SELECT 1 FROM oauth_apps a WHERE a.owner_id = u.id AND {SHOWN}){after}"
        " ORDER BY u.username_key, u.id LIMIT %s",
        (*params, limit + 1),
    )
    page, next_cursor = page_of(owners, limit, lambda row: (row["username_key"], row["id"]))
    if not page:
        return [], None
    marks, ids = in_list([row["id"] for row in page])
    apps = await db.fetch_all(
        f"SELECT a.owner_id, {', '.join(f'a.{name}' for name in APP_FIELDS)} FROM oauth_apps a"
        f" WHERE a.owner_id IN ({marks}) AND {SHOWN} ORDER BY a.inserted_at, a.id",
        ids,
    )
    grouped: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in page}
    for app in apps:
        grouped[app["owner_id"]].append({name: app[name] for name in APP_FIELDS})
    shown = [{"username": row["username"], "apps": grouped[row["id"]]} for row in page]
    return shown, next_cursor
