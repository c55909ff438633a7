"""OAuth app commands: registration, updates, scope requests and decisions, secrets, deletion."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands import credentials
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.errors import NotFoundError, ValidationError
from ledger.oauth import (
    AUTH_METHODS,
    AUTO_SCOPES,
    DEFAULT_AUTH_METHOD,
    EDITABLE_FIELDS,
    PUBLIC_AUTH_METHOD,
    OAuthApp,
    ScopeRequest,
    app_id_for_client,
    check_redirect_uris,
    check_scopes,
)

CLIENT_ID_PREFIX = "bc_"
CLIENT_SECRET_PREFIX = "bcs_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class RegisterApp:
    owner_id: UUID
    details: dict[str, Any]
    requested_scopes: list[str]
    auth_method: str = DEFAULT_AUTH_METHOD


@dataclass(frozen=True)
class AppRegistered:
    app_id: UUID
    client_id: str
    client_secret: str | None
    scope_request_id: UUID | None


@dataclass(frozen=True)
class UpdateApp:
    owner_id: UUID
    app_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class RequestScopes:
    owner_id: UUID
    app_id: UUID
    scopes: list[str]
    reason: str


@dataclass(frozen=True)
class DecideScopeRequest:
    request_id: UUID
    admin_id: UUID
    approve: bool
    note: str


@dataclass(frozen=True)
class RotateSecret:
    owner_id: UUID
    app_id: UUID


@dataclass(frozen=True)
class DeleteApp:
    owner_id: UUID
    app_id: UUID


@dataclass(frozen=True)
class SetAppSuspended:
    app_id: UUID
    admin_id: UUID
    suspended: bool


def check_details(details: dict[str, Any]) -> dict[str, Any]:
    """Redirect URIs by the rules of spec 5.1; other fields are checked at the edge."""
    if "redirect_uris" in details and (problems := check_redirect_uris(details["redirect_uris"])):
        raise ValidationError({"redirect_uris": problems})
    return {key: value for key, value in details.items() if key in EDITABLE_FIELDS}


class AppHandlers:
    """One short handler per app command."""

    def __init__(self, store: BuddoStore) -> None:
        self.store = store

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            RegisterApp: self.register,
            UpdateApp: self.update,
            RequestScopes: self.request_scopes,
            DecideScopeRequest: self.decide,
            RotateSecret: self.rotate_secret,
            DeleteApp: self.delete,
            SetAppSuspended: self.set_suspended,
        }

    def app(self, app_id: UUID) -> OAuthApp:
        try:
            return get_as(self.store, app_id, OAuthApp)
        except (AggregateNotFoundError, TypeError):
            raise NotFoundError("No such app.") from None

    def owned_app(self, owner_id: UUID, app_id: UUID) -> OAuthApp:
        app = self.app(app_id)
        app.check_owner(owner_id)
        return app

    def register(self, command: RegisterApp) -> AppRegistered:
        if problems := check_scopes(command.requested_scopes):
            raise ValidationError({"requested_scopes": problems})
        details = check_details(command.details)
        if command.auth_method not in AUTH_METHODS:
            raise ValidationError({"token_endpoint_auth_method": [f"one of {AUTH_METHODS}"]})
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(18)
        public = command.auth_method == PUBLIC_AUTH_METHOD
        secret = None if public else CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
        requested = set(command.requested_scopes)
        app = OAuthApp(
            owner_id=command.owner_id,
            client_id=client_id,
            secret_digest=credentials.digest(secret) if secret else None,
            details=details,
            allowed_scopes=sorted(requested & AUTO_SCOPES | AUTO_SCOPES),
            token_endpoint_auth_method=command.auth_method,
        )
        pending = sorted(requested - AUTO_SCOPES)
        request = ScopeRequest(app_id=app.id, scopes=pending, reason="") if pending else None
        self.store.save(app, request)
        return AppRegistered(app.id, client_id, secret, request.id if request else None)

    def update(self, command: UpdateApp) -> int:
        changes = check_details(command.changes)

        def attempt() -> int:
            app = self.owned_app(command.owner_id, command.app_id)
            app.update(changes)
            return self.store.record(app)

        return with_retries(attempt)

    def request_scopes(self, command: RequestScopes) -> UUID:
        if problems := check_scopes(command.scopes) or (
            [] if command.scopes else ["name at least one scope"]
        ):
            raise ValidationError({"scopes": problems})
        app = self.owned_app(command.owner_id, command.app_id)
        wanted = sorted(set(command.scopes) - set(app.allowed_scopes))
        if not wanted:
            raise ValidationError({"scopes": ["the app already has these scopes"]})
        request = ScopeRequest(app_id=app.id, scopes=wanted, reason=command.reason)
        self.store.save(request)
        return request.id

    def decide(self, command: DecideScopeRequest) -> int:
        def attempt() -> int:
            try:
                request = get_as(self.store, command.request_id, ScopeRequest)
            except (AggregateNotFoundError, TypeError):
                raise NotFoundError("No such scope request.") from None
            app = self.app(request.app_id)
            if command.approve:
                request.approve(command.admin_id, command.note)
                app.grant_scopes(request.scopes, request.id)
            else:
                request.deny(command.admin_id, command.note)
            return self.store.record(request, app)

        return with_retries(attempt)

    def rotate_secret(self, command: RotateSecret) -> tuple[str, str]:
        secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)

        def attempt() -> tuple[str, str]:
            app = self.owned_app(command.owner_id, command.app_id)
            app.rotate_secret(credentials.digest(secret))
            self.store.save(app)
            return app.client_id, secret

        return with_retries(attempt)

    def delete(self, command: DeleteApp) -> int:
        def attempt() -> int:
            app = self.owned_app(command.owner_id, command.app_id)
            app.delete()
            return self.store.record(app)

        return with_retries(attempt)

    def set_suspended(self, command: SetAppSuspended) -> int:
        def attempt() -> int:
            app = self.app(command.app_id)
            if command.suspended:
                app.suspend(command.admin_id)
            else:
                app.unsuspend(command.admin_id)
            return self.store.record(app)

        return with_retries(attempt)


def app_for_client(store: BuddoStore, client_id: str) -> OAuthApp | None:
    """The app with `client_id`, or None."""
    try:
        return get_as(store, app_id_for_client(client_id), OAuthApp)
    except (AggregateNotFoundError, TypeError):
        return None
