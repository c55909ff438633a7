"""OAuth apps and their scope requests, as aggregates (spec 5.1, 5.2)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError, NotFoundError
from ledger.ids import derived_id

AUTO_SCOPES = frozenset({"profile:read", "points:read"})
ADMIN_SCOPES = frozenset({"points:spend", "points:transfer", "app:balance:read", "deploy:manage"})
ALL_SCOPES = AUTO_SCOPES | ADMIN_SCOPES
#: RFC 7591's token_endpoint_auth_method: the first two make a confidential client (it may
#: send its secret either way), `none` a public one (PKCE alone).
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
PUBLIC_AUTH_METHOD = "none"
DEFAULT_AUTH_METHOD = "client_secret_basic"
EDITABLE_FIELDS = (
    "app_name",
    "app_description",
    "logo_url",
    "website_url",
    "redirect_uris",
    "listed",
)


def app_id_for_client(client_id: str) -> UUID:
    """Apps are addressed by their client_id: the id is derived from it."""
    return derived_id("oauth-app", client_id)


def auth_method(recorded: str | None, *, public: bool) -> str:
    """The registered method, or for an app registered before it was kept, the one implied."""
    if recorded is not None:
        return recorded
    return PUBLIC_AUTH_METHOD if public else DEFAULT_AUTH_METHOD


class OAuthApp(Aggregate):
    """A third-party app: its redirect URIs, its allowed scopes, its (hashed) secret."""

    class Registered(Aggregate.Created):
        """An operator registered an app (the secret's digest only; none for public apps).
        `token_endpoint_auth_method` is None in events recorded before it was kept."""

        owner_id: UUID
        client_id: str
        secret_digest: str | None
        details: dict[str, Any]
        allowed_scopes: list[str]
        token_endpoint_auth_method: str | None = None

    class Updated(Aggregate.Event):
        """The owner changed some of the app's details."""

        changes: dict[str, Any]

    class SecretRotated(Aggregate.Event):
        """A new secret replaced the old one, which stopped working at once."""

        secret_digest: str

    class ScopesGranted(Aggregate.Event):
        """An admin approved scopes; they joined the allowed scopes."""

        scopes: list[str]
        request_id: UUID
        allowed_scopes: list[str]

    class Suspended(Aggregate.Event):
        """An admin suspended the app: no new tokens, every token revoked."""

        by: UUID

    class Unsuspended(Aggregate.Event):
        """An admin lifted the suspension."""

        by: UUID

    class Deleted(Aggregate.Event):
        """The owner deleted the app; its tokens were revoked, its points stay."""

    @staticmethod
    def create_id(client_id: str) -> UUID:
        return app_id_for_client(client_id)

    @event(Registered)
    def __init__(
        self,
        owner_id: UUID,
        client_id: str,
        secret_digest: str | None,
        details: dict[str, Any],
        allowed_scopes: list[str],
        token_endpoint_auth_method: str | None = None,
    ) -> None:
        self.owner_id = owner_id
        self.client_id = client_id
        self.secret_digest = secret_digest
        self.details = dict(details)
        self.allowed_scopes = list(allowed_scopes)
        self.recorded_auth_method = token_endpoint_auth_method
        self.suspended = False
        self.deleted = False
        self.epoch = 0  # grows with each suspension: grants of an earlier epoch are dead

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None

    @property
    def auth_method(self) -> str:
        """How the client authenticates at the token endpoint (as registered)."""
        return auth_method(self.recorded_auth_method, public=self.is_public)

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.details.get("redirect_uris", []))

    def check_owner(self, user_id: UUID) -> None:
        """Only the owner sees or changes the app (another user's app is not found)."""
        if self.deleted or self.owner_id != user_id:
            raise NotFoundError("No such app.")

    def check_usable(self) -> None:
        """A deleted or suspended app gets no tokens."""
        if self.deleted or self.suspended:
            raise ConflictError("The app is suspended or deleted.")

    @event(Updated)
    def update(self, changes: dict[str, Any]) -> None:
        self.details.update(changes)

    def rotate_secret(self, secret_digest: str) -> None:
        if self.is_public:
            raise ConflictError("A public client has no secret.")
        self._secret_rotated(secret_digest)

    @event(SecretRotated)
    def _secret_rotated(self, secret_digest: str) -> None:
        self.secret_digest = secret_digest

    def grant_scopes(self, scopes: list[str], request_id: UUID) -> None:
        added = sorted(set(scopes) - set(self.allowed_scopes))
        self._scopes_granted(added, request_id, sorted({*self.allowed_scopes, *added}))

    @event(ScopesGranted)
    def _scopes_granted(
        self, scopes: list[str], request_id: UUID, allowed_scopes: list[str]
    ) -> None:
        self.allowed_scopes = list(allowed_scopes)

    def suspend(self, by: UUID) -> None:
        if not self.suspended:
            self._suspended(by)

    @event(Suspended)
    def _suspended(self, by: UUID) -> None:
        self.suspended = True
        self.epoch += 1

    def unsuspend(self, by: UUID) -> None:
        if self.suspended:
            self._unsuspended(by)

    @event(Unsuspended)
    def _unsuspended(self, by: UUID) -> None:
        self.suspended = False

    def delete(self) -> None:
        if not self.deleted:
            self._deleted()

    @event(Deleted)
    def _deleted(self) -> None:
        self.deleted = True


