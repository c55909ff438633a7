"""Authorization grants: a code, then a family of access and refresh tokens (spec 5.3-5.5).

Tokens reach this module as SHA-256 digests only. One grant is one token family: revoking it
(refresh reuse, code reuse, revocation of its refresh token) revokes every token it issued.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import OAuthProtocolError
from ledger.ids import derived_id

RETRY_GRACE = timedelta(seconds=10)


def invalid_grant(
    description: str = "The grant is invalid, expired or revoked.",
) -> OAuthProtocolError:
    return OAuthProtocolError("invalid_grant", description)


class Grant(Aggregate):
    """What one user allowed one app, and the tokens that came of it."""

    class CodeIssued(Aggregate.Created):
        """The user consented; a single-use code was issued (its digest)."""

        app_id: UUID
        user_id: UUID
        redirect_uri: str
        scopes: list[str]
        code_challenge: str
        code_digest: str
        code_expires_at: datetime
        user_epoch: int
        connection_epoch: int
        app_epoch: int

    class CodeRedeemed(Aggregate.Event):
        """The code was exchanged for the first access and refresh tokens."""

        user_id: UUID
        app_id: UUID
        scopes: list[str]
        access_digest: str
        access_expires_at: datetime
        refresh_digest: str
        refresh_expires_at: datetime
        session_id: UUID | None

    class Rotated(Aggregate.Event):
        """A refresh token was used: it retired, and a new pair was issued."""

        user_id: UUID
        app_id: UUID
        retired_digest: str
        rotated_at: datetime
        access_digest: str
        access_expires_at: datetime
        refresh_digest: str
        refresh_expires_at: datetime
        scopes: list[str]

    class AccessTokenRevoked(Aggregate.Event):
        """One access token was revoked (RFC 7009)."""

        access_digest: str
        reason: str

    class Revoked(Aggregate.Event):
        """The whole family was revoked, with why."""

        reason: str

    @event(CodeIssued)
    def __init__(  # noqa: PLR0913, PLR0917 - a grant is exactly these facts
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        app_id: UUID,
        user_id: UUID,
        redirect_uri: str,
        scopes: list[str],
        code_challenge: str,
        code_digest: str,
        code_expires_at: datetime,
        user_epoch: int,
        connection_epoch: int,
        app_epoch: int,
    ) -> None:
        self.app_id = app_id
        self.user_id = user_id
        self.redirect_uri = redirect_uri
        self.granted_scopes = list(scopes)
        self.scopes = list(scopes)
        self.code_challenge = code_challenge
        self.code_digest = code_digest
        self.code_expires_at = code_expires_at
        self.user_epoch = user_epoch
        self.connection_epoch = connection_epoch
        self.app_epoch = app_epoch
        self.redeemed = False
        self.revoked = False
        self.refresh_digest: str | None = None
        self.refresh_expires_at: datetime | None = None
        self.last_rotation: tuple[str, datetime, list[str]] | None = None
        self.retired_digests: set[str] = set()
        self.access_digests: set[str] = set()

    def is_code(self, code_digest: str) -> bool:
        """`code_digest` is this grant's code, whatever became of it since."""
        return hmac.compare_digest(self.code_digest, code_digest)

    def check_code(self, redirect_uri: str, now: datetime) -> None:
        """The (matching, unredeemed) code is unexpired and sent with the same redirect URI."""
        if self.revoked:
            raise invalid_grant("The code is invalid.")
        if now >= self.code_expires_at:
            raise invalid_grant("The code has expired.")
        if redirect_uri != self.redirect_uri:
            raise invalid_grant("redirect_uri does not match the authorization request.")

    def redeem(
        self,
        access_digest: str,
        access_expires_at: datetime,
        refresh_digest: str,
        refresh_expires_at: datetime,
        session_id: UUID | None,
    ) -> None:
        self._code_redeemed(
            self.user_id,
            self.app_id,
            self.scopes,
            access_digest,
            access_expires_at,
            refresh_digest,
            refresh_expires_at,
            session_id,
        )

    @event(CodeRedeemed)
    def _code_redeemed(
        self,
        user_id: UUID,
        app_id: UUID,
        scopes: list[str],
        access_digest: str,
        access_expires_at: datetime,
        refresh_digest: str,
        refresh_expires_at: datetime,
        session_id: UUID | None,
    ) -> None:
        self.redeemed = True
        self.access_digests.add(access_digest)
        self.refresh_digest = refresh_digest
        self.refresh_expires_at = refresh_expires_at

    def is_current_refresh(self, refresh_digest: str, now: datetime) -> bool:
        current = self.refresh_digest
        alive = self.refresh_expires_at is not None and now < self.refresh_expires_at
        return (
            not self.revoked
            and current is not None
            and alive
            and hmac.compare_digest(current, refresh_digest)
        )

    def is_retired_refresh(self, refresh_digest: str) -> bool:
        """A refresh token of this family that a rotation already replaced."""
        return refresh_digest in self.retired_digests

    def is_family_refresh(self, refresh_digest: str) -> bool:
        """The current or a retired refresh token of this family."""
        current = self.refresh_digest
        is_current = current is not None and hmac.compare_digest(current, refresh_digest)
        return is_current or self.is_retired_refresh(refresh_digest)

    def is_retry(self, refresh_digest: str, now: datetime, scopes: list[str]) -> bool:
        """The same refresh as the last rotation, within the grace window: not an attack."""
        if self.revoked or self.last_rotation is None:
            return False
        retired, at, last_scopes = self.last_rotation
        return (
            hmac.compare_digest(retired, refresh_digest)
            and now - at <= RETRY_GRACE
            and sorted(scopes) == sorted(last_scopes)
        )

    def narrowed_scopes(self, requested: list[str] | None) -> list[str]:
        """Downscoping on refresh: a subset of what was granted, never more."""
        if requested is None:
            return list(self.scopes)
        if not set(requested) <= set(self.granted_scopes):
            raise OAuthProtocolError("invalid_scope", "The scope exceeds the original grant.")
        return sorted(set(requested))

    def rotate(
        self,
        retired_digest: str,
        rotated_at: datetime,
        access_digest: str,
        access_expires_at: datetime,
        refresh_digest: str,
        refresh_expires_at: datetime,
        scopes: list[str],
    ) -> None:
        self._rotated(
            self.user_id,
            self.app_id,
            retired_digest,
            rotated_at,
            access_digest,
            access_expires_at,
            refresh_digest,
            refresh_expires_at,
            scopes,
        )

    @event(Rotated)
    def _rotated(  # noqa: PLR0913, PLR0917
        self,
        user_id: UUID,
        app_id: UUID,
        retired_digest: str,
        rotated_at: datetime,
        access_digest: str,
        access_expires_at: datetime,
        refresh_digest: str,
        refresh_expires_at: datetime,
        scopes: list[str],
    ) -> None:
        self.last_rotation = (retired_digest, rotated_at, list(scopes))
        self.retired_digests.add(retired_digest)
        self.access_digests.add(access_digest)
        self.refresh_digest = refresh_digest
        self.refresh_expires_at = refresh_expires_at
        self.scopes = list(scopes)

    def revoke_access_token(self, access_digest: str, reason: str) -> None:
        if access_digest in self.access_digests:
            self._access_token_revoked(access_digest, reason)

    @event(AccessTokenRevoked)
    def _access_token_revoked(self, access_digest: str, reason: str) -> None:
        self.access_digests.discard(access_digest)

    def revoke(self, reason: str) -> None:
        if not self.revoked:
            self._revoked(reason)

    @event(Revoked)
    def _revoked(self, reason: str) -> None:
        self.revoked = True
        self.refresh_digest = None
        self.access_digests = set()


