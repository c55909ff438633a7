"""HTML pages for browsers: templates (autoescaped), security headers, errors as pages.

Every page is sent with a strict Content-Security-Policy (no scripts at all, styles only from
our own stylesheet, forms only to us and to the client's redirect origin, no framing), no
caching and no referrer, so the authorization request never leaks from the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from http_api.authn import route_of
from http_api.errors import Handler, status_for
from ledger.errors import BuddoError

PAGE_LANGUAGE = "en"
STYLESHEET = resources.files("http_api").joinpath("static/authorize.css").read_bytes()
STYLESHEET_MAX_AGE = 3600
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
ERROR_TITLES = {  # by error code; anything else is "Something went wrong"
    "invalid_request": "This sign-in link does not work",
    "csrf_failed": "This form cannot be used",
    "forbidden": "You cannot sign in here",
    "rate_limited": "Too many attempts",
}


def setup_templates(app: web.Application) -> None:
    """Jinja2 over the package's templates, escaping everything by default."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("http_api", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
    )


def wants_json(request: web.Request) -> bool:
    """A program that asked for JSON only, not a browser navigating."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def is_browser(request: web.Request) -> bool:
    """Browser mode (spec 5.3): no Authorization header, and not a JSON-only client."""
    return "Authorization" not in request.headers and not wants_json(request)


def form_origin(redirect_uri: str | None) -> str:
    """The CSP source for the client's redirect URI (its origin, or its custom scheme)."""
    if not redirect_uri:
        return ""
    parts = urlsplit(redirect_uri)
    if parts.scheme in {"http", "https"} and parts.netloc:
        source = f"{parts.scheme}://{parts.netloc}"
    else:
        source = f"{parts.scheme}:"
    # Registered URIs are validated already; a source must still never end the directive.
    return "" if any(c in source for c in " ;,'\"\r\n") else source


def content_security_policy(redirect_uri: str | None) -> str:
    form_action = " ".join(filter(None, ["'self'", form_origin(redirect_uri)]))
    return (
        "default-src 'none'; style-src 'self'; img-src https: data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


def page(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    redirect_uri: str | None = None,
) -> web.Response:
    """A rendered page with the security headers; `redirect_uri` may receive its forms."""
    response = aiohttp_jinja2.render_template(
        template, request, {"lang": PAGE_LANGUAGE, **context}, status=status
    )
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(redirect_uri)
    return response


def error_page(request: web.Request, error: BuddoError) -> web.Response:
    """A BuddoError as a page; like the JSON, it says what went wrong and nothing more."""
    status = status_for(error)
    response = page(
        request,
        "error.html",
        {"title": ERROR_TITLES.get(error.code, "Something went wrong"), "message": error.message},
        status=status,
    )
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.headers.update(error.headers())
    return response


@web.middleware
async def page_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On a route with pages, a browser sees an error as a page; everyone else gets JSON."""
    route = route_of(request)
    if route is None or not route.pages or not is_browser(request):
        return await handler(request)
    try:
        return await handler(request)
    except BuddoError as error:
        if status_for(error) >= 500:
            raise  # the JSON middleware logs it and never shows details
        return error_page(request, error)


async def stylesheet(_request: web.Request) -> web.Response:
    """The pages' one stylesheet (CSP allows styles from here only)."""
    return web.Response(
        body=STYLESHEET,
        content_type="text/css",
        charset="utf-8",
        headers={
            "Cache-Control": f"public, max-age={STYLESHEET_MAX_AGE}",
            "X-Content-Type-Options": "nosniff",
        },
    )
