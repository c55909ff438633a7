"""Attacks on operator JWTs and one-time codes, over real HTTP, on SQLite and PostgreSQL.

Every refused JWT is a 401 with the error JSON and a `WWW-Authenticate: Bearer` challenge.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from uuid import uuid4

import jwt
import pyotp
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from http_api.app import create_app
from http_api.settings import Settings
from tests.e2e.auth_helpers import (
    assert_refused,
    bearer,
    claims_of,
    forge,
    hs256_key,
    make_admin,
)
from tests.e2e.helpers import Person

# Six characters that str.isdigit() calls digits, though no TOTP code is made of them.
ARABIC_INDIC_DIGITS = "\u0660\u0665\u0669\u0662\u0664\u0660"
FULLWIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hand_made(header: dict[str, Any], claims: dict[str, Any], hs256_key: bytes | None) -> str:
    """A JWT built byte by byte (pyjwt refuses to make these): HS256 under any key, or unsigned."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if hs256_key is None:
        return signing_input + "."
    mac = hmac.new(hs256_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


async def signed_up(client: TestClient, settings: Settings) -> Person:  # type: ignore[type-arg]
    return await Person(client, settings.data_dir).signed_up()


@pytest.fixture
async def eddsa_client(settings: Settings, aiohttp_client: Any) -> TestClient:  # type: ignore[type-arg]
    """The service signing its JWTs with Ed25519 (BUDDO_JWT_ALGORITHM=EdDSA)."""
    test_client: TestClient = await aiohttp_client(  # type: ignore[type-arg]
        create_app(dataclasses.replace(settings, jwt_algorithm="EdDSA"))
    )
    return test_client


async def test_a_request_without_a_token_is_challenged(client: TestClient) -> None:  # type: ignore[type-arg]
    await assert_refused(await client.get("/api/auth/me"))


async def test_a_genuine_token_is_accepted(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    response = await client.get("/api/auth/me", headers=person.auth)
    assert response.status == 200
    assert (await response.json())["user"]["email"] == person.email


async def test_an_unsigned_token_is_refused(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    for alg in ("none", "None", "NONE"):
        token = hand_made({"alg": alg, "typ": "JWT"}, claims_of(person.token), None)
        await assert_refused(await client.get("/api/auth/me", headers=bearer(token)))


async def test_an_hs256_token_keyed_with_the_published_eddsa_key_is_refused(
    eddsa_client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await Person(eddsa_client, settings.data_dir).signed_up()
    assert jwt.get_unverified_header(person.token)["alg"] == "EdDSA"
    ok = await eddsa_client.get("/api/auth/me", headers=person.auth)
    assert ok.status == 200

    (jwk,) = (await (await eddsa_client.get("/.well-known/jwks.json")).json())["keys"]
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    public = Ed25519PublicKey.from_public_bytes(raw)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for key in (pem, raw, jwk["x"].encode(), json.dumps(jwk).encode()):
        token = hand_made({"alg": "HS256", "typ": "JWT"}, claims_of(person.token), key)
        await assert_refused(await eddsa_client.get("/api/auth/me", headers=bearer(token)))


async def test_an_eddsa_token_is_refused_by_an_hs256_service(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    assert jwt.get_unverified_header(person.token)["alg"] == "HS256"
    forged = jwt.encode(claims_of(person.token), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    await assert_refused(await client.get("/api/auth/me", headers=bearer(forged)))


async def test_an_expired_token_is_refused_as_expired(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    claims = claims_of(person.token) | {"iat": int(time.time()) - 7200}
    expired = forge(claims | {"exp": int(time.time()) - 3600}, hs256_key(settings.data_dir))
    await assert_refused(
        await client.get("/api/auth/me", headers=bearer(expired)), error="token_expired"
    )


async def test_a_tampered_signature_is_refused(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    head, payload, signature = person.token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    await assert_refused(await client.get("/api/auth/me", headers=bearer(tampered)))


@pytest.mark.parametrize(
    "changes",
    [
        {"typ": "access"},
        {"typ": None},
        {"exp": None},
        {"jti": None},
        {"iss": "https://evil.example"},
    ],
    ids=["wrong typ", "no typ", "no exp", "no jti", "other issuer"],
)
async def test_a_token_signed_with_the_real_key_but_bad_claims_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    changes: dict[str, object],
) -> None:
    person = await signed_up(client, settings)
    forged = forge(claims_of(person.token) | changes, hs256_key(settings.data_dir))
    await assert_refused(await client.get("/api/auth/me", headers=bearer(forged)))


async def test_a_token_of_an_unknown_user_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    key = hs256_key(settings.data_dir)
    claims = claims_of(person.token)
    nobody = forge(claims | {"sub": str(uuid4()), "jti": secrets.token_hex(16)}, key)
    await assert_refused(await client.get("/api/auth/me", headers=bearer(nobody)))
    # A genuine token id, claimed for somebody else.
    someone_else = forge(claims | {"sub": str(uuid4())}, key)
    await assert_refused(await client.get("/api/auth/me", headers=bearer(someone_else)))
    # The right user, but a token id the service never issued.
    never_issued = forge(claims | {"jti": secrets.token_hex(16)}, key)
    await assert_refused(await client.get("/api/auth/me", headers=bearer(never_issued)))


async def test_a_token_of_another_kind_is_the_wrong_type(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/auth/me", headers=bearer("bst_" + secrets.token_hex(20)))
    await assert_refused(response, error="wrong_token_type")


async def test_a_suspended_users_tokens_stop_working_and_they_cannot_sign_in(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await make_admin(client, settings.data_dir)
    person = await signed_up(client, settings)
    user_id = person.user["id"]

    suspended = await client.post(f"/api/admin/users/{user_id}/suspend", headers=admin.auth)
    assert suspended.status == 200
    assert (await suspended.json())["user"]["suspended"] is True
    await assert_refused(await client.get("/api/auth/me", headers=person.auth))
    login = await client.post(
        "/api/auth/login", json={"email": person.email, "password": person.password}
    )
    assert login.status == 403
    assert (await login.json())["error"] == "forbidden"

    lifted = await client.post(f"/api/admin/users/{user_id}/unsuspend", headers=admin.auth)
    assert lifted.status == 200
    await assert_refused(await client.get("/api/auth/me", headers=person.auth))
    await person.login()
    assert (await client.get("/api/auth/me", headers=person.auth)).status == 200


async def test_only_an_admin_may_suspend(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    other = await signed_up(client, settings)
    response = await client.post(
        f"/api/admin/users/{other.user['id']}/suspend", headers=person.auth
    )
    assert response.status == 403
    assert (await client.get("/api/auth/me", headers=other.auth)).status == 200


async def enable_totp(person: Person) -> tuple[pyotp.TOTP, str]:
    """Turn TOTP on for `person`; the TOTP and the code that turned it on."""
    setup = await person.client.post("/api/auth/totp/setup", headers=person.auth)
    totp = pyotp.TOTP((await setup.json())["secret"])
    code = totp.now()
    enabled = await person.client.post(
        "/api/auth/totp/enable", headers=person.auth, json={"code": code}
    )
    assert enabled.status == 200, await enabled.text()
    return totp, code


async def test_a_totp_code_is_accepted_once(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    totp, enabling_code = await enable_totp(person)

    async def login(code: str) -> int:
        response = await client.post(
            "/api/auth/login",
            json={"email": person.email, "password": person.password, "totp_code": code},
        )
        await response.read()
        return response.status

    async def verify(code: str) -> bool:
        response = await client.post(
            "/api/auth/totp/verify", headers=person.auth, json={"code": code}
        )
        assert response.status == 200
        valid: bool = (await response.json())["valid"]
        return valid

    assert await login(enabling_code) == 401  # used to enable
    assert await verify(enabling_code) is False

    next_code = totp.at(time.time() + 30)
    assert await login(next_code) == 200
    assert await login(next_code) == 401
    assert await verify(next_code) is False


async def test_a_code_accepted_by_verify_is_refused_at_login(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    totp, _ = await enable_totp(person)
    next_code = totp.at(time.time() + 30)
    verified = await client.post(
        "/api/auth/totp/verify", headers=person.auth, json={"code": next_code}
    )
    assert (await verified.json()) == {"valid": True}
    login = await client.post(
        "/api/auth/login",
        json={"email": person.email, "password": person.password, "totp_code": next_code},
    )
    assert login.status == 401
    assert await login.json() == {"error": "unauthorized", "message": "Invalid credentials."}


async def test_odd_totp_codes_are_refused_not_crashed_on(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    await enable_totp(person)
    for code in (ARABIC_INDIC_DIGITS, FULLWIDTH_DIGITS, "12345", "abcdef", " " * 6):
        login = await client.post(
            "/api/auth/login",
            json={"email": person.email, "password": person.password, "totp_code": code},
        )
        assert login.status == 401, code
        verify = await client.post(
            "/api/auth/totp/verify", headers=person.auth, json={"code": code}
        )
        assert await verify.json() == {"valid": False}, code


async def test_one_code_sent_twice_at_once_signs_in_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    totp, _ = await enable_totp(person)
    next_code = totp.at(time.time() + 30)
    body = {"email": person.email, "password": person.password, "totp_code": next_code}
    answers = await asyncio.gather(
        client.post("/api/auth/login", json=body), client.post("/api/auth/login", json=body)
    )
    assert sorted(a.status for a in answers) == [200, 401]