class Connection(Aggregate):
    """One user's connection to one app: what they allowed, and when they cut it."""

    class Connected(Aggregate.Created):
        """The user first authorized the app."""

        user_id: UUID
        app_id: UUID
        scopes: list[str]

    class Reauthorized(Aggregate.Event):
        """The user authorized the app again (maybe with other scopes)."""

        scopes: list[str]

    class Disconnected(Aggregate.Event):
        """The user removed the app; every token of it for this user was revoked."""

        user_id: UUID
        app_id: UUID

    @staticmethod
    def create_id(user_id: UUID, app_id: UUID) -> UUID:
        return connection_id(user_id, app_id)

    @event(Connected)
    def __init__(self, user_id: UUID, app_id: UUID, scopes: list[str]) -> None:
        self.user_id = user_id
        self.app_id = app_id
        self.scopes = list(scopes)
        self.epoch = 0
        self.connected = True

    @event(Reauthorized)
    def reauthorize(self, scopes: list[str]) -> None:
        self.scopes = list(scopes)
        self.connected = True

    def disconnect(self) -> None:
        if self.connected:
            self._disconnected(self.user_id, self.app_id)

    @event(Disconnected)
    def _disconnected(self, user_id: UUID, app_id: UUID) -> None:
        self.connected = False
        self.epoch += 1


def connection_id(user_id: UUID, app_id: UUID) -> UUID:
    """The id of the connection between `user_id` and `app_id`."""
    return derived_id("connection", str(user_id), str(app_id))
