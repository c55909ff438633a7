"""More helpers for the account tests: admins, forged JWTs, session tokens, mailed codes."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import jwt
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from commands.sessions import SessionToken, StartSession
from commands.users import RegisterUser
from http_api.keys import SERVICES
from http_api.wiring import Services
from tests.e2e.helpers import Person, outbox_codes

# How long a test waits for mail written after the response; a bound, never an expectation.
MAIL_DEADLINE_SECONDS = 60.0


def services(client: TestClient) -> Services:  # type: ignore[type-arg]
    """The running app's services (its command bus, settings, keys)."""
    assert client.app is not None
    wired: Services = client.app[SERVICES]
    return wired


async def make_admin(client: TestClient, data_dir: Path) -> Person:  # type: ignore[type-arg]
    """An admin, made the way `buddo admin create` makes one, signed in over HTTP."""
    admin = Person(client, data_dir)
    await services(client).bus.execute(
        RegisterUser(admin.email, admin.username, admin.password, None, is_admin=True)
    )
    await admin.login()
    return admin


async def start_session(client: TestClient, user_id: str) -> str:  # type: ignore[type-arg]
    """A session token for `user_id` in some app, started through the command bus.

    Sessions come from OAuth code exchanges (spec 5.4); until that is served over HTTP the
    tests start one with the same command the exchange will send.
    """
    issued: SessionToken = await services(client).bus.execute(StartSession(UUID(user_id), uuid4()))
    return issued.token


async def refresh(client: TestClient, session_token: str) -> ClientResponse:  # type: ignore[type-arg]
    return await client.post("/api/session/refresh", json={"session_token": session_token})


async def mailed_code(data_dir: Path, to: str, already: int) -> str:
    """The newest code mailed to `to` once there are more than `already` (mail may come late)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAIL_DEADLINE_SECONDS
    while len(codes := outbox_codes(data_dir, to)) <= already:
        assert loop.time() < deadline, f"no new mail to {to}"
        await asyncio.sleep(0.02)
    return codes[-1]


async def reset_code(person: Person) -> str:
    """Ask for a password reset over HTTP and read the code from the mail."""
    already = len(outbox_codes(person.data_dir, person.email))
    response = await person.client.post("/api/auth/forgot-password", json={"email": person.email})
    assert response.status == 200
    return await mailed_code(person.data_dir, person.email, already)


async def reset_password(person: Person, new_password: str) -> None:
    code = await reset_code(person)
    response = await person.client.post(
        "/api/auth/reset-password", json={"token": code, "password": new_password}
    )
    assert response.status == 200, await response.text()
    person.password = new_password


def hs256_key(data_dir: Path) -> bytes:
    """The HMAC key the embedded default generated into the data directory."""
    return (data_dir / "jwt.key").read_bytes()


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking anything (what any holder can do)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def forge(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT over `claims` (entries set to None left out) signed with `key`."""
    present = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(present, key, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me_status(client: TestClient, token: str) -> int:  # type: ignore[type-arg]
    response = await client.get("/api/auth/me", headers=bearer(token))
    await response.read()
    return response.status


async def assert_refused(response: ClientResponse, error: str = "unauthorized") -> None:
    """A 401 with the spec's error JSON and a `WWW-Authenticate: Bearer` challenge."""
    body = await response.json()
    assert response.status == 401, body
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def new_password() -> str:
    return f"new password {secrets.token_hex(4)}"
