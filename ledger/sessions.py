"""App sessions: started by an OAuth code exchange, kept alive by rotating session tokens."""

from __future__ import annotations

import hmac
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import UnauthorizedError


class AppSession(Aggregate):
    """One user's session in one app; its token rotates on every heartbeat."""

    class Started(Aggregate.Created):
        """A session began (the token's digest, never the token)."""

        user_id: UUID
        app_id: UUID
        token_digest: str
        expires_at: datetime
        credentials_epoch: int

    class Refreshed(Aggregate.Event):
        """A heartbeat: the old token stopped working, this digest's token replaced it."""

        token_digest: str
        expires_at: datetime

    class Ended(Aggregate.Event):
        """The session was ended; its token stopped working."""

        reason: str

    @event(Started)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        user_id: UUID,
        app_id: UUID,
        token_digest: str,
        expires_at: datetime,
        credentials_epoch: int,
    ) -> None:
        self.user_id = user_id
        self.app_id = app_id
        self.token_digest = token_digest
        self.expires_at = expires_at
        self.credentials_epoch = credentials_epoch
        self.ended = False

    def check_token(self, token_digest: str, now: datetime, credentials_epoch: int) -> None:
        """The presented token is this session's current one, still alive (else 401)."""
        current = hmac.compare_digest(self.token_digest, token_digest)
        if not current or self.ended or now >= self.expires_at:
            raise UnauthorizedError("The session token is invalid or has expired.")
        if credentials_epoch != self.credentials_epoch:
            raise UnauthorizedError("The session token is invalid or has expired.")

    @event(Refreshed)
    def refresh(self, token_digest: str, expires_at: datetime) -> None:
        """A heartbeat (the event's time is the heartbeat's) with a new token."""
        self.token_digest = token_digest
        self.expires_at = expires_at

    def end(self, reason: str) -> None:
        if not self.ended:
            self._ended(reason)

    @event(Ended)
    def _ended(self, reason: str) -> None:
        self.ended = True
