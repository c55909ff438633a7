"""Browser mode of the authorize endpoint over plain HTTP: headers, cookies, refusals.

The journeys in a real browser are in tests/browser; these check what a browser would be
sent, and what a hand-made request cannot get past, without starting one.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from http_api.app import create_app
from http_api.settings import Settings, load_settings
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import (
    REDIRECT_URI,
    STATE,
    RegisteredApp,
    pkce_pair,
    query_of,
    register_app,
    verified_person,
)

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
POLICY = (
    "default-src 'none'; style-src 'self'; img-src https: data:; "
    "form-action 'self' https://app.example; frame-ancestors 'none'; base-uri 'none'"
)


def authorize_query(app: RegisteredApp, **change: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "scope": "profile:read",
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return query | change


async def open_page(
    client: TestClient,  # type: ignore[type-arg]
    query: dict[str, str],
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    """What a browser without a bearer header gets at the authorize URL."""
    return await client.get(
        "/api/oauth/authorize",
        params=query,
        headers={**BROWSER, **(headers or {})},
        allow_redirects=False,
    )


async def form_fields(response: ClientResponse) -> dict[str, str]:
    """The hidden fields of a page's form (the request and the CSRF token)."""
    page = await response.text()
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


async def ready(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    **fields: Any,
) -> tuple[Person, RegisteredApp]:
    owner = await verified_person(client, settings.data_dir)
    return owner, await register_app(client, owner, **fields)


async def test_the_sign_in_page_is_html_with_a_strict_policy_and_no_framing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    _, app = await ready(client, settings)

    response = await open_page(client, authorize_query(app))

    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["Content-Security-Policy"] == POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = await response.text()
    assert '<html lang="en">' in page
    assert 'autocomplete="current-password"' in page
    assert "<script" not in page
    fields = await form_fields(response)
    assert fields["redirect_uri"] == REDIRECT_URI
    assert len(fields["csrf_token"]) == 64


@pytest.mark.parametrize(
    ("host", "secure"),
    [("127.0.0.1", False), ("localhost", False), ("[::1]", False), ("buddo.example", True)],
)
async def test_cookies_are_http_only_lax_and_secure_except_on_loopback(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    host: str,
    secure: bool,
) -> None:
    _, app = await ready(client, settings)

    response = await open_page(client, authorize_query(app), headers={"Host": f"{host}:8080"})

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("buddo_browser=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/api/oauth" in cookie
    assert ("Secure" in cookie) is secure


async def test_everything_the_app_chose_is_escaped(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    _, app = await ready(
        client, settings, app_name='<script>alert("x")</script>', app_description="<b>hi</b>"
    )
    person = await verified_person(client, settings.data_dir)
    await sign_in(client, app, person)

    page = await (await open_page(client, authorize_query(app))).text()

    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page
    assert "<script" not in page
    assert "<b>" not in page


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "bc_no_such_client"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
    ],
    ids=["unknown-client", "other-host", "trailing-slash"],
)
async def test_a_bad_client_or_redirect_uri_is_an_error_page_never_a_redirect(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    change: dict[str, str],
) -> None:
    _, app = await ready(client, settings)

    response = await open_page(client, authorize_query(app, **change))

    assert response.status == 400
    assert "Location" not in response.headers
    assert response.content_type == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "This sign-in link does not work" in await response.text()


