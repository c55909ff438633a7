"""AppsView: OAuth apps, their scope requests and users' connections to them, written inline."""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.domain import AggregateEvent

from ledger.grants import Connection, Grant
from ledger.oauth import OAuthApp, ScopeRequest
from ledger.times import iso_z
from projections.base import Event, Projection, Sql

APP_FLAGS: dict[type[AggregateEvent], tuple[str, int]] = {
    OAuthApp.Suspended: ("suspended", 1),
    OAuthApp.Unsuspended: ("suspended", 0),
    OAuthApp.Deleted: ("deleted", 1),
}
DETAIL_COLUMNS = ("app_name", "app_description", "logo_url", "website_url")


def as_json(value: Any) -> str:
    """Canonical JSON, so a rebuild writes byte-for-byte the same rows."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _details(details: dict[str, Any]) -> list[object]:
    return [
        *(details.get(column) for column in DETAIL_COLUMNS),
        as_json(details.get("redirect_uris", [])),
        int(bool(details.get("listed", False))),
    ]


class OAuthProjection(Projection):
    """One row per app, per scope request and per (user, app) connection."""

    name = "oauth"
    tables = {  # noqa: RUF012 - a class-level constant table
        "oauth_apps": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, client_id TEXT NOT NULL,"
            " owner_id TEXT NOT NULL, app_name TEXT, app_description TEXT, logo_url TEXT,"
            " website_url TEXT, redirect_uris TEXT NOT NULL, listed INTEGER NOT NULL,"
            " allowed_scopes TEXT NOT NULL, public INTEGER NOT NULL, suspended INTEGER NOT NULL,"
            " deleted INTEGER NOT NULL, inserted_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "id",
        ),
        # A table of its own, so that stores made before it was kept need no migration; a row
        # only for registrations that recorded their method (older ones imply it by `public`).
        "oauth_app_auth_methods": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, method TEXT NOT NULL)",
            "id",
        ),
        "scope_requests": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, app_id TEXT NOT NULL,"
            " scopes TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, note TEXT,"
            " decided_by TEXT, decided_at TEXT, inserted_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            "id",
        ),
        "connections": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
            " app_id TEXT NOT NULL, scopes TEXT NOT NULL, connected INTEGER NOT NULL,"
            " connected_at TEXT NOT NULL, last_used_at TEXT)",
            "id",
        ),
    }

    def schema(self) -> list[str]:
        return [
            *super().schema(),
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.table('oauth_apps_by_client')}"
            f" ON {self.table('oauth_apps')} (client_id)",
            f"CREATE INDEX IF NOT EXISTS {self.table('oauth_apps_by_owner')}"
            f" ON {self.table('oauth_apps')} (owner_id)",
            f"CREATE INDEX IF NOT EXISTS {self.table('scope_requests_by_app')}"
            f" ON {self.table('scope_requests')} (app_id)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.table('connections_by_user')}"
            f" ON {self.table('connections')} (user_id, app_id)",
        ]

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        if not isinstance(event, AggregateEvent):
            return
        if isinstance(event, OAuthApp.Registered | OAuthApp.Updated | OAuthApp.ScopesGranted):
            self.apply_app(sql, event)
        elif type(event) in APP_FLAGS:
            column, value = APP_FLAGS[type(event)]
            self.update_app(sql, event, [column], [value])
        elif isinstance(event, ScopeRequest.Requested):
            sql.execute(
                f"INSERT INTO {self.table('scope_requests')} (id, app_id, scopes, status, reason,"
                " inserted_at, position) VALUES (%s, %s, %s, 'pending', %s, %s, %s)",
                (
                    str(event.originator_id),
                    str(event.app_id),
                    as_json(event.scopes),
                    event.reason,
                    iso_z(event.timestamp),
                    position,
                ),
            )
        elif isinstance(event, ScopeRequest.Approved | ScopeRequest.Denied):
            status = "approved" if isinstance(event, ScopeRequest.Approved) else "denied"
            sql.execute(
                f"UPDATE {self.table('scope_requests')} SET status = %s, note = %s,"
                " decided_by = %s, decided_at = %s WHERE id = %s",
                (
                    status,
                    event.note,
                    str(event.by),
                    iso_z(event.timestamp),
                    str(event.originator_id),
                ),
            )
        else:
            self.apply_connection(sql, event)

    def apply_app(
        self, sql: Sql, event: OAuthApp.Registered | OAuthApp.Updated | OAuthApp.ScopesGranted
    ) -> None:
        if isinstance(event, OAuthApp.Registered):
            when = iso_z(event.timestamp)
            sql.execute(
                f"INSERT INTO {self.table('oauth_apps')} (id, client_id, owner_id, app_name,"
                " app_description, logo_url, website_url, redirect_uris, listed, allowed_scopes,"
                " public, suspended, deleted, inserted_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, %s, %s)",
                (
                    str(event.originator_id),
                    event.client_id,
                    str(event.owner_id),
                    *_details(event.details),
                    as_json(sorted(event.allowed_scopes)),
                    int(event.secret_digest is None),
                    when,
                    when,
                ),
            )
            if event.token_endpoint_auth_method is not None:
                sql.execute(
                    f"INSERT INTO {self.table('oauth_app_auth_methods')} (id, method)"
                    " VALUES (%s, %s)",
                    (str(event.originator_id), event.token_endpoint_auth_method),
                )
        elif isinstance(event, OAuthApp.Updated):
            self.update_app(sql, event, *_changes(event.changes))
        else:
            self.update_app(sql, event, ["allowed_scopes"], [as_json(event.allowed_scopes)])

    def update_app(
        self, sql: Sql, event: AggregateEvent, columns: list[str], values: list[object]
    ) -> None:
        assignments = "".join(f"{column} = %s, " for column in columns)
        sql.execute(
            f"UPDATE {self.table('oauth_apps')} SET {assignments}updated_at = %s WHERE id = %s",
            (*values, iso_z(event.timestamp), str(event.originator_id)),
        )

    def apply_connection(self, sql: Sql, event: Event) -> None:
        table = self.table("connections")
        if isinstance(event, Connection.Connected):
            sql.execute(
                f"INSERT INTO {table} (id, user_id, app_id, scopes, connected, connected_at)"
                " VALUES (%s, %s, %s, %s, 1, %s)",
                (
                    str(event.originator_id),
                    str(event.user_id),
                    str(event.app_id),
                    as_json(event.scopes),
                    iso_z(event.timestamp),
                ),
            )
        elif isinstance(event, Connection.Reauthorized):
            sql.execute(
                f"UPDATE {table} SET scopes = %s, connected = 1, connected_at ="
                " CASE WHEN connected = 1 THEN connected_at ELSE %s END WHERE id = %s",
                (as_json(event.scopes), iso_z(event.timestamp), str(event.originator_id)),
            )
        elif isinstance(event, Connection.Disconnected):
            sql.execute(
                f"UPDATE {table} SET connected = 0 WHERE id = %s", (str(event.originator_id),)
            )
        elif isinstance(event, Grant.CodeRedeemed | Grant.Rotated):
            sql.execute(
                f"UPDATE {table} SET last_used_at = %s WHERE user_id = %s AND app_id = %s",
                (iso_z(event.timestamp), str(event.user_id), str(event.app_id)),
            )


def _changes(changes: dict[str, Any]) -> tuple[list[str], list[object]]:
    """The columns an app update sets, and their values."""
    columns = [column for column in DETAIL_COLUMNS if column in changes]
    values: list[object] = [changes[column] for column in columns]
    if "redirect_uris" in changes:
        columns.append("redirect_uris")
        values.append(as_json(changes["redirect_uris"]))
    if "listed" in changes:
        columns.append("listed")
        values.append(int(bool(changes["listed"])))
    return columns, values
