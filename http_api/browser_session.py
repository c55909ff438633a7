"""The browser's state during sign-in and consent: cookies, CSRF tokens, the pending sign-in.

Three cookies, all `HttpOnly; SameSite=Lax; Path=/api/oauth` and `Secure` except on a
loopback host (development over plain HTTP):

    buddo_browser   a random id for this browser; CSRF tokens are an HMAC of it
    buddo_session   an operator JWT from the same sign-in command as /api/auth/login:
                    verified and checked for revocation like a bearer JWT, never read
                    by the API (which takes bearer headers only, so it cannot be CSRF'd)
    buddo_pending   between the password and the TOTP step: email and password sealed
                    (AES-GCM, bound to the browser id) for five minutes, never in the page
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from commands.credentials import SecretBox
from http_api.authn import Principal, authenticate_jwt
from http_api.keyring import load_keys
from http_api.keys import SERVICES
from ledger.errors import ForbiddenError, UnauthorizedError

BROWSER_COOKIE = "buddo_browser"
SESSION_COOKIE = "buddo_session"
PENDING_COOKIE = "buddo_pending"
COOKIE_PATH = "/api/oauth"
SESSION_SECONDS = 12 * 3600  # a browser sign-in lasts a working day (at most the JWT lifetime)
PENDING_SECONDS = 300  # time to type the TOTP code after the password
BROWSER_ID_BYTES = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class CsrfError(ForbiddenError):
    """A form came without this browser's CSRF token: nothing is done."""

    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from this site. Go back and try again."
        )


@dataclass(frozen=True)
class BrowserKeys:
    """Keys for browser state, derived from the service's secret key (one per purpose)."""

    csrf: bytes = field(repr=False)
    pending: SecretBox = field(repr=False)


BROWSER_KEYS: web.AppKey[BrowserKeys] = web.AppKey("browser_keys", BrowserKeys)


def derive(secret_key: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, so no two uses ever share a key."""
    return hmac.new(secret_key, f"buddo browser {purpose} v1".encode(), hashlib.sha256).digest()


async def browser_keys_context(app: web.Application) -> AsyncIterator[None]:
    """Load the keys once the services are open (it reads key files: off the event loop)."""
    settings = app[SERVICES].settings
    keys = await asyncio.get_running_loop().run_in_executor(None, load_keys, settings)
    app[BROWSER_KEYS] = BrowserKeys(
        csrf=derive(keys.secret_key, "csrf"),
        pending=SecretBox(derive(keys.secret_key, "pending sign-in")),
    )
    yield


def is_loopback(request: web.Request) -> bool:
    """The request's host is this machine: only there may cookies go without `Secure`."""
    host = (request.url.host or "").strip("[]").lower()
    return host in LOOPBACK_HOSTS


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    """Set one of our cookies with the flags every one of them carries."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=not is_loopback(request),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=COOKIE_PATH)


def browser_id(request: web.Request) -> str | None:
    """This browser's id, if it has one of the right shape."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    return value if 40 <= len(value) <= 64 and value.isascii() else None


def new_browser_id() -> str:
    return secrets.token_urlsafe(BROWSER_ID_BYTES)


def csrf_token(request: web.Request, browser: str, form: str) -> str:
    """The token of `form` ("login" or "consent") for this browser."""
    message = f"{form}\x00{browser}".encode()
    return hmac.new(request.app[BROWSER_KEYS].csrf, message, hashlib.sha256).hexdigest()


def check_csrf(request: web.Request, form: str, sent: str | None) -> str:
    """This browser's id when `sent` is its token for `form`; else CsrfError."""
    browser = browser_id(request)
    if browser is None or not sent:
        raise CsrfError
    if not hmac.compare_digest(csrf_token(request, browser, form).encode(), sent.encode()):
        raise CsrfError
    return browser


async def signed_in(request: web.Request) -> Principal | None:
    """The person signed in in this browser, if the session cookie is still good."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await authenticate_jwt(request, token)
    except UnauthorizedError:
        return None


def seal_pending(request: web.Request, browser: str, email: str, password: str) -> str:
    """Email and password, sealed for the TOTP step and bound to this browser."""
    plain = json.dumps({"email": email, "password": password, "at": int(time.time())})
    return request.app[BROWSER_KEYS].pending.seal(plain, f"pending:{browser}")


def open_pending(request: web.Request, browser: str) -> tuple[str, str] | None:
    """The email and password of a sign-in waiting for its TOTP code, if still fresh."""
    sealed = request.cookies.get(PENDING_COOKIE)
    if not sealed:
        return None
    try:
        data = json.loads(request.app[BROWSER_KEYS].pending.open(sealed, f"pending:{browser}"))
        fresh = time.time() - float(data["at"]) <= PENDING_SECONDS
        return (str(data["email"]), str(data["password"])) if fresh else None
    except (ValueError, TypeError, KeyError):  # not ours, not for this browser, or tampered
        return None
