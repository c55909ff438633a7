"""The authorize endpoint in API mode (a JWT is the consent), over real HTTP."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import (
    OTHER_REDIRECT_URI,
    REDIRECT_URI,
    STATE,
    admin_person,
    authorize,
    connect,
    introspect,
    pkce_pair,
    query_of,
    redirect_target,
    register_app,
    verified_person,
)

# A challenge of the right length with a character base64url does not have.
NOT_BASE64URL = "+" * 43


async def test_a_json_request_gets_the_redirect_with_a_code_and_the_state(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    response = await authorize(client, owner, app, challenge=challenge)

    assert response.status == 200, await response.text()
    target = (await response.json())["redirect_to"]
    assert target.startswith(REDIRECT_URI + "?")
    params = query_of(target)
    assert set(params) - {"iss"} == {"code", "state"}
    assert params["state"] == STATE
    assert params["code"]
    # RFC 9207: an `iss` parameter, when sent, names this server.
    assert params.get("iss", settings.issuer) == settings.issuer


async def test_a_plain_request_is_a_302_to_the_redirect_uri(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    response = await authorize(client, owner, app, challenge=challenge, as_json=False)

    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location)["state"] == STATE
    assert query_of(location)["code"]


async def test_the_state_comes_back_exactly_as_sent(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()
    state = "a b&c=d/é?#+%20~"

    response = await authorize(client, owner, app, challenge=challenge, state=state)

    assert query_of(await redirect_target(response))["state"] == state


async def test_each_authorization_gets_a_different_code(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    first = await authorize(client, owner, app, challenge=challenge)
    second = await authorize(client, owner, app, challenge=challenge)

    codes = {query_of(await redirect_target(r))["code"] for r in (first, second)}
    assert len(codes) == 2


async def test_any_registered_redirect_uri_may_be_used(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    response = await authorize(
        client, owner, app, challenge=challenge, redirect_uri=OTHER_REDIRECT_URI
    )

    assert (await redirect_target(response)).startswith(OTHER_REDIRECT_URI + "?")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        REDIRECT_URI + "/",
        REDIRECT_URI + "/more",
        REDIRECT_URI[:-1],
        REDIRECT_URI + "?extra=1",
        REDIRECT_URI.replace("https", "http"),
        REDIRECT_URI.upper(),
        "https://evil.example/callback",
    ],
    ids=[
        "missing",
        "trailing-slash",
        "longer-path",
        "prefix",
        "extra-query",
        "http",
        "upper-case",
        "other-host",
    ],
)
async def test_a_redirect_uri_not_registered_exactly_is_an_error_page_not_a_redirect(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    redirect_uri: str | None,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    for as_json in (True, False):
        response = await authorize(
            client, owner, app, challenge=challenge, redirect_uri=redirect_uri, as_json=as_json
        )
        assert response.status == 400, await response.text()
        assert "Location" not in response.headers
        body = await response.json()
        assert body["error"] == "invalid_request"
        assert body["message"]
        assert "redirect_to" not in body


@pytest.mark.parametrize("client_id", [None, "bc_no_such_client"], ids=["missing", "unknown"])
async def test_an_unknown_client_is_an_error_page_not_a_redirect(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_id: str | None,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    response = await authorize(
        client, owner, app, challenge=challenge, client_id=client_id, as_json=False
    )

    assert response.status == 400, await response.text()
    assert "Location" not in response.headers
    assert (await response.json())["error"] == "invalid_request"


REDIRECTED_ERRORS = [
    pytest.param({"method": None}, "invalid_request", id="no-challenge-method"),
    pytest.param({"method": "plain"}, "invalid_request", id="plain-method"),
    pytest.param({"method": "S512"}, "invalid_request", id="unknown-method"),
    pytest.param({"challenge": None}, "invalid_request", id="no-challenge"),
    pytest.param({"challenge": "A" * 42}, "invalid_request", id="challenge-too-short"),
    pytest.param({"challenge": "A" * 44}, "invalid_request", id="challenge-too-long"),
    pytest.param({"challenge": NOT_BASE64URL}, "invalid_request", id="challenge-not-base64url"),
    pytest.param({"scope": "points:spend"}, "invalid_scope", id="scope-not-allowed"),
    pytest.param({"scope": "profile:read nope:read"}, "invalid_scope", id="unknown-scope"),
    pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
]


@pytest.mark.parametrize(("change", "error"), REDIRECTED_ERRORS)
async def test_other_errors_redirect_with_error_description_and_state(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    change: dict[str, str | None],
    error: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()
    arguments = {"challenge": challenge, **change}

    response = await authorize(client, owner, app, as_json=False, **arguments)  # type: ignore[arg-type]

    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["error"] == error
    assert params["error_description"]
    assert params["state"] == STATE
    assert "code" not in params


async def test_a_json_request_gets_the_error_redirect_as_redirect_to(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    response = await authorize(client, owner, app, challenge=challenge, scope="deploy:manage")

    assert response.status == 200, await response.text()
    target = (await response.json())["redirect_to"]
    assert target.startswith(REDIRECT_URI + "?")
    params = query_of(target)
    assert params["error"] == "invalid_scope"
    assert params["state"] == STATE
    assert "code" not in params


async def test_a_suspended_app_is_refused_as_unauthorized_client(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner)
    _, challenge = pkce_pair()

    suspended = await client.post(f"/api/admin/apps/{app.id}/suspend", headers=admin.auth)
    assert suspended.status == 200, await suspended.text()
    refused = await authorize(client, owner, app, challenge=challenge, as_json=False)
    assert refused.status == 302, await refused.text()
    params = query_of(refused.headers["Location"])
    assert params["error"] == "unauthorized_client"
    assert params["state"] == STATE
    assert "code" not in params

    unsuspended = await client.post(f"/api/admin/apps/{app.id}/unsuspend", headers=admin.auth)
    assert unsuspended.status == 200, await unsuspended.text()
    again = await authorize(client, owner, app, challenge=challenge)
    assert "code" in query_of(await redirect_target(again))


async def test_the_token_carries_exactly_the_scopes_asked_for(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    tokens = await connect(client, owner, app, scope="points:read")

    assert tokens["scope"] == "points:read"
    assert (await introspect(client, tokens["access_token"]))["scopes"] == ["points:read"]


async def test_authorize_needs_an_operator_jwt_not_an_oauth_token(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)
    _, challenge = pkce_pair()
    owner.token = tokens["access_token"]

    response = await authorize(client, owner, app, challenge=challenge)

    assert response.status == 401, await response.text()
    assert (await response.json())["error"] == "wrong_token_type"
    assert "Location" not in response.headers
