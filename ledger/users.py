"""The User aggregate: identity, credentials and sign-ins, as events with no usable secret.

Passwords arrive here already hashed (a memory-hard KDF, outside the domain); codes and tokens
arrive as SHA-256 digests; the TOTP secret arrives encrypted. Times are passed in by commands.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError, ForbiddenError, InvalidCodeError

RECOVERY_CODE_COUNT = 10


class User(Aggregate):
    """A person who signs in: operator, player or admin."""

    class Registered(Aggregate.Created):
        """Someone signed up."""

        email: str
        username: str
        password_hash: str
        registration_number: int
        referral_code: str
        referred_by: UUID | None
        is_admin: bool

    class VerificationCodeIssued(Aggregate.Event):
        """A code to verify the email was mailed; earlier codes stop working."""

        code_digest: str
        expires_at: datetime

    class EmailVerified(Aggregate.Event):
        """The email address was proven (by code, or by an admin)."""

        by: str

    class PasswordResetRequested(Aggregate.Event):
        """A reset code was mailed."""

        code_digest: str
        expires_at: datetime

    class PasswordChanged(Aggregate.Event):
        """A new password; every credential issued before stops working but `kept_jti`."""

        password_hash: str
        reason: str
        kept_jti: str | None

    class SignedIn(Aggregate.Event):
        """A JWT was issued (its id, not the token)."""

        jti: str
        expires_at: datetime

    class SignedOut(Aggregate.Event):
        """A JWT was revoked by logout."""

        jti: str

    class TotpSetUp(Aggregate.Event):
        """A TOTP secret was generated (stored encrypted), not yet active."""

        encrypted_secret: str

    class TotpEnabled(Aggregate.Event):
        """TOTP is required from now on; digests of the one-time recovery codes."""

        recovery_code_digests: list[str]
        step: int

    class TotpCodeAccepted(Aggregate.Event):
        """A TOTP code was accepted; it and older ones are refused from now on."""

        step: int

    class RecoveryCodeUsed(Aggregate.Event):
        """A recovery code stood in for a TOTP code, once."""

        code_digest: str

    class TotpDisabled(Aggregate.Event):
        """TOTP is no longer required."""

    class UsernameChanged(Aggregate.Event):
        """The user chose another username."""

        username: str

    class Suspended(Aggregate.Event):
        """An admin suspended the user: no sign-in, every credential revoked."""

        by: UUID

    class Unsuspended(Aggregate.Event):
        """An admin lifted the suspension."""

        by: UUID

    @event(Registered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        email: str,
        username: str,
        password_hash: str,
        registration_number: int,
        referral_code: str,
        referred_by: UUID | None,
        is_admin: bool,
    ) -> None:
        self.email = email
        self.username = username
        self.password_hash = password_hash
        self.registration_number = registration_number
        self.referral_code = referral_code
        self.referred_by = referred_by
        self.is_admin = is_admin
        self.email_verified = False
        self.suspended = False
        self.verification: tuple[str, datetime] | None = None
        self.reset: tuple[str, datetime] | None = None
        self.pending_totp_secret: str | None = None
        self.totp_secret: str | None = None
        self.last_totp_step = -1
        self.recovery_codes: set[str] = set()
        # Bumped whenever every credential issued before must stop working.
        self.credentials_epoch = 0

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    def check_may_sign_in(self) -> None:
        """A suspended user cannot sign in."""
        if self.suspended:
            raise ForbiddenError("This account is suspended.")

    # Email verification

    def issue_verification_code(self, code_digest: str, expires_at: datetime) -> None:
        if self.email_verified:
            raise ConflictError("The email address is already verified.")
        self._verification_code_issued(code_digest, expires_at)

    @event(VerificationCodeIssued)
    def _verification_code_issued(self, code_digest: str, expires_at: datetime) -> None:
        self.verification = (code_digest, expires_at)

    def verify_email(self, code_digest: str, now: datetime) -> None:
        """Prove the email with the latest unexpired code; each code works once."""
        if not _code_matches(self.verification, code_digest, now):
            raise InvalidCodeError("The verification code is invalid or has expired.")
        self._email_verified("code")

    def verify_email_by_admin(self) -> None:
        if not self.email_verified:
            self._email_verified("admin")

    @event(EmailVerified)
    def _email_verified(self, by: str) -> None:
        self.email_verified = True
        self.verification = None

    # Passwords

    def request_password_reset(self, code_digest: str, expires_at: datetime) -> None:
        self._password_reset_requested(code_digest, expires_at)

    @event(PasswordResetRequested)
    def _password_reset_requested(self, code_digest: str, expires_at: datetime) -> None:
        self.reset = (code_digest, expires_at)

    def reset_password(self, code_digest: str, now: datetime, password_hash: str) -> None:
        if not _code_matches(self.reset, code_digest, now):
            raise InvalidCodeError("The reset code is invalid or has expired.")
        self._password_changed(password_hash, "reset", None)

    def change_password(self, password_hash: str, kept_jti: str | None) -> None:
        self._password_changed(password_hash, "change", kept_jti)

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str, reason: str, kept_jti: str | None) -> None:
        self.password_hash = password_hash
        self.reset = None
        self.credentials_epoch += 1

    # Sign-in

    def sign_in(self, jti: str, expires_at: datetime) -> None:
        self.check_may_sign_in()
        self._signed_in(jti, expires_at)

    @event(SignedIn)
    def _signed_in(self, jti: str, expires_at: datetime) -> None:
        pass

    @event(SignedOut)
    def sign_out(self, jti: str) -> None:
        pass

    # TOTP

    def set_up_totp(self, encrypted_secret: str) -> None:
        if self.totp_enabled:
            raise ConflictError("TOTP is already enabled; disable it first.")
        self._totp_set_up(encrypted_secret)

    @event(TotpSetUp)
    def _totp_set_up(self, encrypted_secret: str) -> None:
        self.pending_totp_secret = encrypted_secret

    def enable_totp(self, recovery_code_digests: list[str], step: int) -> None:
        if self.totp_enabled:
            raise ConflictError("TOTP is already enabled.")
        if self.pending_totp_secret is None:
            raise ConflictError("Set TOTP up first.")
        self._totp_enabled(recovery_code_digests, step)

    @event(TotpEnabled)
    def _totp_enabled(self, recovery_code_digests: list[str], step: int) -> None:
        self.totp_secret = self.pending_totp_secret
        self.pending_totp_secret = None
        self.recovery_codes = set(recovery_code_digests)
        self.last_totp_step = step

    def accept_totp_step(self, step: int) -> None:
        """Accept a code of time step `step`; a step already accepted is a replay."""
        if step <= self.last_totp_step:
            raise InvalidCodeError("This code was already used.")
        self._totp_code_accepted(step)

    @event(TotpCodeAccepted)
    def _totp_code_accepted(self, step: int) -> None:
        self.last_totp_step = step

    def use_recovery_code(self, code_digest: str) -> None:
        if code_digest not in self.recovery_codes:
            raise InvalidCodeError("The recovery code is invalid or was already used.")
        self._recovery_code_used(code_digest)

    @event(RecoveryCodeUsed)
    def _recovery_code_used(self, code_digest: str) -> None:
        self.recovery_codes.discard(code_digest)

    def disable_totp(self) -> None:
        if not self.totp_enabled:
            raise ConflictError("TOTP is not enabled.")
        self._totp_disabled()

    @event(TotpDisabled)
    def _totp_disabled(self) -> None:
        self.totp_secret = None
        self.recovery_codes = set()

    # Profile and administration

    @event(UsernameChanged)
    def change_username(self, username: str) -> None:
        self.username = username

    def suspend(self, by: UUID) -> None:
        if not self.suspended:
            self._suspended(by)

    @event(Suspended)
    def _suspended(self, by: UUID) -> None:
        self.suspended = True
        self.credentials_epoch += 1

    def unsuspend(self, by: UUID) -> None:
        if self.suspended:
            self._unsuspended(by)

    @event(Unsuspended)
    def _unsuspended(self, by: UUID) -> None:
        self.suspended = False


def _code_matches(issued: tuple[str, datetime] | None, code_digest: str, now: datetime) -> bool:
    if issued is None:
        return False
    digest, expires_at = issued
    # Digests of random codes: comparing them in constant time costs nothing and rules out leaks.
    return hmac.compare_digest(digest, code_digest) and now < expires_at
