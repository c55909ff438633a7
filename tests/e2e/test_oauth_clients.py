"""Real, unmodified OAuth client libraries against the server on a loopback port.

Authlib's and requests-oauthlib's `OAuth2Session`s build the authorization URL with an S256
challenge, redeem the code with their verifier, use the access token, refresh and introspect
(and revoke), as a third-party app would. They are synchronous (requests), so each of their
calls runs in a thread while the server keeps serving on the test's event loop. The consent
itself is the API mode of spec 5.3: the user's JWT on `GET /api/oauth/authorize`, done with the
test's aiohttp client on the very URL the library built.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
import requests
from aiohttp.test_utils import TestClient
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.oauth2.rfc6750 import InsufficientScopeError
from authlib.oauth2.rfc7662 import IntrospectionToken, IntrospectTokenValidator
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession
from yarl import URL

from commands.credentials import pkce_s256
from http_api.settings import Settings
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import (
    AUTO_SCOPES,
    DEFAULT_SCOPE,
    JSON_ACCEPT,
    STATE,
    RegisteredApp,
    assert_tokens_dead,
    authorize,
    external_user,
    introspect,
    query_of,
    redeem,
    redirect_target,
    register_app,
    verified_person,
)
from tests.unit.test_pkce import RFC7636_CHALLENGE, RFC7636_VERIFIER

HTTP_TIMEOUT_SECONDS = 30.0  # a bound for a hung request, not an expectation of speed
CLIENT_KINDS = ["confidential", "public"]

T = TypeVar("T")


async def in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking library call, off the event loop that serves it."""
    return await asyncio.to_thread(call, *args, **kwargs)


class Endpoints:
    """The server's absolute URLs, as a client configured from discovery would hold them."""

    def __init__(self, client: TestClient) -> None:  # type: ignore[type-arg]
        self.base = str(client.make_url("/")).rstrip("/")
        self.authorize = f"{self.base}/api/oauth/authorize"
        self.token = f"{self.base}/api/oauth/token"
        self.introspect = f"{self.base}/api/oauth/token/verify"
        self.revoke = f"{self.base}/api/oauth/revoke"
        self.user = f"{self.base}/api/external/user"


async def consent(
    client: TestClient,  # type: ignore[type-arg]
    person: Person,
    authorization_url: str,
) -> str:
    """The user's consent in API mode on the library's own URL: where the browser would go."""
    assert authorization_url.startswith(str(client.make_url("/api/oauth/authorize"))), (
        authorization_url
    )
    response = await client.session.get(
        URL(authorization_url, encoded=True),
        headers={**person.auth, **JSON_ACCEPT},
        allow_redirects=False,
    )
    location = await redirect_target(response)
    params = query_of(location)
    assert "error" not in params, params
    assert params["state"] == STATE
    return location


async def new_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    kind: str,
) -> tuple[Person, RegisteredApp]:
    """A user, and an app of `kind` registered by someone else."""
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    if kind == "public":
        app = await register_app(client, owner, token_endpoint_auth_method="none")
        assert app.secret is None
    else:
        app = await register_app(client, owner)
        assert app.secret
    return user, app


def assert_token_response(token: dict[str, Any]) -> None:
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    scope = token["scope"]  # oauthlib hands it back as a list, Authlib as the string sent
    assert sorted(scope if isinstance(scope, list) else scope.split()) == sorted(AUTO_SCOPES)
    assert token["access_token"] != token["refresh_token"]


def assert_active(body: dict[str, Any], user: Person, app: RegisteredApp) -> None:
    assert body["active"] is True, body
    assert body["user_id"] == user.user["id"]
    assert body["app_id"] == app.id
    assert sorted(body["scopes"]) == sorted(AUTO_SCOPES)


