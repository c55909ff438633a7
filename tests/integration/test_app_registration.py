"""An app keeps the token endpoint auth method it was registered with, in its events and read
model, and apps registered before the method was kept replay as the method they imply."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from commands import oauth
from commands.audit_db import AuditDb
from commands.bus import CommandBus
from commands.store import BuddoStore, get_as
from ledger.oauth import AUTH_METHODS, OAuthApp
from projections import registry
from projections.audit_replay import replay_and_compare
from projections.runner import rebuild
from tests.integration.grant_helpers import REDIRECT_URI, register_user

# The SQL here is built from our own table names only (it plays an older release).
# ruff: noqa: S608


def register(bus: CommandBus, method: str) -> UUID:
    details = {"app_name": f"A {method} app", "redirect_uris": [REDIRECT_URI]}
    done: oauth.AppRegistered = bus.handle(
        oauth.RegisterApp(register_user(bus), details, [], auth_method=method)
    )
    return done.app_id


def read_model_method(store: BuddoStore, app_id: UUID) -> Any:
    (rows,) = store.snapshot_query(
        [f"SELECT method FROM oauth_app_auth_methods WHERE id = '{app_id}'"]
    )
    return rows[0][0] if rows else None


def assert_rebuilds_match(store: BuddoStore) -> None:
    assert all(report.matches for report in rebuild(store, registry.INLINE))
    assert all(report.matches for report in replay_and_compare(store))


def as_an_older_release_wrote_it(store: BuddoStore, app_id: UUID) -> None:
    """Drop the method from the app's Registered event and its row from the read model."""
    db = AuditDb(store)
    table, _ = db.events
    with db.write() as w:
        row = w.one(
            f"SELECT state FROM {table} WHERE originator_id = %s AND originator_version = 1",
            (app_id if db.backend == "postgres" else app_id.hex,),
        )
        assert row is not None
        state = json.loads(bytes(row[0]))
        del state["token_endpoint_auth_method"]
        w.run(
            f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = 1",
            (
                json.dumps(state, separators=(",", ":")).encode(),
                app_id if db.backend == "postgres" else app_id.hex,
            ),
        )
        w.run("DELETE FROM oauth_app_auth_methods WHERE id = %s", (str(app_id),))


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_the_registered_method_is_kept_and_rebuilds_alike(
    bus: CommandBus, store: BuddoStore, method: str
) -> None:
    app_id = register(bus, method)

    assert get_as(store, app_id, OAuthApp).auth_method == method
    assert read_model_method(store, app_id) == method
    assert_rebuilds_match(store)


def test_apps_registered_before_the_method_was_kept_replay_as_the_method_they_imply(
    bus: CommandBus, store: BuddoStore
) -> None:
    public, confidential = register(bus, "none"), register(bus, "client_secret_post")
    for app_id in (public, confidential):
        as_an_older_release_wrote_it(store, app_id)

    assert get_as(store, public, OAuthApp).auth_method == "none"
    assert get_as(store, confidential, OAuthApp).auth_method == "client_secret_basic"
    assert read_model_method(store, public) is None
    assert_rebuilds_match(store)
