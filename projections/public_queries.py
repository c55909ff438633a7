"""Queries for the public directory (spec 7): the operators of listed apps."""

from __future__ import annotations

from typing import Any

from projections.db import ReadDatabase


async def operators(db: ReadDatabase) -> list[dict[str, Any]]:
    """`{username, apps: [{client_id, app_name, logo_url, website_url}]}` for each owner of a
    listed app that is neither deleted nor suspended, whose owner is not suspended."""
    rows = await db.fetch_all(
        "SELECT u.username, a.client_id, a.app_name, a.logo_url, a.website_url"
        " FROM oauth_apps a JOIN users u ON u.id = a.owner_id"
        " WHERE a.listed = 1 AND a.deleted = 0 AND a.suspended = 0 AND u.suspended = 0"
        " ORDER BY u.username_key, a.inserted_at, a.id"
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        app = {name: row[name] for name in ("client_id", "app_name", "logo_url", "website_url")}
        grouped.setdefault(row["username"], []).append(app)
    return [{"username": name, "apps": apps} for name, apps in grouped.items()]
