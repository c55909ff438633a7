"""Browser mode of the authorize endpoint (spec 5.3): sign-in, TOTP and consent pages.

`GET /api/oauth/authorize` without an Authorization header comes here once the client and its
redirect URI are known good: a person signed in in this browser sees the consent page, anyone
else the sign-in page. The forms post back with the authorization request in hidden fields,
which is checked again on every post as if it had never been seen (the form is not trusted),
and with a CSRF token bound to the browser.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from aiohttp import web
from multidict import MultiDict

from commands import users
from http_api import browser_session as session
from http_api.authorize_request import (
    Parameters,
    authorize_parameters,
    check_authorize_request,
    consent_location,
    error_location,
    registered_client,
    with_query,
)
from http_api.browser_pages import page, stylesheet
from http_api.errors import InvalidRequestError
from http_api.keys import SERVICES
from http_api.openapi import HTML_PAGE
from http_api.parsing import FORM
from http_api.routes import Route
from ledger.errors import OAuthProtocolError, TotpRequiredError, UnauthorizedError
from projections import user_queries
from projections.oauth_queries import AppView

LOGIN_PATH = "/api/oauth/authorize/login"
CONSENT_PATH = "/api/oauth/authorize/consent"
STYLESHEET_PATH = "/api/oauth/authorize/style.css"
MAX_FIELD_LENGTH = 256  # email and password as /api/auth/login bounds them
MAX_CODE_LENGTH = 64
# What each scope lets the app do, in the words of the person asked (spec section 3).
SCOPE_WORDS = {
    "profile:read": "See your username, email address and account tier",
    "points:read": "See your points balance",
    "points:spend": "Spend your points in this app",
    "points:transfer": "Send your points to other people",
    "app:balance:read": "See this app's own balance and analytics",
    "deploy:manage": "Deploy, restart and stop this app's servers",
}
BAD_SIGN_IN = "The email address or password is not right."
WRONG_CODE = "That code is not right, or was used already."
SIGN_IN_AGAIN = "Your sign-in has expired. Please sign in again."


def found(location: str) -> web.Response:
    """A 302 to `location` that no cache keeps."""
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def requested_scopes(app: AppView, parameters: Parameters) -> list[str]:
    """The scopes to ask the person about, or the error to send back before asking."""
    scopes = check_authorize_request(parameters, suspended=app.suspended)
    if not set(scopes) <= set(app.allowed_scopes):
        raise OAuthProtocolError("invalid_scope", "The app may not ask for that scope.")
    return sorted(set(scopes), key=list(SCOPE_WORDS).index)


def form_context(
    request: web.Request, browser: str, app: AppView, parameters: Parameters, form: str
) -> dict[str, Any]:
    """What every form page shows and carries: the app, the request, the CSRF token."""
    return {
        "app": app,
        "hidden": {name: value for name, value in parameters.items() if value is not None},
        "csrf_token": session.csrf_token(request, browser, form),
    }


def login_page(
    request: web.Request,
    browser: str,
    app: AppView,
    parameters: Parameters,
    *,
    totp: bool = False,
    error: str = "",
    email: str = "",
) -> web.Response:
    context = form_context(request, browser, app, parameters, "login")
    context |= {"action": LOGIN_PATH, "totp": totp, "error": error, "email": email}
    return page(request, "login.html", context, redirect_uri=parameters["redirect_uri"])


async def consent_page(
    request: web.Request, browser: str, app: AppView, parameters: Parameters, user_id: UUID
) -> web.Response:
    person = await user_queries.user(request.app[SERVICES].reads, user_id)
    context = form_context(request, browser, app, parameters, "consent")
    scopes = [(scope, SCOPE_WORDS[scope]) for scope in requested_scopes(app, parameters)]
    website = app.website_url or ""
    context |= {
        "action": CONSENT_PATH,
        "scopes": scopes,
        "person": person,
        "website": website if website.startswith(("https://", "http://")) else "",
    }
    return page(request, "consent.html", context, redirect_uri=parameters["redirect_uri"])


def keep_browser(response: web.Response, request: web.Request, browser: str) -> web.Response:
    """Give the browser its id cookie if it did not send this one."""
    if session.browser_id(request) != browser:
        session.set_cookie(response, request, session.BROWSER_COOKIE, browser)
    return response


async def sign_in_or_consent(
    request: web.Request, app: AppView, parameters: Parameters
) -> web.Response:
    """GET in browser mode: the consent page if signed in here, else the sign-in page."""
    services = request.app[SERVICES]
    try:
        requested_scopes(app, parameters)
    except OAuthProtocolError as error:
        return found(error_location(services, parameters, error))
    browser = session.browser_id(request) or session.new_browser_id()
    user = await session.signed_in(request)
    if user is None:
        response = login_page(request, browser, app, parameters)
    else:
        response = await consent_page(request, browser, app, parameters, user.user_id)
    return keep_browser(response, request, browser)


async def posted_request(
    request: web.Request, form_name: str
) -> tuple[MultiDict[str], str, AppView, Parameters]:
    """A posted form: CSRF first (nothing happens without it), then the request, re-checked.
    Only a urlencoded form, which is what these pages' forms send (they upload no files)."""
    if request.content_type != FORM:
        raise InvalidRequestError(f"Content-Type must be {FORM}.")
    posted = await request.post()
    form = MultiDict((name, value) for name, value in posted.items() if isinstance(value, str))
    browser = session.check_csrf(request, form_name, form.get("csrf_token"))
    parameters = authorize_parameters(form)
    app = await registered_client(request.app[SERVICES], parameters)
    return form, browser, app, parameters


