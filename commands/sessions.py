"""Session-token commands: start a session, rotate its token atomically, end it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from commands import credentials
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.errors import NotFoundError, UnauthorizedError
from ledger.sessions import AppSession
from ledger.users import User

SESSION_LIFETIME = timedelta(minutes=15)
SESSION_TOKEN_PREFIX = "bst_"  # noqa: S105 - a prefix, not a secret

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class StartSession:
    user_id: UUID
    app_id: UUID


@dataclass(frozen=True)
class RefreshSession:
    session_token: str


@dataclass(frozen=True)
class EndSession:
    session_id: UUID
    reason: str


@dataclass(frozen=True)
class SessionToken:
    """A session token, shown to its holder once; only its digest is kept."""

    session_id: UUID
    token: str
    expires_at: datetime


def session_id_of(token: str) -> UUID | None:
    """The session a token names, or None when it is not one of ours."""
    if not token.startswith(SESSION_TOKEN_PREFIX):
        return None
    return credentials.locate(token.removeprefix(SESSION_TOKEN_PREFIX))


def _new_token(session_id: UUID, clock: Clock) -> tuple[str, datetime]:
    return SESSION_TOKEN_PREFIX + credentials.locator_token(session_id), clock() + SESSION_LIFETIME


def new_session(user: User, app_id: UUID, clock: Clock) -> tuple[AppSession, SessionToken]:
    """A new session of `user` in `app_id` (unsaved), and its token to show once."""
    session_id = uuid4()
    token, expires_at = _new_token(session_id, clock)
    session = AppSession(
        id=session_id,
        user_id=user.id,
        app_id=app_id,
        token_digest=credentials.digest(token),
        expires_at=expires_at,
        credentials_epoch=user.credentials_epoch,
    )
    return session, SessionToken(session_id, token, expires_at)


class SessionHandlers:
    """Sessions live 15 minutes from their last refresh; each refresh rotates the token."""

    def __init__(self, store: BuddoStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            StartSession: self.start,
            RefreshSession: self.refresh,
            EndSession: self.end,
        }

    def _new_token(self, session_id: UUID) -> tuple[str, datetime]:
        return _new_token(session_id, self.clock)

    def start(self, command: StartSession) -> SessionToken:
        try:
            user = get_as(self.store, command.user_id, User)
        except (AggregateNotFoundError, TypeError):
            raise NotFoundError("No such user.") from None
        session, issued = new_session(user, command.app_id, self.clock)
        self.store.save(session)
        return issued

    def refresh(self, command: RefreshSession) -> SessionToken:
        """Exactly one of two concurrent refreshes of one token wins; the other is a 401."""
        session_id = session_id_of(command.session_token)
        if session_id is None:
            raise UnauthorizedError("The session token is invalid or has expired.")
        presented = credentials.digest(command.session_token)
        token, expires_at = self._new_token(session_id)

        def attempt() -> SessionToken:
            session = self._session(session_id)
            user = get_as(self.store, session.user_id, User)
            now = self.clock()
            session.check_token(presented, now, user.credentials_epoch)
            if user.suspended:
                raise UnauthorizedError("The session token is invalid or has expired.")
            session.refresh(credentials.digest(token), expires_at)
            self.store.save(session)
            return SessionToken(session_id, token, expires_at)

        # A lost race reloads the session, whose digest has moved on: the loser gets a 401.
        return with_retries(attempt)

    def end(self, command: EndSession) -> int:
        def attempt() -> int:
            session = self._session(command.session_id)
            session.end(command.reason)
            return self.store.record(session)

        return with_retries(attempt)

    def _session(self, session_id: UUID) -> AppSession:
        try:
            return get_as(self.store, session_id, AppSession)
        except (AggregateNotFoundError, TypeError):
            raise UnauthorizedError("The session token is invalid or has expired.") from None
