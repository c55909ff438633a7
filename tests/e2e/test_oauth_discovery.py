"""OAuth authorization server metadata (RFC 8414) over real HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import ALL_SCOPES

METADATA = "/.well-known/oauth-authorization-server"


async def metadata(client: TestClient) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.get(METADATA)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


async def test_the_metadata_names_the_issuer_and_every_endpoint(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    document = await metadata(client)

    issuer = document["issuer"]
    assert issuer == settings.issuer
    base = issuer.rstrip("/")
    assert document["authorization_endpoint"] == f"{base}/api/oauth/authorize"
    assert document["token_endpoint"] == f"{base}/api/oauth/token"
    assert document["introspection_endpoint"] == f"{base}/api/oauth/token/verify"
    assert document["revocation_endpoint"] == f"{base}/api/oauth/revoke"


async def test_the_metadata_states_what_the_server_supports(client: TestClient) -> None:  # type: ignore[type-arg]
    document = await metadata(client)

    assert set(document["scopes_supported"]) == ALL_SCOPES
    assert len(document["scopes_supported"]) == len(ALL_SCOPES)
    assert document["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token"} <= set(document["grant_types_supported"])
    assert "implicit" not in document["grant_types_supported"]
    assert "password" not in document["grant_types_supported"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        document["token_endpoint_auth_methods_supported"]
    )


async def test_the_advertised_endpoints_answer(client: TestClient) -> None:  # type: ignore[type-arg]
    document = await metadata(client)

    def path(name: str) -> str:
        return urlsplit(document[name]).path

    token = await client.post(path("token_endpoint"), json={"grant_type": "password"})
    verify = await client.post(path("introspection_endpoint"), json={"token": "nonsense"})
    revoke = await client.post(
        path("revocation_endpoint"), json={"token": "nonsense", "client_id": "bc_nobody"}
    )
    assert token.status in {400, 401}
    errors = {"unsupported_grant_type", "invalid_client", "invalid_request"}
    assert (await token.json())["error"] in errors
    assert await verify.json() == {"active": False}
    # An unknown client may be told so (RFC 7009 2.2.1); either way the endpoint is there.
    assert revoke.status in {200, 401}
