"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a tiny client app.

Chromium is the system one (`/usr/bin/chromium`, or BUDDO_TEST_CHROMIUM); Playwright never
downloads a browser here. Without it the tests are skipped with the reason, except under
CI=true, where a missing browser is a failure (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from tests.browser.client_app import LOGO_URL, ClientApp, logo_svg
from tests.conftest import IN_CI

CHROMIUM = os.environ.get("BUDDO_TEST_CHROMIUM", "/usr/bin/chromium")
# Headless, and quiet on a closed network: no updates, sync or other background requests.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, or a skip (a failure under CI) when it is not installed."""
    found = shutil.which(CHROMIUM)
    if found is None:
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " -- required in CI")
        pytest.skip(message + " -- browser tests skipped")
    return found


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """A headless Chromium for one test, closed afterwards."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _serve_logo(route: Route) -> None:
    await route.fulfill(status=200, content_type="image/svg+xml", body=logo_svg())


async def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    """A fresh browser profile (no cookies) with one tab; the app's logo is served locally."""
    context = await browser.new_context(viewport={"width": 720, "height": 900})
    await context.route(LOGO_URL, _serve_logo)
    return context, await context.new_page()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A tab in a fresh browser profile."""
    context, tab = await new_page(browser)
    try:
        yield tab
    finally:
        await context.close()


@pytest.fixture
async def client_app(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_server: Any,
) -> ClientApp:
    """The tiny third-party app, on its own loopback port, talking to the service."""
    app = ClientApp(str(client.make_url("")).rstrip("/"))
    server: TestServer = await aiohttp_server(app.web_app(), host="127.0.0.1")
    app.base_url = str(server.make_url("")).rstrip("/")
    return app


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Any:
    """`await shot(page, name)`: a full-page PNG in test-artifacts/browser/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")

    async def shot(tab: Page, name: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{name}.png"
        await tab.screenshot(path=str(path), full_page=True)
        return path

    return shot
