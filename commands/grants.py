"""Grant commands: issue a code, exchange it, refresh with rotation, revoke, disconnect."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from commands import credentials
from commands.credentials import TokenMinter
from commands.oauth import app_for_client
from commands.retry import with_retries
from commands.sessions import SessionToken, new_session
from commands.store import BuddoStore, get_as
from ledger.errors import InvalidClientError, NotFoundError, OAuthProtocolError
from ledger.grants import Connection, Grant, connection_id, invalid_grant
from ledger.oauth import OAuthApp
from ledger.users import User

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
CODE_PREFIX = "bac_"
ACCESS_PREFIX = "bat_"
REFRESH_PREFIX = "brt_"
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IssueCode:
    user_id: UUID
    client_id: str
    redirect_uri: str
    scopes: list[str]
    code_challenge: str


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None


@dataclass(frozen=True)
class AuthenticateClient:
    """Check a client's credentials (introspection by a client); answers the app's id."""

    client: ClientCredentials


@dataclass(frozen=True)
class ExchangeCode:
    client: ClientCredentials
    code: str
    redirect_uri: str
    code_verifier: str


@dataclass(frozen=True)
class RefreshTokens:
    client: ClientCredentials
    refresh_token: str
    scopes: list[str] | None


@dataclass(frozen=True)
class RevokeToken:
    client: ClientCredentials | None
    token: str


@dataclass(frozen=True)
class DisconnectApp:
    user_id: UUID
    app_id: UUID


@dataclass(frozen=True)
class TokenPair:
    """What the token endpoint answers (spec 5.4)."""

    access_token: str
    refresh_token: str
    expires_in: int
    scopes: list[str]
    session: SessionToken | None


class GrantHandlers:
    """The authorization server's write side."""

    def __init__(self, store: BuddoStore, minter: TokenMinter, clock: Clock) -> None:
        self.store = store
        self.minter = minter
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            AuthenticateClient: lambda command: self.authenticate_client(command.client).id,
            IssueCode: self.issue_code,
            ExchangeCode: self.exchange,
            RefreshTokens: self.refresh,
            RevokeToken: self.revoke,
            DisconnectApp: self.disconnect,
        }

    # Clients

    def authenticate_client(self, client: ClientCredentials) -> OAuthApp:
        """A confidential client proves its secret; a public one sends none (PKCE alone)."""
        app = app_for_client(self.store, client.client_id)
        if app is None or app.deleted:
            raise InvalidClientError()
        if app.is_public:
            if client.client_secret:
                raise InvalidClientError()
        elif not client.client_secret or not hmac.compare_digest(
            app.secret_digest or "", credentials.digest(client.client_secret)
        ):
            raise InvalidClientError()
        # A suspended client still authenticates (it may revoke); its grants are dead by
        # their app epoch, so every grant type answers invalid_grant.
        return app

    def _grant(self, token: str, prefix: str) -> Grant:
        grant_id = TokenMinter.owner_of(token, prefix)
        if grant_id is None:
            raise invalid_grant()
        try:
            return get_as(self.store, grant_id, Grant)
        except (AggregateNotFoundError, TypeError):
            raise invalid_grant() from None

    def _connection(self, user_id: UUID, app_id: UUID) -> Connection | None:
        try:
            return get_as(self.store, connection_id(user_id, app_id), Connection)
        except AggregateNotFoundError:
            return None

    # Authorize

    def issue_code(self, command: IssueCode) -> str:
        """The user's consent: a 60-second code bound to client, URI, user, scopes, challenge."""
        app = app_for_client(self.store, command.client_id)
        if app is None or app.deleted or command.redirect_uri not in app.redirect_uris:
            raise NotFoundError("No such client or redirect URI.")
        if app.suspended:
            raise OAuthProtocolError("unauthorized_client", "The app is suspended.")
        if not CHALLENGE.fullmatch(command.code_challenge):
            raise OAuthProtocolError("invalid_request", "code_challenge must be 43 characters.")
        if not command.scopes or not set(command.scopes) <= set(app.allowed_scopes):
            raise OAuthProtocolError("invalid_scope", "The app may not ask for that scope.")
        grant_id = uuid4()
        code = self.minter.random(CODE_PREFIX, grant_id)

        def attempt() -> str:
            user = get_as(self.store, command.user_id, User)
            user.check_may_sign_in()
            connection = self._connection(user.id, app.id)
            scopes = sorted(set(command.scopes))
            if connection is None:
                connection = Connection(user_id=user.id, app_id=app.id, scopes=scopes)
            else:
                connection.reauthorize(scopes)
            grant = Grant(
                id=grant_id,
                app_id=app.id,
                user_id=user.id,
                redirect_uri=command.redirect_uri,
                scopes=scopes,
                code_challenge=command.code_challenge,
                code_digest=credentials.digest(code),
                code_expires_at=self.clock() + CODE_LIFETIME,
                user_epoch=user.credentials_epoch,
                connection_epoch=connection.epoch,
                app_epoch=app.epoch,
            )
            self.store.save(grant, connection)
            return code

        return with_retries(attempt)

    # Token endpoint

    def exchange(self, command: ExchangeCode) -> TokenPair:
        app = self.authenticate_client(command.client)
        if not VERIFIER.fullmatch(command.code_verifier):
            raise OAuthProtocolError("invalid_request", "code_verifier is malformed.")
        code_digest = credentials.digest(command.code)

        def attempt() -> TokenPair:
            grant = self._grant(command.code, CODE_PREFIX)
            now = self.clock()
            if grant.app_id != app.id or not grant.is_code(code_digest):
                raise invalid_grant("The code is invalid.")
            if grant.redeemed:
                # A code presented twice: someone has it who should not. Revoke everything.
                grant.revoke("code_reuse")
                self.store.save(grant)
                raise invalid_grant("The code was already used; its tokens are revoked.")
            grant.check_code(command.redirect_uri, now)
            if credentials.pkce_s256(command.code_verifier) != grant.code_challenge:
                raise invalid_grant("code_verifier does not match the code_challenge.")
            user = self._still_allowed(grant, app)
            access = self.minter.random(ACCESS_PREFIX, grant.id)
            refresh = self.minter.random(REFRESH_PREFIX, grant.id)
            session, session_token = new_session(user, app.id, self.clock)
            grant.redeem(
                credentials.digest(access),
                now + ACCESS_LIFETIME,
                credentials.digest(refresh),
                now + REFRESH_LIFETIME,
                session.id,
            )
            self.store.save(grant, session)
            return TokenPair(
                access, refresh, _seconds(ACCESS_LIFETIME), grant.scopes, session_token
            )

        return with_retries(attempt)

    def _still_allowed(self, grant: Grant, app: OAuthApp) -> User:
        """Revocations that happened outside the grant (password, suspension of the user or
        the app, disconnection) revoked its tokens; the grant must not mint new ones."""
        user = get_as(self.store, grant.user_id, User)
        connection = self._connection(grant.user_id, grant.app_id)
        if (
            user.suspended
            or user.credentials_epoch != grant.user_epoch
            or app.epoch != grant.app_epoch
            or connection is None
            or connection.epoch != grant.connection_epoch
        ):
            raise invalid_grant()
        return user

    def refresh(self, command: RefreshTokens) -> TokenPair:
        app = self.authenticate_client(command.client)
        presented = command.refresh_token
        digest = credentials.digest(presented)

        def attempt() -> TokenPair:
            grant = self._grant(presented, REFRESH_PREFIX)
            if grant.app_id != app.id or not grant.is_family_refresh(digest):
                raise invalid_grant()
            now = self.clock()
            scopes = grant.narrowed_scopes(command.scopes)
            access = self.minter.derived(ACCESS_PREFIX, grant.id, presented)
            successor = self.minter.derived(REFRESH_PREFIX, grant.id, presented)
            if grant.is_retry(digest, now, scopes):
                self._still_allowed(grant, app)
                return TokenPair(access, successor, _seconds(ACCESS_LIFETIME), scopes, None)
            if grant.is_retired_refresh(digest):
                # A retired refresh token came back: the family is compromised.
                if not grant.revoked:
                    grant.revoke("refresh_reuse")
                    self.store.save(grant)
                raise invalid_grant()
            if not grant.is_current_refresh(digest, now):
                raise invalid_grant()  # expired, or the family was revoked
            self._still_allowed(grant, app)
            grant.rotate(
                digest,
                now,
                credentials.digest(access),
                now + ACCESS_LIFETIME,
                credentials.digest(successor),
                now + REFRESH_LIFETIME,
                scopes,
            )
            self.store.save(grant)
            return TokenPair(access, successor, _seconds(ACCESS_LIFETIME), scopes, None)

        return with_retries(attempt)

    def revoke(self, command: RevokeToken) -> None:
        """RFC 7009: always succeeds for the caller; a refresh token takes its family along."""
        app = self.authenticate_client(command.client) if command.client else None
        for prefix, whole_family in ((REFRESH_PREFIX, True), (ACCESS_PREFIX, False)):
            if TokenMinter.owner_of(command.token, prefix) is not None:
                self._revoke(command.token, prefix, app, whole_family=whole_family)

    def _revoke(self, token: str, prefix: str, app: OAuthApp | None, *, whole_family: bool) -> None:
        digest = credentials.digest(token)

        def attempt() -> None:
            try:
                grant = self._grant(token, prefix)
            except OAuthProtocolError:
                return
            if app is not None and grant.app_id != app.id:
                return  # not this client's token: nothing to do, and nothing to reveal
            if whole_family:
                if grant.is_family_refresh(digest):
                    grant.revoke("revoked_by_client")
            else:
                grant.revoke_access_token(digest, "revoked_by_client")
            self.store.save(grant)

        with_retries(attempt)

    def disconnect(self, command: DisconnectApp) -> int:
        def attempt() -> int:
            connection = self._connection(command.user_id, command.app_id)
            if connection is None or not connection.connected:
                raise NotFoundError("The app is not connected.")
            connection.disconnect()
            return self.store.record(connection)

        return with_retries(attempt)


def _seconds(lifetime: timedelta) -> int:
    return int(lifetime.total_seconds())