async def test_a_json_client_without_a_token_still_gets_401_json(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    _, app = await ready(client, settings)

    response = await client.get(
        "/api/oauth/authorize",
        params=authorize_query(app),
        headers={"Accept": "application/json"},
        allow_redirects=False,
    )

    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


async def test_a_scope_the_app_may_not_have_goes_back_before_anyone_signs_in(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    _, app = await ready(client, settings)

    response = await open_page(client, authorize_query(app, scope="points:spend"))

    assert response.status == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_scope"
    assert params["state"] == STATE


async def sign_in(
    client: TestClient,  # type: ignore[type-arg]
    app: RegisteredApp,
    person: Person,
) -> ClientResponse:
    """The sign-in form, posted as the page would; the client keeps the cookies."""
    fields = await form_fields(await open_page(client, authorize_query(app)))
    form = {**fields, "email": person.email, "password": person.password}
    return await client.post(
        "/api/oauth/authorize/login", data=form, headers=BROWSER, allow_redirects=False
    )


async def test_signing_in_sets_the_session_and_returns_to_the_authorize_url(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person, app = await ready(client, settings)

    response = await sign_in(client, app, person)

    assert response.status == 303
    assert response.headers["Location"].startswith("/api/oauth/authorize?")
    cookies = response.headers.getall("Set-Cookie")
    (session,) = [cookie for cookie in cookies if cookie.startswith("buddo_session=")]
    assert "HttpOnly" in session
    assert "Path=/api/oauth" in session
    # The session is an operator JWT from the login command: the API still wants it as a
    # bearer header, so the cookie alone opens nothing there.
    me = await client.get("/api/auth/me")
    assert me.status == 401


async def test_the_request_in_the_form_is_checked_again_on_every_post(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person, app = await ready(client, settings)
    assert (await sign_in(client, app, person)).status == 303
    fields = await form_fields(await open_page(client, authorize_query(app)))

    for change in ({"redirect_uri": "https://evil.example/callback"}, {"client_id": "bc_nope"}):
        response = await client.post(
            "/api/oauth/authorize/consent",
            data={**fields, **change, "decision": "allow"},
            headers=BROWSER,
            allow_redirects=False,
        )
        assert response.status == 400
        assert "Location" not in response.headers

    scope = await client.post(
        "/api/oauth/authorize/consent",
        data={**fields, "scope": "deploy:manage", "decision": "allow"},
        headers=BROWSER,
        allow_redirects=False,
    )
    assert scope.status == 302
    assert query_of(scope.headers["Location"])["error"] == "invalid_scope"


async def test_consent_without_a_session_asks_to_sign_in_again(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person, app = await ready(client, settings)
    assert (await sign_in(client, app, person)).status == 303
    fields = await form_fields(await open_page(client, authorize_query(app)))
    client.session.cookie_jar.clear(lambda cookie: cookie.key == "buddo_session")

    response = await client.post(
        "/api/oauth/authorize/consent",
        data={**fields, "decision": "allow"},
        headers=BROWSER,
        allow_redirects=False,
    )

    assert response.status == 200
    assert "Your sign-in has expired" in await response.text()
    assert 'name="password"' in await response.text()


async def test_a_code_step_without_the_password_step_starts_again(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    _, app = await ready(client, settings)
    fields = await form_fields(await open_page(client, authorize_query(app)))

    response = await client.post(
        "/api/oauth/authorize/login",
        data={**fields, "totp_code": "123456"},
        headers=BROWSER,
        allow_redirects=False,
    )

    assert response.status == 200
    assert "Your sign-in has expired" in await response.text()


async def test_the_stylesheet_is_served_as_css(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/oauth/authorize/style.css")

    assert response.status == 200
    assert response.content_type == "text/css"
    assert ":focus-visible" in await response.text()


async def test_too_many_sign_ins_is_a_page_with_retry_after(
    tmp_path: Path,
    aiohttp_client: Any,
) -> None:
    settings = load_settings(
        {"BUDDO_DATA_DIR": str(tmp_path / "data"), "BUDDO_RATE_LIMITS": "login=2/60"}
    )
    client: TestClient = await aiohttp_client(create_app(settings))  # type: ignore[type-arg]
    person, app = await ready(client, settings)  # one login over the API
    assert (await sign_in(client, app, person)).status == 303  # and one in the browser

    response = await sign_in(client, app, person)

    assert response.status == 429
    assert response.content_type == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in await response.text()


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=x", "application/json", "text/plain"],
)
@pytest.mark.parametrize("path", ["/api/oauth/authorize/login", "/api/oauth/authorize/consent"])
async def test_a_form_post_in_another_content_type_is_400(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    content_type: str,
) -> None:
    response = await client.post(
        path,
        data=b"response_type=code&client_id=&csrf_token=",
        headers={**BROWSER, "Content-Type": content_type},
        allow_redirects=False,
    )

    assert response.status == 400
    assert "application/x-www-form-urlencoded" in await response.text()
