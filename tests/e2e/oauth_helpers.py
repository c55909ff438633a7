"""Helpers for the OAuth end-to-end tests: apps, PKCE, the authorize and token endpoints."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from commands.oauth import AppRegistered, RegisterApp
from commands.users import RegisterUser
from http_api.keys import SERVICES
from tests.e2e.helpers import Person, outbox_codes

REDIRECT_URI = "https://app.example/callback"
OTHER_REDIRECT_URI = "https://app.example/other-callback"
AUTO_SCOPES = ("profile:read", "points:read")
ADMIN_SCOPES = ("points:spend", "points:transfer", "app:balance:read", "deploy:manage")
ALL_SCOPES = frozenset(AUTO_SCOPES + ADMIN_SCOPES)
DEFAULT_SCOPE = "profile:read points:read"
STATE = "xyz-state-42"
MAIL_DEADLINE_SECONDS = 10.0  # mail is written in the background; a busy machine may be slow
JSON_ACCEPT = {"Accept": "application/json"}


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    """An HTTP Basic header with client credentials (RFC 6749 2.3.1)."""
    raw = f"{client_id}:{client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def query_of(url: str) -> dict[str, str]:
    """The query parameters of `url`, each expected once."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values()), url
    return {name: values[0] for name, values in parsed.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def verified_person(client: TestClient, data_dir: Path) -> Person:  # type: ignore[type-arg]
    """A registered user with a verified email, logged in (has a JWT)."""
    return await Person(client, data_dir).signed_up()


async def admin_person(client: TestClient, data_dir: Path) -> Person:  # type: ignore[type-arg]
    """An admin, made the way the CLI makes one, then logged in over HTTP."""
    admin = Person(client, data_dir)
    command = RegisterUser(admin.email, admin.username, admin.password, None, is_admin=True)
    await client.server.app[SERVICES].bus.execute(command)
    body = await admin.login()
    admin.user = body["user"]
    assert admin.user["is_admin"] is True
    return admin


async def new_mailed_code(person: Person, already: int) -> str:
    """The newest code mailed to `person` once more than `already` have arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAIL_DEADLINE_SECONDS
    while len(codes := outbox_codes(person.data_dir, person.email)) <= already:
        assert loop.time() < deadline, f"no new mail to {person.email}"
        await asyncio.sleep(0.02)
    return codes[-1]


@dataclass
class RegisteredApp:
    """An OAuth app as its owner saw it at creation, with every secret it was given."""

    owner: Person
    body: dict[str, Any]
    secret: str | None = None
    seen_secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.secret = self.body["client_secret"]
        if self.secret:
            self.seen_secrets.append(self.secret)

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def client_id(self) -> str:
        return str(self.body["client_id"])

    @property
    def redirect_uri(self) -> str:
        return str(self.body["redirect_uris"][0])

    def credentials(self) -> dict[str, str]:
        """Client credentials for a request body."""
        if self.secret is None:
            return {"client_id": self.client_id}
        return {"client_id": self.client_id, "client_secret": self.secret}


async def post_app(
    client: TestClient,  # type: ignore[type-arg]
    owner: Person,
    **fields: Any,
) -> ClientResponse:
    """`POST /api/oauth/apps` with sensible defaults for every field not given."""
    body: dict[str, Any] = {
        "app_name": "Test App",
        "redirect_uris": [REDIRECT_URI, OTHER_REDIRECT_URI],
        "requested_scopes": list(AUTO_SCOPES),
        "app_description": "An app made by a test.",
        "logo_url": "https://app.example/logo.png",
        "website_url": "https://app.example/",
        **fields,
    }
    return await client.post("/api/oauth/apps", json=body, headers=owner.auth)


async def register_app(
    client: TestClient,  # type: ignore[type-arg]
    owner: Person,
    **fields: Any,
) -> RegisteredApp:
    """A new app of `owner` (201 expected)."""
    response = await post_app(client, owner, **fields)
    assert response.status == 201, await response.text()
    return RegisteredApp(owner, (await response.json())["app"])


async def seeded_apps(
    client: TestClient,  # type: ignore[type-arg]
    owner: Person,
    count: int,
) -> list[AppRegistered]:
    """`count` apps of `owner`, registered through the command bus (over HTTP an owner may
    register 3 an hour), in the order made."""
    made = []
    for n in range(count):
        details = {"app_name": f"App {n}", "redirect_uris": [REDIRECT_URI]}
        command = RegisterApp(UUID(owner.user["id"]), details, list(AUTO_SCOPES))
        made.append(await client.server.app[SERVICES].bus.execute(command))
    return made


async def authorize(
    client: TestClient,  # type: ignore[type-arg]
    person: Person,
    app: RegisteredApp,
    *,
    challenge: str | None,
    scope: str | None = DEFAULT_SCOPE,
    state: str | None = STATE,
    redirect_uri: str | None = "",
    method: str | None = "S256",
    response_type: str | None = "code",
    client_id: str | None = "",
    as_json: bool = True,
) -> ClientResponse:
    """`GET /api/oauth/authorize` in API mode; a None parameter is left out of the query."""
    params = {
        "response_type": response_type,
        "client_id": client_id if client_id != "" else app.client_id,
        "redirect_uri": redirect_uri if redirect_uri != "" else app.redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": method,
    }
    headers = {**person.auth, **(JSON_ACCEPT if as_json else {})}
    return await client.get(
        "/api/oauth/authorize",
        params={name: value for name, value in params.items() if value is not None},
        headers=headers,
        allow_redirects=False,
    )


async def redirect_target(response: ClientResponse) -> str:
    """Where an authorize answer sends the browser, in JSON or 302 form."""
    if response.status == 302:
        return response.headers["Location"]
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) == {"redirect_to"}, body
    return str(body["redirect_to"])


async def issue_code(
    client: TestClient,  # type: ignore[type-arg]
    person: Person,
    app: RegisteredApp,
    *,
    scope: str = DEFAULT_SCOPE,
    redirect_uri: str = "",
) -> tuple[str, str]:
    """A fresh authorization code of `person` for `app`, with its code_verifier."""
    verifier, challenge = pkce_pair()
    response = await authorize(
        client, person, app, challenge=challenge, scope=scope, redirect_uri=redirect_uri
    )
    params = query_of(await redirect_target(response))
    assert "error" not in params, params
    assert params["state"] == STATE
    return params["code"], verifier


async def token_request(
    client: TestClient,  # type: ignore[type-arg]
    fields: dict[str, str],
    *,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    """`POST /api/oauth/token` as JSON, or as a form when `form`."""
    if form:
        return await client.post("/api/oauth/token", data=fields, headers=headers)
    return await client.post("/api/oauth/token", json=fields, headers=headers)


async def redeem(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    code: str,
    verifier: str,
    *,
    redirect_uri: str = "",
    form: bool = False,
) -> ClientResponse:
    """The authorization_code grant with body credentials."""
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or app.redirect_uri,
        "code_verifier": verifier,
        **app.credentials(),
    }
    return await token_request(client, fields, form=form)


async def connect(
    client: TestClient,  # type: ignore[type-arg]
    person: Person,
    app: RegisteredApp,
    *,
    scope: str = DEFAULT_SCOPE,
) -> dict[str, Any]:
    """Authorize and redeem: the token response of a fresh grant (200 expected)."""
    code, verifier = await issue_code(client, person, app, scope=scope)
    response = await redeem(client, app, code, verifier)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def refresh(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    refresh_token: str,
    *,
    scope: str | None = None,
    form: bool = False,
) -> ClientResponse:
    """The refresh_token grant with body credentials."""
    fields = {"grant_type": "refresh_token", "refresh_token": refresh_token, **app.credentials()}
    if scope is not None:
        fields["scope"] = scope
    return await token_request(client, fields, form=form)


async def refreshed(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    refresh_token: str,
    *,
    scope: str | None = None,
) -> dict[str, Any]:
    """A successful refresh's token response."""
    response = await refresh(client, app, refresh_token, scope=scope)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def introspect(client: TestClient, token: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """`POST /api/oauth/token/verify` (200 expected)."""
    response = await client.post("/api/oauth/token/verify", json={"token": token})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def revoke(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    token: str,
    *,
    hint: str | None = None,
    form: bool = False,
) -> ClientResponse:
    """`POST /api/oauth/revoke` with the app's credentials."""
    fields = {"token": token, **app.credentials()}
    if hint is not None:
        fields["token_type_hint"] = hint
    if form:
        return await client.post("/api/oauth/revoke", data=fields)
    return await client.post("/api/oauth/revoke", json=fields)


async def external_user(client: TestClient, access_token: str) -> ClientResponse:  # type: ignore[type-arg]
    """`GET /api/external/user` with an OAuth access token."""
    return await client.get("/api/external/user", headers=bearer(access_token))


async def error_of(response: ClientResponse, status: int) -> str:
    """The RFC 6749 error code of a token-endpoint failure with `status`."""
    text = await response.text()
    assert response.status == status, text
    body = await response.json()
    assert isinstance(body.get("error_description"), str), body
    return str(body["error"])


async def assert_tokens_work(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    tokens: dict[str, Any],
) -> dict[str, Any]:
    """The access token is accepted and active, and the refresh token still rotates."""
    response = await external_user(client, tokens["access_token"])
    assert response.status == 200, await response.text()
    assert (await introspect(client, tokens["access_token"]))["active"] is True
    return await refreshed(client, app, tokens["refresh_token"])


async def assert_tokens_dead(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    tokens: dict[str, Any],
    *,
    client_gone: bool = False,
) -> None:
    """The access token is refused and inactive, and the refresh token is `invalid_grant`
    (or, when the client itself was deleted, its credentials are `invalid_client`)."""
    response = await external_user(client, tokens["access_token"])
    assert response.status == 401, await response.text()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await introspect(client, tokens["access_token"]) == {"active": False}
    refused = await refresh(client, app, tokens["refresh_token"])
    expected = (401, "invalid_client") if client_gone else (400, "invalid_grant")
    assert await error_of(refused, expected[0]) == expected[1]