async def sign_in(request: web.Request) -> web.Response:
    """POST the password, or the TOTP code: sign in with the API's login command."""
    services = request.app[SERVICES]
    form, browser, app, parameters = await posted_request(request, "login")
    try:
        requested_scopes(app, parameters)
    except OAuthProtocolError as error:
        return found(error_location(services, parameters, error))
    code = form.get("totp_code")
    email, password = form.get("email", "").strip(), form.get("password", "")
    if code is not None:
        pending = session.open_pending(request, browser)
        if pending is None:
            return login_page(request, browser, app, parameters, error=SIGN_IN_AGAIN)
        email, password, code = *pending, code.strip()[:MAX_CODE_LENGTH]
    if len(email) > MAX_FIELD_LENGTH or len(password) > MAX_FIELD_LENGTH:
        return login_page(request, browser, app, parameters, error=BAD_SIGN_IN)
    return await _sign_in(request, browser, app, parameters, (email, password, code))


async def _sign_in(
    request: web.Request,
    browser: str,
    app: AppView,
    parameters: Parameters,
    credentials: tuple[str, str, str | None],
) -> web.Response:
    """One attempt through `users.SignIn`: its replay guard, its one answer for failures."""
    services = request.app[SERVICES]
    email, password, code = credentials
    now = services.bus.clock()
    lifetime = min(session.SESSION_SECONDS, services.settings.jwt_lifetime)
    expires_at = now + timedelta(seconds=lifetime)
    jti = secrets.token_hex(16)
    try:
        user_id = await services.bus.execute(users.SignIn(email, password, code, jti, expires_at))
    except TotpRequiredError:
        response = login_page(request, browser, app, parameters, totp=True)
        sealed = session.seal_pending(request, browser, email, password)
        session.set_cookie(
            response, request, session.PENDING_COOKIE, sealed, max_age=session.PENDING_SECONDS
        )
        return response
    except UnauthorizedError:
        if code is not None:
            return login_page(request, browser, app, parameters, totp=True, error=WRONG_CODE)
        return login_page(request, browser, app, parameters, error=BAD_SIGN_IN, email=email)
    token = services.codec.issue(user_id, jti, now, expires_at)
    # Back to the authorize URL (post, redirect, get): it now shows the consent page.
    response = web.Response(
        status=303,
        headers={
            "Location": with_query("/api/oauth/authorize", parameters),
            "Cache-Control": "no-store",
        },
    )
    session.set_cookie(response, request, session.SESSION_COOKIE, token, max_age=lifetime)
    session.set_cookie(response, request, session.BROWSER_COOKIE, session.new_browser_id())
    session.clear_cookie(response, session.PENDING_COOKIE)
    return response


async def consent(request: web.Request) -> web.Response:
    """POST Allow or Deny: a code, or access_denied, back to the client."""
    services = request.app[SERVICES]
    form, browser, app, parameters = await posted_request(request, "consent")
    try:
        requested_scopes(app, parameters)
    except OAuthProtocolError as error:
        return found(error_location(services, parameters, error))
    user = await session.signed_in(request)
    if user is None:
        return login_page(request, browser, app, parameters, error=SIGN_IN_AGAIN)
    if form.get("decision") != "allow":
        denied = OAuthProtocolError("access_denied", "The user denied the request.")
        return found(error_location(services, parameters, denied))
    return found(await consent_location(services, user.user_id, app, parameters))


def _field(name: str, description: str, *, enum: tuple[str, ...] = ()) -> tuple[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if enum:
        schema["enum"] = list(enum)
    return name, schema


AUTHORIZE_FIELDS = dict(
    [
        _field("response_type", "as in the authorize query", enum=("code",)),
        _field("client_id", "as in the authorize query"),
        _field("redirect_uri", "as in the authorize query"),
        _field("scope", "as in the authorize query"),
        _field("state", "as in the authorize query"),
        _field("code_challenge", "as in the authorize query"),
        _field("code_challenge_method", "as in the authorize query", enum=("S256",)),
        _field("csrf_token", "the token of the page the form came from"),
    ]
)
LOGIN_FORM = {
    "type": "object",
    "required": ["csrf_token", "client_id", "redirect_uri"],
    "properties": AUTHORIZE_FIELDS
    | dict(
        [
            _field("email", "the first step"),
            _field("password", "the first step"),
            _field("totp_code", "the second step: a TOTP or recovery code"),
        ]
    ),
}
CONSENT_FORM = {
    "type": "object",
    "required": ["csrf_token", "client_id", "redirect_uri", "decision"],
    "properties": AUTHORIZE_FIELDS | dict([_field("decision", "", enum=("allow", "deny"))]),
}
PAGE_STATUSES = (200, 400, 403, 429)

BROWSER_ROUTES = [
    Route(
        "POST",
        LOGIN_PATH,
        sign_in,
        "Browser sign-in (password, then TOTP); 303 back to the authorize URL",
        "oauth",
        request=LOGIN_FORM,
        form=True,
        limit="login",
        pages=PAGE_STATUSES,
        responses={200: HTML_PAGE, 303: {}},
    ),
    Route(
        "POST",
        CONSENT_PATH,
        consent,
        "Browser consent: Allow redirects with a code, Deny with access_denied",
        "oauth",
        request=CONSENT_FORM,
        form=True,
        pages=PAGE_STATUSES,
        responses={200: HTML_PAGE, 302: {}},
    ),
    Route(
        "GET",
        STYLESHEET_PATH,
        stylesheet,
        "The stylesheet of the sign-in and consent pages",
        "oauth",
        responses={200: {"type": "string", "contentMediaType": "text/css"}},
    ),
]