class Introspected(IntrospectTokenValidator):
    """Authlib's resource-server validator, fed an answer already fetched."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer

    def introspect_token(self, token_string: str) -> IntrospectionToken:  # noqa: ARG002
        return IntrospectionToken(self.answer)


def assert_rfc7662(body: dict[str, Any], user: Person, app: RegisteredApp) -> None:
    """RFC 7662's members, as Authlib's resource-server side reads them."""
    validator = Introspected(body)
    token = validator.authenticate_token("unused")
    assert token.token_type == "Bearer"
    assert token.get_client_id() == app.client_id
    assert token.sub == user.user["id"]
    assert isinstance(token.exp, int)
    assert token.get_expires_at() == int(datetime.fromisoformat(body["expires_at"]).timestamp())
    assert token.get_expires_at() > time.time() + 3_000
    assert sorted(token.get_scope().split()) == sorted(AUTO_SCOPES)
    validator.validate_token(token, ["profile:read points:read"], None)
    with pytest.raises(InsufficientScopeError):
        validator.validate_token(token, ["points:spend"], None)


def profile_status(session: requests.Session, url: str) -> int:
    """GET the external profile through the library's session (it adds the bearer token)."""
    with session.get(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
        return response.status_code


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_authlib_oauth2_session_does_the_whole_flow(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    kind: str,
) -> None:
    user, app = await new_app(client, settings, kind)
    urls = Endpoints(client)
    method = "client_secret_basic" if kind == "confidential" else "none"
    with AuthlibSession(
        client_id=app.client_id,
        client_secret=app.secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        scope=DEFAULT_SCOPE,
        redirect_uri=app.redirect_uri,
        code_challenge_method="S256",
    ) as session:
        verifier = generate_token(48)  # as Authlib's own clients make one
        authorization_url, state = session.create_authorization_url(
            urls.authorize, state=STATE, code_verifier=verifier
        )
        assert state == STATE
        assert query_of(authorization_url)["code_challenge"] == pkce_s256(verifier)
        assert query_of(authorization_url)["code_challenge_method"] == "S256"
        location = await consent(client, user, authorization_url)

        token = await in_thread(
            session.fetch_token,
            urls.token,
            authorization_response=location,
            state=STATE,
            code_verifier=verifier,
            timeout=HTTP_TIMEOUT_SECONDS,
        )

        assert_token_response(token)
        assert isinstance(token["session_token"], str)  # authorization_code grants only
        assert await in_thread(profile_status, session, urls.user) == 200
        first = dict(token)

        renewed = await in_thread(session.refresh_token, urls.token, timeout=HTTP_TIMEOUT_SECONDS)

        assert_token_response(renewed)
        assert renewed["refresh_token"] != first["refresh_token"]
        assert renewed["access_token"] != first["access_token"]
        assert "session_token" not in renewed
        assert session.token["access_token"] == renewed["access_token"]
        assert await in_thread(profile_status, session, urls.user) == 200

        introspected = await in_thread(
            session.introspect_token,
            urls.introspect,
            token=renewed["access_token"],
            token_type_hint="access_token",
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        assert introspected.status_code == 200, introspected.text
        assert_active(introspected.json(), user, app)
        assert_rfc7662(introspected.json(), user, app)
        retired = await in_thread(
            session.introspect_token,
            urls.introspect,
            token=first["refresh_token"],
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        assert retired.json() == {"active": False}

        revoked = await in_thread(
            session.revoke_token,
            urls.revoke,
            token=renewed["refresh_token"],
            token_type_hint="refresh_token",
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        assert revoked.status_code == 200, revoked.text
        assert await in_thread(profile_status, session, urls.user) == 401

    await assert_tokens_dead(client, app, renewed)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_requests_oauthlib_oauth2_session_does_the_whole_flow(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # oauthlib refuses plain http unless told; the server is on loopback in this test only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    user, app = await new_app(client, settings, kind)
    urls = Endpoints(client)
    basic = HTTPBasicAuth(app.client_id, app.secret) if app.secret else None
    # A public client names itself in the body; a confidential one uses HTTP Basic.
    in_body = {} if app.secret else {"client_id": app.client_id}
    with RequestsOAuthlibSession(
        app.client_id,
        redirect_uri=app.redirect_uri,
        scope=list(AUTO_SCOPES),
        pkce="S256",
    ) as session:
        authorization_url, state = session.authorization_url(urls.authorize, state=STATE)
        assert state == STATE
        query = query_of(authorization_url)
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43
        location = await consent(client, user, authorization_url)

        token = await in_thread(
            session.fetch_token,
            urls.token,
            authorization_response=location,
            auth=basic,
            timeout=HTTP_TIMEOUT_SECONDS,
            **({} if app.secret else {"include_client_id": True}),
        )

        assert_token_response(token)
        assert await in_thread(profile_status, session, urls.user) == 200
        first = dict(token)

        renewed = await in_thread(
            session.refresh_token,
            urls.token,
            auth=basic,
            timeout=HTTP_TIMEOUT_SECONDS,
            **in_body,
        )

        assert_token_response(renewed)
        assert renewed["refresh_token"] != first["refresh_token"]
        assert session.token["access_token"] == renewed["access_token"]
        assert await in_thread(profile_status, session, urls.user) == 200

        def introspect_with_client(token_value: str) -> dict[str, Any]:
            data = {"token": token_value, **({} if basic else {"client_id": app.client_id})}
            with session.post(
                urls.introspect,
                data=data,
                auth=basic,
                withhold_token=True,
                timeout=HTTP_TIMEOUT_SECONDS,
            ) as response:
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

        assert_active(await in_thread(introspect_with_client, renewed["access_token"]), user, app)
        assert await in_thread(introspect_with_client, first["refresh_token"]) == {"active": False}

    assert (await external_user(client, renewed["access_token"])).status == 200


async def test_the_rfc_7636_appendix_b_vector_over_http(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    user, app = await new_app(client, settings, "confidential")
    response = await authorize(client, user, app, challenge=RFC7636_CHALLENGE)
    code = query_of(await redirect_target(response))["code"]

    granted = await redeem(client, app, code, RFC7636_VERIFIER)

    assert granted.status == 200, await granted.text()
    body = await granted.json()
    assert_active(await introspect(client, body["access_token"]), user, app)


async def test_a_verifier_one_character_off_the_vector_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    user, app = await new_app(client, settings, "public")
    response = await authorize(client, user, app, challenge=RFC7636_CHALLENGE)
    code = query_of(await redirect_target(response))["code"]

    refused = await redeem(client, app, code, RFC7636_VERIFIER[:-1] + "j")

    assert refused.status == 400
    assert (await refused.json())["error"] == "invalid_grant"


def test_authlib_computes_the_rfc_7636_vector() -> None:
    """The library and the server agree on S256 for the published vector."""
    with AuthlibSession(client_id="x", code_challenge_method="S256") as session:
        url, _ = session.create_authorization_url(
            "https://as.example/api/oauth/authorize",
            code_verifier=RFC7636_VERIFIER,
        )
    assert query_of(url)["code_challenge"] == RFC7636_CHALLENGE
