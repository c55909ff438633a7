"""The whole account journey over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pyotp
from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.helpers import Person


async def test_register_verify_login_totp_and_logout(
    client: TestClient,
    settings: Settings,  # type: ignore[type-arg]
) -> None:
    person = Person(client, settings.data_dir)
    user = await person.register()
    assert user["email_verified"] is False
    assert user["points"] == 0
    assert user["tier"] == "free"
    assert user["registration_number"] >= 1

    await person.verify_email()
    body = await person.login()
    assert body["user"] == {
        "id": user["id"],
        "email": person.email,
        "username": person.username,
        "tier": "free",
        "is_admin": False,
        "email_verified": True,
        "totp_enabled": False,
    }

    me = await client.get("/api/auth/me", headers=person.auth)
    assert me.status == 200
    assert (await me.json())["user"]["email_verified"] is True

    setup = await (await client.post("/api/auth/totp/setup", headers=person.auth)).json()
    assert setup["uri"].startswith("otpauth://totp/Buddo:")
    totp = pyotp.TOTP(setup["secret"])
    enabled = await client.post(
        "/api/auth/totp/enable", headers=person.auth, json={"code": totp.now()}
    )
    assert enabled.status == 200
    recovery = (await enabled.json())["recovery_codes"]
    assert len(recovery) == 10

    needs_code = await client.post(
        "/api/auth/login", json={"email": person.email, "password": person.password}
    )
    assert needs_code.status == 401
    assert await needs_code.json() == {
        "error": "totp_required",
        "message": "A TOTP code is required.",
        "totp_required": True,
    }
    next_code = totp.at(time.time() + 30)
    await person.login(totp_code=next_code)
    replayed = await client.post(
        "/api/auth/login",
        json={"email": person.email, "password": person.password, "totp_code": next_code},
    )
    assert replayed.status == 401
    assert (await replayed.json())["error"] == "unauthorized"
    step_up = await client.post(
        "/api/auth/totp/verify", headers=person.auth, json={"code": next_code}
    )
    assert await step_up.json() == {"valid": False}  # already used to sign in
    profile = await (await client.get("/api/auth/me", headers=person.auth)).json()
    assert profile["user"]["totp_enabled"] is True
    await person.login(totp_code=recovery[0])
    used_twice = await client.post(
        "/api/auth/login",
        json={"email": person.email, "password": person.password, "totp_code": recovery[0]},
    )
    assert used_twice.status == 401

    logout = await client.post("/api/auth/logout", headers=person.auth)
    assert logout.status == 200
    after = await client.get("/api/auth/me", headers=person.auth)
    assert after.status == 401
    assert after.headers["WWW-Authenticate"].startswith("Bearer")
