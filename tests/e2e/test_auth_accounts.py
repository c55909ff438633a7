"""Accounts over real HTTP: registration, passwords, codes, TOTP off, usernames, no enumeration."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from commands import credentials
from http_api.settings import Settings
from tests.e2e.auth_helpers import (
    assert_refused,
    me_status,
    new_password,
    refresh,
    reset_code,
    start_session,
)
from tests.e2e.helpers import PASSWORD, Person, outbox_codes


async def signed_up(client: TestClient, settings: Settings) -> Person:  # type: ignore[type-arg]
    return await Person(client, settings.data_dir).signed_up()


async def second_login(person: Person) -> str:
    """Sign `person` in once more; the new JWT (person.token stays the first one)."""
    first = person.token
    await person.login()
    second, person.token = person.token, first
    return second


async def login_status(client: TestClient, email: str, password: str) -> int:  # type: ignore[type-arg]
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    await response.read()
    return response.status


async def register(client: TestClient, **body: str) -> ClientResponse:  # type: ignore[type-arg]
    tag = uuid.uuid4().hex[:8]
    fields = {"email": f"new-{tag}@example.com", "password": PASSWORD, "username": f"new_{tag}"}
    return await client.post("/api/auth/register", json=fields | body)


# Registration


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"username": "ab"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "émile_x"}, "username"),
        ({"referral_code": "nobody-has-this"}, "referral_code"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
async def test_registration_refuses_bad_fields_by_name(
    client: TestClient,  # type: ignore[type-arg]
    body: dict[str, str],
    field: str,
) -> None:
    response = await register(client, **body)
    assert response.status == 422
    answer = await response.json()
    assert answer["error"] == "validation_failed"
    assert list(answer["fields"]) == [field]
    assert answer["fields"][field]


async def test_registration_names_every_missing_field(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/api/auth/register", json={})
    assert response.status == 422
    assert set((await response.json())["fields"]) == {"email", "password", "username"}


async def test_registration_numbers_users_and_hands_out_referral_codes(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    first = await Person(client, settings.data_dir).register()
    second = await (await register(client, referral_code=first["referral_code"])).json()
    assert second["user"]["registration_number"] == first["registration_number"] + 1
    assert second["user"]["referral_code"] != first["referral_code"]


@pytest.mark.parametrize("kind", ["email", "username"])
async def test_a_taken_email_or_username_is_a_conflict_whatever_its_case(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    kind: str,
) -> None:
    person = Person(client, settings.data_dir)
    await person.register()
    taken = person.email.upper() if kind == "email" else person.username.upper()
    response = await register(client, **{kind: taken})
    assert response.status == 409
    assert (await response.json())["error"] == "conflict"


@pytest.mark.parametrize("kind", ["email", "username"])
async def test_two_registrations_at_once_of_one_name_make_one_account(
    client: TestClient,  # type: ignore[type-arg]
    kind: str,
) -> None:
    for _ in range(3):
        tag = uuid.uuid4().hex[:8]
        shared = f"same-{tag}@example.com" if kind == "email" else f"same_{tag}"
        spellings = [shared, shared.upper()] if kind == "username" else [shared, shared]
        responses = await asyncio.gather(*(register(client, **{kind: s}) for s in spellings))
        assert sorted(r.status for r in responses) == [201, 409]
        refused = next(r for r in responses if r.status == 409)
        assert (await refused.json())["error"] == "conflict"


# No enumeration


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": person.password}
    )
    wrong = await client.post(
        "/api/auth/login", json={"email": person.email, "password": "not the password"}
    )
    assert (unknown.status, await unknown.json()) == (wrong.status, await wrong.json())
    assert unknown.status == 401
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


async def test_an_unknown_email_still_costs_a_password_check(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    person = await signed_up(client, settings)
    checks: list[str] = []
    real_check: Callable[[str, str], bool] = credentials.verify_password

    def counting(password: str, encoded: str) -> bool:
        checks.append(password)
        return real_check(password, encoded)

    monkeypatch.setattr(credentials, "verify_password", counting)
    assert await login_status(client, "nobody@example.com", "a guess at it") == 401
    assert checks == ["a guess at it"]
    assert await login_status(client, person.email, "another guess") == 401
    assert checks == ["a guess at it", "another guess"]


async def test_forgot_password_answers_alike_for_known_and_unknown_emails(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    known = await client.post("/api/auth/forgot-password", json={"email": person.email})
    unknown = await client.post("/api/auth/forgot-password", json={"email": "nobody@example.com"})
    assert known.status == unknown.status == 200
    assert await known.json() == await unknown.json()
    assert (await known.json())["message"]
    assert await reset_code(person)  # and the known one did get mail


# Email verification


async def test_a_fresh_verification_code_replaces_the_earlier_one(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = Person(client, settings.data_dir)
    await person.register()
    await person.login()
    (first,) = outbox_codes(settings.data_dir, person.email)
    sent = await client.post("/api/auth/send-verification", headers=person.auth)
    assert sent.status == 200
    second = outbox_codes(settings.data_dir, person.email)[-1]
    assert second != first

    async def verify(code: str) -> ClientResponse:
        return await client.post("/api/auth/verify-email", json={"token": code})

    stale = await verify(first)
    assert stale.status == 400
    assert (await stale.json())["error"] == "invalid_request"
    fresh = await verify(second)
    assert await fresh.json() == {"message": "Email verified"}
    assert (await verify(second)).status == 400  # single use
    me = await (await client.get("/api/auth/me", headers=person.auth)).json()
    assert me["user"]["email_verified"] is True


@pytest.mark.parametrize(
    "code",
    ["nonsense", "0" * 32 + ".abc", uuid.uuid4().hex + "." + "x" * 43, "." * 3],
)
async def test_a_bad_verification_code_is_a_400(client: TestClient, code: str) -> None:  # type: ignore[type-arg]
    response = await client.post("/api/auth/verify-email", json={"token": code})
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_a_verification_code_does_not_verify_anyone_else(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    ada = Person(client, settings.data_dir)
    bob = Person(client, settings.data_dir)
    await ada.register()
    await bob.register()
    (ada_code,) = outbox_codes(settings.data_dir, ada.email)
    (bob_code,) = outbox_codes(settings.data_dir, bob.email)
    bob_id_ada_secret = bob_code.partition(".")[0] + "." + ada_code.partition(".")[2]
    response = await client.post("/api/auth/verify-email", json={"token": bob_id_ada_secret})
    assert response.status == 400


# Passwords


async def test_a_password_reset_ends_every_jwt_and_session(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    other_jwt = await second_login(person)
    session = await start_session(client, person.user["id"])
    old_password = person.password

    code = await reset_code(person)
    short = await client.post("/api/auth/reset-password", json={"token": code, "password": "x"})
    assert short.status == 422
    done = await client.post(
        "/api/auth/reset-password", json={"token": code, "password": "brand new secret"}
    )
    assert done.status == 200
    person.password = "brand new secret"

    assert await me_status(client, person.token) == 401
    assert await me_status(client, other_jwt) == 401
    await assert_refused(await refresh(client, session))
    assert await login_status(client, person.email, old_password) == 401
    await person.login()
    assert await me_status(client, person.token) == 200

    again = await client.post(
        "/api/auth/reset-password", json={"token": code, "password": "a third secret"}
    )
    assert again.status == 400  # the code worked once


async def test_a_newer_reset_code_replaces_the_older_one(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    first = await reset_code(person)
    second = await reset_code(person)
    stale = await client.post(
        "/api/auth/reset-password", json={"token": first, "password": "brand new secret"}
    )
    assert stale.status == 400
    fresh = await client.post(
        "/api/auth/reset-password", json={"token": second, "password": "brand new secret"}
    )
    assert fresh.status == 200


async def test_changing_the_password_keeps_only_the_jwt_used(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    other_jwt = await second_login(person)
    session = await start_session(client, person.user["id"])

    wrong = await client.post(
        "/api/auth/change-password",
        headers=person.auth,
        json={"current_password": "not it at all", "new_password": "brand new secret"},
    )
    assert wrong.status == 422
    assert list((await wrong.json())["fields"]) == ["current_password"]
    assert await me_status(client, other_jwt) == 200

    changed = await client.post(
        "/api/auth/change-password",
        headers=person.auth,
        json={"current_password": person.password, "new_password": "brand new secret"},
    )
    assert changed.status == 200
    assert await me_status(client, person.token) == 200
    assert await me_status(client, other_jwt) == 401
    await assert_refused(await refresh(client, session))
    assert await login_status(client, person.email, person.password) == 401
    assert await login_status(client, person.email, "brand new secret") == 200


async def test_a_reset_with_a_jwt_issued_meanwhile_still_revokes_it(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    code = await reset_code(person)
    await person.login()  # a JWT issued after the code was mailed, before the reset
    await client.post("/api/auth/reset-password", json={"token": code, "password": new_password()})
    assert await me_status(client, person.token) == 401


# TOTP off


async def enable_totp(person: Person) -> pyotp.TOTP:
    setup = await person.client.post("/api/auth/totp/setup", headers=person.auth)
    totp = pyotp.TOTP((await setup.json())["secret"])
    enabled = await person.client.post(
        "/api/auth/totp/enable", headers=person.auth, json={"code": totp.now()}
    )
    assert enabled.status == 200
    return totp


async def totp_enabled(person: Person) -> bool:
    me = await (await person.client.get("/api/auth/me", headers=person.auth)).json()
    enabled: bool = me["user"]["totp_enabled"]
    return enabled


async def disable(person: Person, **body: str) -> ClientResponse:
    return await person.client.post("/api/auth/totp/disable", headers=person.auth, json=body)


async def test_totp_is_turned_off_with_the_password(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    await enable_totp(person)
    assert await totp_enabled(person) is True
    wrong = await disable(person, password="not my password")
    assert wrong.status == 422
    assert await totp_enabled(person) is True

    off = await disable(person, password=person.password)
    assert await off.json() == {"totp_enabled": False}
    assert await totp_enabled(person) is False
    await person.login()  # no code needed any more
    again = await disable(person, password=person.password)
    assert again.status == 409


async def test_totp_is_turned_off_with_a_code(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    totp = await enable_totp(person)
    assert (await disable(person, code="000000")).status == 422
    assert (await disable(person)).status == 422
    off = await disable(person, code=totp.at(time.time() + 30))
    assert off.status == 200
    assert await off.json() == {"totp_enabled": False}
    assert await totp_enabled(person) is False


async def test_totp_is_turned_off_with_a_recovery_code(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    setup = await (await client.post("/api/auth/totp/setup", headers=person.auth)).json()
    enabled = await client.post(
        "/api/auth/totp/enable",
        headers=person.auth,
        json={"code": pyotp.TOTP(setup["secret"]).now()},
    )
    recovery = (await enabled.json())["recovery_codes"]
    assert len(set(recovery)) == 10
    off = await disable(person, code=recovery[3])
    assert await off.json() == {"totp_enabled": False}


async def test_enabling_totp_needs_the_current_code(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    not_yet = await client.post("/api/auth/totp/enable", headers=person.auth, json={"code": "1"})
    assert not_yet.status == 409  # no set-up yet
    setup = await (await client.post("/api/auth/totp/setup", headers=person.auth)).json()
    wrong = await client.post("/api/auth/totp/enable", headers=person.auth, json={"code": "000000"})
    assert wrong.status == 422
    assert await totp_enabled(person) is False
    right = await client.post(
        "/api/auth/totp/enable",
        headers=person.auth,
        json={"code": pyotp.TOTP(setup["secret"]).now()},
    )
    assert right.status == 200


# Username


async def put_me(person: Person, **body: Any) -> ClientResponse:
    return await person.client.put("/api/auth/me", headers=person.auth, json=body)


async def test_a_user_renames_themselves_and_frees_the_old_name(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    old_name = person.username
    new_name = f"renamed_{uuid.uuid4().hex[:8]}"
    renamed = await put_me(person, username=new_name)
    assert renamed.status == 200
    assert (await renamed.json())["user"]["username"] == new_name
    me = await (await client.get("/api/auth/me", headers=person.auth)).json()
    assert me["user"]["username"] == new_name

    newcomer = await register(client, username=old_name)
    assert newcomer.status == 201
    case_only = await put_me(person, username=new_name.upper())
    assert (await case_only.json())["user"]["username"] == new_name.upper()


async def test_a_taken_username_is_a_conflict(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    other = await signed_up(client, settings)
    taken = await put_me(person, username=other.username.upper())
    assert taken.status == 409
    assert (await taken.json())["error"] == "conflict"
    me = await (await client.get("/api/auth/me", headers=person.auth)).json()
    assert me["user"]["username"] == person.username


@pytest.mark.parametrize("username", ["ab", "has space", "x" * 31, 42])
async def test_a_bad_username_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    username: object,
) -> None:
    person = await signed_up(client, settings)
    response = await put_me(person, username=username)
    assert response.status == 422
    assert list((await response.json())["fields"]) == ["username"]


async def test_the_profile_has_every_documented_field(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    me = (await (await client.get("/api/auth/me", headers=person.auth)).json())["user"]
    documented = {
        "id", "email", "username", "tier", "points", "referral_code", "email_verified",
        "registration_number", "is_admin", "totp_enabled", "inserted_at",
    }  # fmt: skip
    assert documented <= set(me)
    assert me["inserted_at"].endswith("Z")
    assert me["points"] == 0


async def test_logout_ends_only_the_presented_jwt(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    other_jwt = await second_login(person)
    out = await client.post("/api/auth/logout", headers=person.auth)
    assert await out.json() == {"message": "Signed out"}
    await assert_refused(await client.get("/api/auth/me", headers=person.auth))
    await assert_refused(await client.post("/api/auth/logout", headers=person.auth))
    assert await me_status(client, other_jwt) == 200
