"""The token endpoint over real HTTP: codes, PKCE, client auth, refresh rotation, introspection."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import (
    DEFAULT_SCOPE,
    OTHER_REDIRECT_URI,
    assert_tokens_dead,
    authorize,
    basic_auth,
    bearer,
    connect,
    error_of,
    external_user,
    introspect,
    issue_code,
    pkce_pair,
    query_of,
    redeem,
    redirect_target,
    refresh,
    refreshed,
    register_app,
    revoke,
    s256,
    token_request,
    verified_person,
)
from tests.secret_scan import assert_secrets_not_stored

ACCESS_LIFETIME = 3600


def assert_token_response(body: dict[str, Any], scope: str) -> None:
    """The fields every successful token response has (spec 5.4)."""
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    assert sorted(body["scope"].split()) == sorted(scope.split())
    assert isinstance(body["access_token"], str)
    assert isinstance(body["refresh_token"], str)
    assert body["access_token"] != body["refresh_token"]


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


async def test_the_whole_happy_path(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, user, app)

    granted = await redeem(client, app, code, verifier)

    assert granted.status == 200, await granted.text()
    assert "no-store" in granted.headers["Cache-Control"]
    first = await granted.json()
    assert_token_response(first, DEFAULT_SCOPE)
    assert isinstance(first["session_token"], str)
    assert parse_time(first["session_token_expires_at"]) > datetime.now(UTC)
    profile = await external_user(client, first["access_token"])
    assert profile.status == 200, await profile.text()
    assert await profile.json() == {
        "user": {
            "id": user.user["id"],
            "username": user.username,
            "email": user.email,
            "tier": "free",
            "email_verified": True,
        }
    }

    rotated = await refresh(client, app, first["refresh_token"])

    assert rotated.status == 200, await rotated.text()
    assert "no-store" in rotated.headers["Cache-Control"]
    second = await rotated.json()
    assert_token_response(second, DEFAULT_SCOPE)
    assert "session_token" not in second
    assert "session_token_expires_at" not in second
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (await external_user(client, second["access_token"])).status == 200
    active = await introspect(client, second["access_token"])
    assert active["active"] is True
    assert active["user_id"] == user.user["id"]
    assert active["app_id"] == app.id
    assert sorted(active["scopes"]) == sorted(DEFAULT_SCOPE.split())
    expires_at = parse_time(active["expires_at"])
    now = datetime.now(UTC)
    assert now < expires_at <= now + timedelta(seconds=ACCESS_LIFETIME + 60)
    assert active["exp"] == int(expires_at.timestamp())
    assert (active["sub"], active["client_id"]) == (user.user["id"], app.client_id)
    assert (active["scope"], active["token_type"]) == (" ".join(active["scopes"]), "Bearer")
    refreshing = await introspect(client, second["refresh_token"])
    assert (refreshing["token_type"], refreshing["client_id"]) == ("refresh_token", app.client_id)

    revoked = await revoke(client, app, second["access_token"])

    assert revoked.status == 200
    assert await revoked.json() == {}
    assert await introspect(client, second["access_token"]) == {"active": False}
    refused = await external_user(client, second["access_token"])
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_session_token_of_a_grant_can_be_refreshed(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)

    response = await client.post(
        "/api/session/refresh", json={"session_token": tokens["session_token"]}
    )

    assert response.status == 200, await response.text()
    assert (await response.json())["session_token"] != tokens["session_token"]


async def test_form_encoded_grants_work_like_json(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)

    granted = await redeem(client, app, code, verifier, form=True)
    assert granted.status == 200, await granted.text()
    first = await granted.json()
    assert_token_response(first, DEFAULT_SCOPE)
    rotated = await refresh(client, app, first["refresh_token"], form=True)
    assert rotated.status == 200, await rotated.text()
    assert_token_response(await rotated.json(), DEFAULT_SCOPE)
    verified = await client.post(
        "/api/oauth/token/verify", data={"token": (await rotated.json())["access_token"]}
    )
    assert (await verified.json())["active"] is True


async def test_a_confidential_client_may_use_http_basic(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    assert app.secret is not None
    code, verifier = await issue_code(client, owner, app)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
    }

    granted = await token_request(
        client, fields, form=True, headers=basic_auth(app.client_id, app.secret)
    )

    assert granted.status == 200, await granted.text()
    tokens = await granted.json()
    rotated = await token_request(
        client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        form=True,
        headers=basic_auth(app.client_id, app.secret),
    )
    assert rotated.status == 200, await rotated.text()


@pytest.mark.parametrize("use_basic", [False, True], ids=["body", "basic"])
async def test_a_client_secret_post_app_authenticates_either_way(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    use_basic: bool,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, token_endpoint_auth_method="client_secret_post")
    assert isinstance(app.secret, str)
    code, verifier = await issue_code(client, owner, app)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
    }
    if use_basic:
        headers = basic_auth(app.client_id, app.secret)
    else:
        headers = {}
        fields.update(app.credentials())

    granted = await token_request(client, fields, headers=headers)

    assert granted.status == 200, await granted.text()


def _bad_credentials(
    case: str, client_id: str, secret: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(body credentials, headers) for one way of failing client authentication."""
    wrong = "bcs_" + secrets.token_urlsafe(32)
    return {
        "wrong-secret": ({"client_id": client_id, "client_secret": wrong}, {}),
        "no-secret": ({"client_id": client_id}, {}),
        "wrong-basic": ({}, basic_auth(client_id, wrong)),
        "unknown-client": ({"client_id": "bc_unknown", "client_secret": secret}, {}),
        "no-client": ({}, {}),
    }[case]


