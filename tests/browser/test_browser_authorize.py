"""Browser mode of the authorize endpoint in a real headless Chromium (spec 5.3).

A tiny client app on its own loopback port starts each flow; the browser signs in on the
service's pages, consents or denies, and lands back on the app, which redeems the code and
calls `/api/external/user`. Each page is saved to test-artifacts/browser/ as a screenshot.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from http_api.settings import Settings
from tests.browser.client_app import LOGO_URL, ClientApp
from tests.browser.conftest import new_page
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import register_app, verified_person

pytestmark = pytest.mark.slow

Shot = Callable[[Page, str], Awaitable[Path]]
APP_NAME = "Test App"
SIGN_IN_TITLE = f"Sign in to continue to {APP_NAME}"
CONSENT_TITLE = f"Allow {APP_NAME} to use your Buddo account?"
WAIT_MS = 30_000  # an upper bound for a busy machine, never an expectation

expect.set_options(timeout=WAIT_MS)


async def ready(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
) -> Person:
    """The client app registered (its redirect URI on loopback), and a person to sign in."""
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(
        client,
        owner,
        redirect_uris=[client_app.redirect_uri],
        logo_url=LOGO_URL,
        website_url="https://test-app.example/",
    )
    client_app.client_id, client_app.client_secret = app.client_id, app.secret or ""
    return await verified_person(client, settings.data_dir)


async def enable_totp(client: TestClient, person: Person) -> pyotp.TOTP:  # type: ignore[type-arg]
    setup = await (await client.post("/api/auth/totp/setup", headers=person.auth)).json()
    totp = pyotp.TOTP(setup["secret"])
    enabled = await client.post(
        "/api/auth/totp/enable", headers=person.auth, json={"code": totp.now()}
    )
    assert enabled.status == 200, await enabled.text()
    return totp


async def sign_in(page: Page, person: Person, password: str | None = None) -> None:
    await expect(page.get_by_role("heading", level=1)).to_have_text(SIGN_IN_TITLE)
    await page.get_by_label("Email address").fill(person.email)
    await page.get_by_label("Password").fill(password or person.password)
    await page.get_by_role("button", name="Sign in").click()


async def session_cookies(page: Page) -> list[dict[str, Any]]:
    return [
        dict(cookie) for cookie in await page.context.cookies() if cookie["name"] == "buddo_session"
    ]


async def connected_apps(client: TestClient, person: Person) -> list[Any]:  # type: ignore[type-arg]
    response = await client.get("/api/user/connected-apps", headers=person.auth)
    apps: list[Any] = (await response.json())["apps"]
    return apps


async def test_sign_in_with_totp_consent_and_the_app_meets_the_person(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
    page: Page,
    screenshots: Shot,
) -> None:
    person = await ready(client, settings, client_app)
    totp = await enable_totp(client, person)

    first = await page.goto(f"{client_app.base_url}/start")
    assert first is not None
    assert page.url.startswith(str(client.make_url("/api/oauth/authorize?")))
    policy = first.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert f"form-action 'self' {client_app.base_url}" in policy
    assert first.headers["x-frame-options"] == "DENY"
    await screenshots(page, "1-sign-in")
    await sign_in(page, person)

    code_field = page.get_by_label("Verification code")
    await expect(code_field).to_be_visible()
    await expect(page.get_by_label("Password")).to_have_count(0)  # the password stays behind
    assert await session_cookies(page) == []
    await screenshots(page, "2-totp")
    await code_field.fill(totp.at(time.time() + 30))  # the next step: never the enabling one
    await page.get_by_role("button", name="Verify").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_TITLE)
    await expect(page.get_by_role("listitem")).to_have_text(
        ["See your username, email address and account tier", "See your points balance"]
    )
    await expect(page.locator("img")).to_have_js_property("naturalWidth", 56)  # the logo
    await expect(page.get_by_role("link", name="https://test-app.example/")).to_be_visible()
    await expect(page.get_by_text(person.email)).to_be_visible()
    await screenshots(page, "3-consent")
    await page.get_by_role("button", name="Allow").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Connected as {person.username}"
    )
    await screenshots(page, "4-back-at-the-app")
    callback = client_app.callbacks[-1]
    assert callback.user is not None
    assert callback.user["email"] == person.email
    assert callback.query["iss"] == settings.issuer
    (cookie,) = await session_cookies(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/api/oauth"
    assert [app["client_id"] for app in await connected_apps(client, person)] == [
        client_app.client_id
    ]


async def test_deny_sends_access_denied_and_the_state_back(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
    page: Page,
    screenshots: Shot,
) -> None:
    person = await ready(client, settings, client_app)

    await page.goto(f"{client_app.base_url}/start")
    await sign_in(page, person)
    await expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_TITLE)
    await page.get_by_role("button", name="Deny").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Not connected: access_denied")
    await screenshots(page, "denied")
    callback = client_app.callbacks[-1]
    assert callback.query["error"] == "access_denied"
    assert callback.query["state"]
    assert "code" not in callback.query
    assert await connected_apps(client, person) == []


async def test_a_wrong_password_is_shown_in_place_and_signs_nobody_in(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
    page: Page,
    screenshots: Shot,
) -> None:
    person = await ready(client, settings, client_app)

    await page.goto(f"{client_app.base_url}/start")
    await sign_in(page, person, password="not the password")

    await expect(page.get_by_role("alert")).to_have_text(
        "The email address or password is not right."
    )
    await expect(page.get_by_label("Email address")).to_have_value(person.email)
    await expect(page.get_by_label("Password")).to_have_value("")
    assert await session_cookies(page) == []
    await screenshots(page, "wrong-password")

    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_TITLE)


async def forge_csrf(page: Page, browser: Browser, client_app: ClientApp, kind: str) -> None:
    """Take this page's CSRF token away, or put another browser's or a made-up one there."""
    field = page.locator('input[name="csrf_token"]')
    if kind == "missing":
        await field.evaluate("element => element.remove()")
        return
    token = "0" * 64
    if kind == "other-browser":
        context, other = await new_page(browser)
        try:
            await other.goto(f"{client_app.base_url}/start")
            token = await other.locator('input[name="csrf_token"]').input_value()
        finally:
            await context.close()
    await field.evaluate("(element, token) => { element.value = token; }", token)


@pytest.mark.parametrize("kind", ["missing", "forged", "other-browser"])
@pytest.mark.parametrize("form", ["sign-in", "consent"])
async def test_a_form_without_this_browsers_csrf_token_does_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
    browser: Browser,
    page: Page,
    screenshots: Shot,
    form: str,
    kind: str,
) -> None:
    person = await ready(client, settings, client_app)
    await page.goto(f"{client_app.base_url}/start")
    if form == "consent":
        await sign_in(page, person)
        await expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_TITLE)
    await forge_csrf(page, browser, client_app, kind)

    async with page.expect_response(lambda response: response.request.method == "POST") as posted:
        if form == "consent":
            await page.get_by_role("button", name="Allow").click()
        else:
            await page.get_by_label("Email address").fill(person.email)
            await page.get_by_label("Password").fill(person.password)
            await page.get_by_role("button", name="Sign in").click()

    assert (await posted.value).status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form cannot be used")
    await screenshots(page, "refused")
    assert client_app.callbacks == []
    assert await connected_apps(client, person) == []
    if form == "sign-in":
        assert await session_cookies(page) == []


async def test_a_person_signed_in_already_goes_straight_to_consent(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    client_app: ClientApp,
    page: Page,
    screenshots: Shot,
) -> None:
    person = await ready(client, settings, client_app)
    await page.goto(f"{client_app.base_url}/start")
    await sign_in(page, person)
    await page.get_by_role("button", name="Allow").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Connected as {person.username}"
    )

    await page.goto(f"{client_app.base_url}/start")

    await expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_TITLE)
    await expect(page.get_by_label("Password")).to_have_count(0)
    await screenshots(page, "consent-when-signed-in")
    await page.get_by_role("button", name="Allow").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Connected as {person.username}"
    )
    assert [callback.user is not None for callback in client_app.callbacks] == [True, True]
