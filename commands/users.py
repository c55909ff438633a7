"""User commands: registration, sign-in and out, email verification, passwords, TOTP, admin."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from commands import credentials
from commands.credentials import SecretBox
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.claims import Claim, RegistrationCounter, claim_id
from ledger.errors import (
    ConflictError,
    InvalidCodeError,
    NotFoundError,
    TotpRequiredError,
    UnauthorizedError,
    ValidationError,
)
from ledger.users import RECOVERY_CODE_COUNT, User

VERIFICATION_CODE_LIFETIME = timedelta(hours=24)
RESET_CODE_LIFETIME = timedelta(hours=1)
PASSWORD_MIN, PASSWORD_MAX = 8, 256
EMAIL_MAX = 254
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_]{3,30}")
EMAIL_PATTERN = re.compile(r"[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+")
REFERRAL_CODE_BYTES = 6

Clock = Callable[[], datetime]


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email):
        raise ValidationError({"email": ["must be an email address"]})
    return email


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationError({"username": ["3 to 30 letters, digits or underscores"]})
    return username


def check_password(password: str, field: str = "password") -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or "\x00" in password:
        raise ValidationError({field: [f"{PASSWORD_MIN} to {PASSWORD_MAX} characters"]})
    return password


@dataclass(frozen=True)
class RegisterUser:
    email: str
    username: str
    password: str
    referral_code: str | None = None
    is_admin: bool = False


@dataclass(frozen=True)
class UserRegistered:
    user_id: UUID
    email: str
    verification_code: str | None


@dataclass(frozen=True)
class IssueVerificationCode:
    user_id: UUID


@dataclass(frozen=True)
class CodeIssued:
    email: str
    code: str


@dataclass(frozen=True)
class VerifyEmail:
    token: str


@dataclass(frozen=True)
class AdminVerifyEmail:
    user_id: UUID


@dataclass(frozen=True)
class SignIn:
    email: str
    password: str
    totp_code: str | None
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class SignOut:
    user_id: UUID
    jti: str


@dataclass(frozen=True)
class RequestPasswordReset:
    email: str


@dataclass(frozen=True)
class ResetPassword:
    token: str
    password: str


@dataclass(frozen=True)
class ChangePassword:
    user_id: UUID
    current_password: str
    new_password: str
    kept_jti: str


@dataclass(frozen=True)
class SetUpTotp:
    user_id: UUID


@dataclass(frozen=True)
class TotpProvisioning:
    secret: str
    uri: str


@dataclass(frozen=True)
class EnableTotp:
    user_id: UUID
    code: str


@dataclass(frozen=True)
class VerifyTotp:
    user_id: UUID
    code: str


@dataclass(frozen=True)
class DisableTotp:
    user_id: UUID
    code: str | None
    password: str | None


@dataclass(frozen=True)
class ChangeUsername:
    user_id: UUID
    username: str


@dataclass(frozen=True)
class SuspendUser:
    user_id: UUID
    admin_id: UUID


@dataclass(frozen=True)
class UnsuspendUser:
    user_id: UUID
    admin_id: UUID


class UserHandlers:
    """One short handler per user command; each runs whole on the store's thread pool."""

    def __init__(self, store: BuddoStore, box: SecretBox, clock: Clock) -> None:
        self.store = store
        self.box = box
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            RegisterUser: self.register,
            IssueVerificationCode: self.issue_verification_code,
            VerifyEmail: self.verify_email,
            AdminVerifyEmail: self.admin_verify_email,
            SignIn: self.sign_in,
            SignOut: self.sign_out,
            RequestPasswordReset: self.request_password_reset,
            ResetPassword: self.reset_password,
            ChangePassword: self.change_password,
            SetUpTotp: self.set_up_totp,
            EnableTotp: self.enable_totp,
            VerifyTotp: self.verify_totp,
            DisableTotp: self.disable_totp,
            ChangeUsername: self.change_username,
            SuspendUser: self.suspend,
            UnsuspendUser: self.unsuspend,
        }

    # Loading

    def user(self, user_id: UUID) -> User:
        try:
            return get_as(self.store, user_id, User)
        except (AggregateNotFoundError, TypeError):
            raise NotFoundError("No such user.") from None

    def holder(self, kind: str, value: str) -> UUID | None:
        """Who holds a unique value, from its claim aggregate (never a read model)."""
        try:
            return get_as(self.store, claim_id(kind, value), Claim).holder
        except AggregateNotFoundError:
            return None

    def _update(self, user_id: UUID, change: Callable[[User], None]) -> int:
        def attempt() -> int:
            user = self.user(user_id)
            change(user)
            return self.store.record(user)

        return with_retries(attempt)

    # Registration and email

    def register(self, command: RegisterUser) -> UserRegistered:
        email = check_email(command.email)
        username = check_username(command.username)
        password_hash = credentials.hash_password(check_password(command.password))
        referred_by = None
        if command.referral_code:
            referred_by = self.holder("referral", command.referral_code)
            if referred_by is None:
                raise ValidationError({"referral_code": ["no such referral code"]})
        user_id = uuid4()
        code = None if command.is_admin else credentials.locator_token(user_id)

        def attempt() -> UserRegistered:
            referral_code = secrets.token_hex(REFERRAL_CODE_BYTES)
            claims = [
                self.take_claim("email", email, user_id),
                self.take_claim("username", username, user_id),
                self.take_claim("referral", referral_code, user_id),
            ]
            counter = self._counter()
            user = User(
                id=user_id,
                email=email,
                username=username,
                password_hash=password_hash,
                registration_number=counter.next_number(user_id),
                referral_code=referral_code,
                referred_by=referred_by,
                is_admin=command.is_admin,
            )
            if code is None:
                user.verify_email_by_admin()
            else:
                expires_at = self.clock() + VERIFICATION_CODE_LIFETIME
                user.issue_verification_code(credentials.digest(code), expires_at)
            self.store.save(user, counter, *claims)
            return UserRegistered(user_id, email, code)

        return with_retries(attempt)

    def take_claim(self, kind: str, value: str, holder: UUID) -> Claim:
        """Claim a unique value: a new claim, or a released one taken again (else conflict)."""
        try:
            claim = get_as(self.store, claim_id(kind, value), Claim)
        except AggregateNotFoundError:
            return Claim(kind=kind, value=value, holder=holder)
        claim.reclaim(holder)
        return claim

    def _counter(self) -> RegistrationCounter:
        try:
            return get_as(self.store, RegistrationCounter.create_id(), RegistrationCounter)
        except AggregateNotFoundError:
            return RegistrationCounter()

    def issue_verification_code(self, command: IssueVerificationCode) -> CodeIssued:
        code = credentials.locator_token(command.user_id)
        expires_at = self.clock() + VERIFICATION_CODE_LIFETIME
        self._update(
            command.user_id,
            lambda user: user.issue_verification_code(credentials.digest(code), expires_at),
        )
        return CodeIssued(self.user(command.user_id).email, code)

    def verify_email(self, command: VerifyEmail) -> int:
        user_id = credentials.locate(command.token)
        if user_id is None:
            raise InvalidCodeError("The verification code is invalid or has expired.")
        code_digest, now = credentials.digest(command.token), self.clock()
        try:
            return self._update(user_id, lambda user: user.verify_email(code_digest, now))
        except NotFoundError:
            raise InvalidCodeError("The verification code is invalid or has expired.") from None

    def admin_verify_email(self, command: AdminVerifyEmail) -> int:
        return self._update(command.user_id, lambda user: user.verify_email_by_admin())

    # Sign-in

    def sign_in(self, command: SignIn) -> UUID:
        """Check password (and TOTP); record the JWT's id. One answer for every failure."""
        user_id = self.holder("email", command.email)
        if user_id is None:
            credentials.burn_password_check(command.password)
            raise UnauthorizedError
        if not credentials.verify_password(command.password, self.user(user_id).password_hash):
            raise UnauthorizedError

        def sign_in(user: User) -> None:
            user.check_may_sign_in()
            if user.totp_enabled:
                self._second_factor(user, command.totp_code)
            user.sign_in(command.jti, command.expires_at)

        self._update(user_id, sign_in)
        return user_id

    def _second_factor(self, user: User, code: str | None) -> None:
        if not code:
            raise TotpRequiredError
        secret = self._totp_secret(user, user.totp_secret)
        step = credentials.totp_step(secret, code, self.clock())
        if step is not None:
            try:
                user.accept_totp_step(step)
            except InvalidCodeError:
                raise UnauthorizedError from None
            return
        try:
            user.use_recovery_code(credentials.digest(code.strip().lower()))
        except InvalidCodeError:
            raise UnauthorizedError from None

    def _totp_secret(self, user: User, sealed: str | None) -> str:
        if sealed is None:
            raise ConflictError("TOTP is not set up.")
        return self.box.open(sealed, f"totp:{user.id}")

    def sign_out(self, command: SignOut) -> int:
        return self._update(command.user_id, lambda user: user.sign_out(command.jti))

    # Passwords

    def request_password_reset(self, command: RequestPasswordReset) -> CodeIssued | None:
        user_id = self.holder("email", command.email)
        if user_id is None:
            return None
        code = credentials.locator_token(user_id)
        expires_at = self.clock() + RESET_CODE_LIFETIME
        self._update(
            user_id, lambda user: user.request_password_reset(credentials.digest(code), expires_at)
        )
        return CodeIssued(self.user(user_id).email, code)

    def reset_password(self, command: ResetPassword) -> int:
        password_hash = credentials.hash_password(check_password(command.password))
        user_id = credentials.locate(command.token)
        if user_id is None:
            raise InvalidCodeError("The reset code is invalid or has expired.")
        code_digest, now = credentials.digest(command.token), self.clock()
        try:
            return self._update(
                user_id, lambda user: user.reset_password(code_digest, now, password_hash)
            )
        except NotFoundError:
            raise InvalidCodeError("The reset code is invalid or has expired.") from None

    def change_password(self, command: ChangePassword) -> int:
        new_hash = credentials.hash_password(check_password(command.new_password, "new_password"))
        if not credentials.verify_password(
            command.current_password, self.user(command.user_id).password_hash
        ):
            raise ValidationError({"current_password": ["is not your current password"]})
        return self._update(
            command.user_id, lambda user: user.change_password(new_hash, command.kept_jti)
        )

    # TOTP

    def set_up_totp(self, command: SetUpTotp) -> TotpProvisioning:
        secret = credentials.new_totp_secret()
        sealed = self.box.seal(secret, f"totp:{command.user_id}")
        self._update(command.user_id, lambda user: user.set_up_totp(sealed))
        email = self.user(command.user_id).email
        return TotpProvisioning(secret, credentials.totp_uri(secret, email))

    def enable_totp(self, command: EnableTotp) -> list[str]:
        codes = credentials.recovery_codes(RECOVERY_CODE_COUNT)

        def enable(user: User) -> None:
            secret = self._totp_secret(user, user.pending_totp_secret)
            step = credentials.totp_step(secret, command.code, self.clock())
            if step is None:
                raise ValidationError({"code": ["is not the current code"]})
            user.enable_totp([credentials.digest(code) for code in codes], step)

        self._update(command.user_id, enable)
        return codes

    def verify_totp(self, command: VerifyTotp) -> bool:
        def verify(user: User) -> None:
            secret = self._totp_secret(user, user.totp_secret)
            step = credentials.totp_step(secret, command.code, self.clock())
            if step is None:
                raise InvalidCodeError("wrong code")
            user.accept_totp_step(step)

        try:
            self._update(command.user_id, verify)
        except InvalidCodeError:
            return False
        return True

    def disable_totp(self, command: DisableTotp) -> int:
        user = self.user(command.user_id)
        if command.password is not None:
            if not credentials.verify_password(command.password, user.password_hash):
                raise ValidationError({"password": ["is not your password"]})
            return self._update(command.user_id, lambda u: u.disable_totp())

        def disable(user: User) -> None:
            try:
                self._second_factor(user, command.code)
            except UnauthorizedError:
                raise ValidationError({"code": ["is not a valid code"]}) from None
            user.disable_totp()

        return self._update(command.user_id, disable)

    # Profile and administration

    def change_username(self, command: ChangeUsername) -> int:
        username = check_username(command.username)

        def attempt() -> int:
            user = self.user(command.user_id)
            if claim_id("username", user.username) == claim_id("username", username):
                user.change_username(username)  # only the letter case changes
                return self.store.record(user)
            old = get_as(self.store, claim_id("username", user.username), Claim)
            new = self.take_claim("username", username, user.id)
            old.release()
            user.change_username(username)
            return self.store.record(user, old, new)

        return with_retries(attempt)

    def suspend(self, command: SuspendUser) -> int:
        return self._update(command.user_id, lambda user: user.suspend(command.admin_id))

    def unsuspend(self, command: UnsuspendUser) -> int:
        return self._update(command.user_id, lambda user: user.unsuspend(command.admin_id))
