"""Lifetimes of one-time codes and session tokens, on a fake clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pyotp
import pytest

from commands import users
from commands.bus import CommandBus
from commands.sessions import SESSION_LIFETIME, RefreshSession, SessionToken, StartSession
from commands.store import BuddoStore
from ledger.errors import InvalidCodeError, NotFoundError, TotpRequiredError, UnauthorizedError

START = datetime(2026, 5, 22, 12, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_bus(store: BuddoStore, clock: FakeClock) -> Iterator[CommandBus]:
    bus = CommandBus(store, threads=1, clock=clock)
    yield bus
    bus.executor.shutdown(wait=True)


def register(bus: CommandBus) -> users.UserRegistered:
    tag = uuid4().hex[:8]
    done: users.UserRegistered = bus.handle(
        users.RegisterUser(f"u-{tag}@example.com", f"u_{tag}", PASSWORD)
    )
    return done


def sign_in(bus: CommandBus, email: str, code: str | None = None) -> UUID:
    expires = bus.clock() + timedelta(days=7)
    user_id: UUID = bus.handle(users.SignIn(email, PASSWORD, code, secrets.token_hex(8), expires))
    return user_id


def test_a_verification_code_lives_24_hours(timed_bus: CommandBus, clock: FakeClock) -> None:
    late, on_time = register(timed_bus), register(timed_bus)
    assert late.verification_code
    assert on_time.verification_code
    clock.now += users.VERIFICATION_CODE_LIFETIME - timedelta(seconds=1)
    timed_bus.handle(users.VerifyEmail(on_time.verification_code))
    clock.now += timedelta(seconds=1)
    with pytest.raises(InvalidCodeError):
        timed_bus.handle(users.VerifyEmail(late.verification_code))


def test_a_reset_code_lives_one_hour(timed_bus: CommandBus, clock: FakeClock) -> None:
    user = register(timed_bus)
    issued = timed_bus.handle(users.RequestPasswordReset(user.email))
    clock.now += users.RESET_CODE_LIFETIME
    with pytest.raises(InvalidCodeError):
        timed_bus.handle(users.ResetPassword(issued.code, "a new password"))
    fresh = timed_bus.handle(users.RequestPasswordReset(user.email))
    clock.now += users.RESET_CODE_LIFETIME - timedelta(seconds=1)
    timed_bus.handle(users.ResetPassword(fresh.code, "a new password"))


def test_a_reset_for_an_unknown_email_issues_nothing(timed_bus: CommandBus) -> None:
    assert timed_bus.handle(users.RequestPasswordReset("nobody@example.com")) is None


def test_a_session_lives_15_minutes_from_its_last_refresh(
    timed_bus: CommandBus, clock: FakeClock
) -> None:
    user = register(timed_bus)
    token: SessionToken = timed_bus.handle(StartSession(user.user_id, uuid4()))
    assert token.expires_at == START + SESSION_LIFETIME
    for _ in range(3):  # kept alive well past one lifetime by heartbeats
        clock.now += SESSION_LIFETIME - timedelta(seconds=1)
        token = timed_bus.handle(RefreshSession(token.token))
        assert token.expires_at == clock.now + SESSION_LIFETIME
    clock.now += SESSION_LIFETIME
    with pytest.raises(UnauthorizedError):
        timed_bus.handle(RefreshSession(token.token))


def test_totp_follows_the_clock_with_one_step_of_skew(
    timed_bus: CommandBus, clock: FakeClock
) -> None:
    user = register(timed_bus)
    provisioning = timed_bus.handle(users.SetUpTotp(user.user_id))
    totp = pyotp.TOTP(provisioning.secret)
    timed_bus.handle(users.EnableTotp(user.user_id, totp.at(clock.now)))
    with pytest.raises(TotpRequiredError):
        sign_in(timed_bus, user.email)

    clock.now += timedelta(minutes=10)
    two_steps_old = totp.at(clock.now - timedelta(seconds=60))
    with pytest.raises(UnauthorizedError):
        sign_in(timed_bus, user.email, two_steps_old)
    one_step_old = totp.at(clock.now - timedelta(seconds=30))
    assert sign_in(timed_bus, user.email, one_step_old) == user.user_id
    with pytest.raises(UnauthorizedError):
        sign_in(timed_bus, user.email, one_step_old)  # replayed
    clock.now += timedelta(seconds=30)
    assert sign_in(timed_bus, user.email, totp.at(clock.now)) == user.user_id
    # A step before the newest one accepted is refused, though never used and within the skew.
    never_used = totp.at(clock.now - timedelta(seconds=30))
    assert timed_bus.handle(users.VerifyTotp(user.user_id, never_used)) is False


def test_a_session_of_nobody_is_not_started(timed_bus: CommandBus) -> None:
    with pytest.raises(NotFoundError):
        timed_bus.handle(StartSession(uuid4(), uuid4()))