class ScopeRequest(Aggregate):
    """An app asking for scopes that need an admin's approval."""

    class Requested(Aggregate.Created):
        """The app asked for these scopes."""

        app_id: UUID
        scopes: list[str]
        reason: str

    class Approved(Aggregate.Event):
        """An admin approved the request."""

        by: UUID
        note: str

    class Denied(Aggregate.Event):
        """An admin denied the request."""

        by: UUID
        note: str

    @event(Requested)
    def __init__(self, app_id: UUID, scopes: list[str], reason: str) -> None:
        self.app_id = app_id
        self.scopes = list(scopes)
        self.reason = reason
        self.status = "pending"

    def _check_pending(self) -> None:
        if self.status != "pending":
            raise ConflictError(f"The request was already {self.status}.")

    def approve(self, by: UUID, note: str) -> None:
        self._check_pending()
        self._approved(by, note)

    @event(Approved)
    def _approved(self, by: UUID, note: str) -> None:
        self.status = "approved"

    def deny(self, by: UUID, note: str) -> None:
        self._check_pending()
        self._denied(by, note)

    @event(Denied)
    def _denied(self, by: UUID, note: str) -> None:
        self.status = "denied"


MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2_000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})


def check_redirect_uri(uri: str) -> list[str]:
    """Problems with one redirect URI: absolute; https, http on loopback, or a custom scheme;
    no fragment (spec 5.1, RFC 8252 for native apps)."""
    if len(uri) > MAX_URI_LENGTH:
        return [f"at most {MAX_URI_LENGTH} characters"]
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or (scheme in {"http", "https"} and not parts.hostname):
        return ["must be an absolute URI"]
    if parts.fragment or "#" in uri:
        return ["must not have a fragment"]
    if scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return ["http is allowed only for loopback hosts; use https"]
    if scheme in FORBIDDEN_SCHEMES or any(ch.isspace() for ch in uri):
        return ["this scheme cannot be a redirect URI"]
    return []


def check_redirect_uris(uris: list[str]) -> list[str]:
    """All redirect URIs of an app, 1 to MAX_REDIRECT_URIS of them."""
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        return [f"give 1 to {MAX_REDIRECT_URIS} redirect URIs"]
    for uri in uris:
        if problems := check_redirect_uri(uri):
            return [f"{uri[:100]!r}: {problems[0]}"]
    return []


def check_scopes(scopes: list[str]) -> list[str]:
    """Only the scopes of spec section 3."""
    unknown = sorted(set(scopes) - ALL_SCOPES)
    return [f"unknown scope(s): {', '.join(unknown)}"] if unknown else []