@pytest.mark.parametrize(
    "case", ["wrong-secret", "no-secret", "wrong-basic", "unknown-client", "no-client"]
)
async def test_bad_client_credentials_are_invalid_client(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    case: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    assert app.secret is not None
    code, verifier = await issue_code(client, owner, app)
    credentials, headers = _bad_credentials(case, app.client_id, app.secret)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
        **credentials,
    }

    response = await token_request(client, fields, headers=headers)

    assert await error_of(response, 401) == "invalid_client"
    assert response.headers["WWW-Authenticate"]
    assert "access_token" not in await response.text()


async def test_a_public_client_uses_pkce_alone(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(
        client, owner, token_endpoint_auth_method="none", redirect_uris=["com.example.app:/cb"]
    )
    assert app.body["client_secret"] is None
    verifier, challenge = pkce_pair()
    answer = await authorize(client, owner, app, challenge=challenge)
    target = await redirect_target(answer)
    assert target.startswith("com.example.app:/cb?")

    granted = await redeem(client, app, query_of(target)["code"], verifier)

    assert granted.status == 200, await granted.text()
    tokens = await granted.json()
    assert (await external_user(client, tokens["access_token"])).status == 200
    assert (await refresh(client, app, tokens["refresh_token"])).status == 200


async def test_a_public_client_sending_a_secret_is_invalid_client(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, token_endpoint_auth_method="none")
    code, verifier = await issue_code(client, owner, app)
    app.secret = "bcs_" + secrets.token_urlsafe(32)

    response = await redeem(client, app, code, verifier)

    assert await error_of(response, 401) == "invalid_client"


PKCE_FAILURES = [
    pytest.param("other", {"invalid_grant"}, id="wrong-verifier"),
    pytest.param("challenge", {"invalid_grant"}, id="challenge-as-verifier"),
    pytest.param("missing", {"invalid_request", "invalid_grant"}, id="missing"),
    pytest.param("short", {"invalid_request", "invalid_grant"}, id="42-chars"),
    pytest.param("long", {"invalid_request", "invalid_grant"}, id="129-chars"),
    pytest.param("charset", {"invalid_request", "invalid_grant"}, id="bad-characters"),
]


def _verifier_for(case: str, verifier: str) -> str | None:
    return {
        "other": pkce_pair()[0],
        "challenge": s256(verifier),
        "missing": None,
        "short": verifier[:42],
        "long": (verifier * 3)[:129],
        "charset": verifier[:50] + "+/=",
    }[case]


@pytest.mark.parametrize(("case", "errors"), PKCE_FAILURES)
async def test_a_code_needs_the_matching_code_verifier(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    case: str,
    errors: set[str],
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        **app.credentials(),
    }
    sent = _verifier_for(case, verifier)
    if sent is not None:
        fields["code_verifier"] = sent

    response = await token_request(client, fields)

    assert await error_of(response, 400) in errors


async def test_a_verifier_of_128_characters_is_accepted(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    verifier = ("abcXYZ019-._~" * 10)[:128]
    answer = await authorize(client, owner, app, challenge=s256(verifier))
    code = query_of(await redirect_target(answer))["code"]

    response = await redeem(client, app, code, verifier)

    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("redirect_uri", "errors"),
    [
        (OTHER_REDIRECT_URI, {"invalid_grant"}),
        ("https://app.example/callback/", {"invalid_grant"}),
        (None, {"invalid_request", "invalid_grant"}),
    ],
    ids=["other-registered-uri", "trailing-slash", "missing"],
)
async def test_a_code_is_bound_to_its_redirect_uri(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    redirect_uri: str | None,
    errors: set[str],
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        **app.credentials(),
    }
    if redirect_uri is not None:
        fields["redirect_uri"] = redirect_uri

    response = await token_request(client, fields)

    assert await error_of(response, 400) in errors


async def test_a_code_is_bound_to_its_client(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    other = await register_app(client, owner, app_name="Other")
    code, verifier = await issue_code(client, owner, app)

    response = await redeem(client, other, code, verifier, redirect_uri=app.redirect_uri)

    assert await error_of(response, 400) == "invalid_grant"


async def test_an_unknown_code_is_invalid_grant(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await redeem(client, app, "bac_" + secrets.token_urlsafe(32), pkce_pair()[0])

    assert await error_of(response, 400) == "invalid_grant"


async def test_a_code_redeemed_twice_fails_and_revokes_the_first_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)
    first = await redeem(client, app, code, verifier)
    assert first.status == 200, await first.text()
    tokens = await first.json()

    second = await redeem(client, app, code, verifier)

    assert await error_of(second, 400) == "invalid_grant"
    await assert_tokens_dead(client, app, tokens)


async def test_two_concurrent_redemptions_of_one_code_leave_no_live_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)

    responses = await asyncio.gather(
        redeem(client, app, code, verifier), redeem(client, app, code, verifier)
    )

    successes = [await r.json() for r in responses if r.status == 200]
    failures = [r for r in responses if r.status != 200]
    assert len(successes) <= 1
    for failure in failures:
        assert await error_of(failure, 400) == "invalid_grant"
    for tokens in successes:
        await assert_tokens_dead(client, app, tokens)


@pytest.mark.parametrize(
    "grant_type", ["password", "urn:ietf:params:oauth:grant-type:device_code", "implicit"]
)
async def test_an_unsupported_grant_type_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    grant_type: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await token_request(client, {"grant_type": grant_type, **app.credentials()})

    assert await error_of(response, 400) == "unsupported_grant_type"


async def test_unrecognized_token_parameters_are_ignored(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    """RFC 6749 3.2: the server MUST ignore unrecognized request parameters."""
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    code, verifier = await issue_code(client, owner, app)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
        "resource": "https://api.example/",
        "nonce": "n-0S6_WzA2Mj",
        **app.credentials(),
    }

    response = await token_request(client, fields, form=True)

    assert response.status == 200, await response.text()


async def test_a_token_request_without_grant_type_is_invalid_request(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await token_request(client, {"code": "bac_x", **app.credentials()})

    assert await error_of(response, 400) == "invalid_request"


async def test_a_refresh_returns_a_new_pair_and_a_retry_gets_the_same_pair(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app)

    second = await refreshed(client, app, first["refresh_token"])
    retried = await refreshed(client, app, first["refresh_token"])

    assert (retried["access_token"], retried["refresh_token"]) == (
        second["access_token"],
        second["refresh_token"],
    )
    assert (await external_user(client, second["access_token"])).status == 200
    third = await refreshed(client, app, second["refresh_token"])
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}
    assert (await external_user(client, third["access_token"])).status == 200


async def test_reusing_a_retired_refresh_token_revokes_the_whole_family(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app)
    second = await refreshed(client, app, first["refresh_token"])
    third = await refreshed(client, app, second["refresh_token"])

    reused = await refresh(client, app, first["refresh_token"])

    assert await error_of(reused, 400) == "invalid_grant"
    await assert_tokens_dead(client, app, third)
    for tokens in (first, second):
        assert await introspect(client, tokens["access_token"]) == {"active": False}
    assert await error_of(await refresh(client, app, second["refresh_token"]), 400) == (
        "invalid_grant"
    )


async def test_a_family_revocation_spares_other_grants(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    stolen = await connect(client, owner, app)
    other = await connect(client, owner, app)
    second = await refreshed(client, app, stolen["refresh_token"])
    await refreshed(client, app, second["refresh_token"])

    reused = await refresh(client, app, stolen["refresh_token"])

    assert await error_of(reused, 400) == "invalid_grant"
    assert (await external_user(client, other["access_token"])).status == 200
    assert (await refresh(client, app, other["refresh_token"])).status == 200


async def test_two_concurrent_refreshes_get_the_same_pair_and_revoke_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app)

    responses = await asyncio.gather(
        refresh(client, app, first["refresh_token"]), refresh(client, app, first["refresh_token"])
    )

    for response in responses:
        assert response.status == 200, await response.text()
    one, two = [await r.json() for r in responses]
    assert (one["access_token"], one["refresh_token"]) == (
        two["access_token"],
        two["refresh_token"],
    )
    assert (await introspect(client, one["access_token"]))["active"] is True
    assert (await refresh(client, app, one["refresh_token"])).status == 200


async def test_a_refresh_may_narrow_the_scopes(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app, scope="profile:read points:read")

    narrowed = await refreshed(client, app, first["refresh_token"], scope="points:read")

    assert narrowed["scope"] == "points:read"
    assert (await introspect(client, narrowed["access_token"]))["scopes"] == ["points:read"]
    response = await external_user(client, narrowed["access_token"])
    assert response.status == 403
    body = await response.json()
    assert body["error"] == "insufficient_scope"
    assert body["required_scope"] == "profile:read"


async def test_a_refresh_cannot_widen_the_scopes(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app, scope="points:read")

    widened = await refresh(client, app, first["refresh_token"], scope="points:read profile:read")

    assert await error_of(widened, 400) == "invalid_scope"
    # A refused request retires nothing: the refresh token still works as it was.
    kept = await refreshed(client, app, first["refresh_token"])
    assert kept["scope"] == "points:read"


async def test_a_refresh_token_is_bound_to_its_client(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    other = await register_app(client, owner, app_name="Other")
    tokens = await connect(client, owner, app)

    response = await refresh(client, other, tokens["refresh_token"])

    assert await error_of(response, 400) == "invalid_grant"


async def test_an_unknown_refresh_token_is_invalid_grant(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await refresh(client, app, "brt_" + secrets.token_urlsafe(32))

    assert await error_of(response, 400) == "invalid_grant"


async def test_jwts_and_oauth_tokens_are_not_interchangeable(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)

    jwt_on_oauth_route = await external_user(client, owner.token)
    oauth_on_jwt_route = await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))

    for response in (jwt_on_oauth_route, oauth_on_jwt_route):
        assert response.status == 401, await response.text()
        assert (await response.json())["error"] == "wrong_token_type"


@pytest.mark.parametrize("kind", ["unknown", "refresh-token", "session-token", "no-header"])
async def test_anything_but_a_live_access_token_is_refused_with_401(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    kind: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)
    headers = {
        "unknown": bearer("bat_" + secrets.token_urlsafe(32)),
        "refresh-token": bearer(tokens["refresh_token"]),
        "session-token": bearer(tokens["session_token"]),
        "no-header": {},
    }[kind]

    response = await client.get("/api/external/user", headers=headers)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "bat_" + "A" * 43, "brt_" + "A" * 43, "bat_" + "x" * 5000],
    ids=["empty", "garbage", "unknown-access", "unknown-refresh", "huge"],
)
async def test_introspecting_anything_unknown_is_just_inactive(
    client: TestClient,  # type: ignore[type-arg]
    token: str,
) -> None:
    response = await client.post("/api/oauth/token/verify", json={"token": token})

    assert response.status == 200, await response.text()
    assert await response.json() == {"active": False}


async def test_introspecting_a_jwt_is_inactive(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)

    assert await introspect(client, owner.token) == {"active": False}


async def test_no_credential_seen_over_http_is_stored_in_usable_form(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    public = await register_app(client, owner, token_endpoint_auth_method="none")
    seen: list[str] = list(app.seen_secrets)
    rotated = await client.post(f"/api/oauth/my-apps/{app.id}/rotate-secret", headers=owner.auth)
    app.secret = (await rotated.json())["client_secret"]
    seen.append(app.secret or "")
    session_tokens = []
    for client_app in (app, public):
        code, verifier = await issue_code(client, user, client_app)
        response = await redeem(client, client_app, code, verifier)
        tokens = await response.json()
        renewed = await refreshed(client, client_app, tokens["refresh_token"])
        seen += [code, tokens["session_token"]]
        seen += [t[k] for t in (tokens, renewed) for k in ("access_token", "refresh_token")]
        session_tokens.append(tokens["session_token"])
        await revoke(client, client_app, renewed["access_token"])
    session = await client.post("/api/session/refresh", json={"session_token": session_tokens[0]})
    if session.status == 200:
        seen.append((await session.json())["session_token"])

    assert_secrets_not_stored(settings, seen)
