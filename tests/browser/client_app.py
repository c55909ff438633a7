"""A tiny third-party app for the browser tests: it starts the flow and redeems the code.

`GET /start` sends the browser to the authorize URL with a fresh PKCE pair and state;
`GET /callback` checks the state, exchanges the code at `/api/oauth/token` with its client
secret, calls `/api/external/user` with the access token, and shows whom it met.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.e2e.oauth_helpers import basic_auth, pkce_pair

LOGO_URL = "https://logo.test/client-app.svg"
DEFAULT_SCOPE = "profile:read points:read"


def logo_svg() -> bytes:
    """The app's logo (served by the test itself: the browser never leaves the machine)."""
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56" viewBox="0 0 56 56">'
        b'<rect width="56" height="56" rx="12" fill="#2e7d32"/>'
        b'<text x="28" y="37" font-size="24" text-anchor="middle" fill="#fff">TA</text></svg>'
    )


@dataclass
class Callback:
    """What the app saw come back: the query, and the user when a code was redeemed."""

    query: dict[str, str]
    user: dict[str, Any] | None = None
    token_error: str | None = None


@dataclass
class ClientApp:
    """The client's state: its credentials, the flows it started, the callbacks it got."""

    buddo_url: str
    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    verifiers: dict[str, str] = field(default_factory=dict)
    callbacks: list[Callback] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/start", self.start)
        app.router.add_get("/callback", self.callback)
        return app

    async def start(self, request: web.Request) -> web.Response:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        self.verifiers[state] = verifier
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": request.query.get("scope", DEFAULT_SCOPE),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = URL(f"{self.buddo_url}/api/oauth/authorize").with_query(query)
        raise web.HTTPFound(str(url))

    async def callback(self, request: web.Request) -> web.Response:
        seen = Callback(dict(request.query))
        self.callbacks.append(seen)
        verifier = self.verifiers.pop(seen.query.get("state", ""), None)
        if verifier is None or "code" not in seen.query:
            return _page(f"Not connected: {seen.query.get('error', 'unknown state')}")
        async with aiohttp.ClientSession() as http:
            tokens = await self._redeem(http, seen.query["code"], verifier)
            if "access_token" not in tokens:
                seen.token_error = str(tokens.get("error"))
                return _page(f"Token exchange failed: {seen.token_error}")
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            async with http.get(f"{self.buddo_url}/api/external/user", headers=headers) as r:
                seen.user = (await r.json())["user"]
        return _page(f"Connected as {seen.user['username']}")

    async def _redeem(
        self, http: aiohttp.ClientSession, code: str, verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        headers = basic_auth(self.client_id, self.client_secret)
        async with http.post(f"{self.buddo_url}/api/oauth/token", data=form, headers=headers) as r:
            body: dict[str, Any] = await r.json()
            return body


def _page(message: str) -> web.Response:
    body = f"<!doctype html><title>Test App</title><h1>{html.escape(message)}</h1>"
    return web.Response(text=body, content_type="text/html")
