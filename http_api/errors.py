"""HTTP-only errors, and the one middleware that turns any exception into the error JSON.

The tree of ledger.errors gains, under BuddoError:
    InvalidRequestError     malformed request (bad JSON, wrong content type)   400
    PayloadTooLargeError    body over the configured limit                     413
    MethodNotAllowedError   the path exists, the method does not               405
    RateLimitedError        over the limit (retry_after; http_api.ratelimit)   429
    MailDeliveryError       mail could not be sent (http_api.mailer)           503
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from http_api.ratelimit import RateLimitedError
from ledger.errors import (
    BuddoError,
    ConflictError,
    ForbiddenError,
    InsufficientPointsError,
    InvalidClientError,
    InvalidCodeError,
    NotFoundError,
    OAuthProtocolError,
    TransferRefusedError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from projections.db import OUTAGE_ERRORS, RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Spec section 1: the token and revocation endpoints answer every error in RFC 6749's shape;
# introspection too (RFC 7662 2.3), as its protocol errors already were.
OAUTH_PROTOCOL_PATHS = frozenset(
    {"/api/oauth/token", "/api/oauth/token/verify", "/api/oauth/revoke"}
)


class InvalidRequestError(BuddoError):
    """The request itself is malformed."""

    code = "invalid_request"


class PayloadTooLargeError(BuddoError):
    """The body is larger than the service accepts."""

    code = "payload_too_large"


class MethodNotAllowedError(BuddoError):
    """The resource exists but not with this method."""

    code = "method_not_allowed"


# Walked along the exception's MRO: the most specific class listed decides the status.
STATUS_BY_ERROR: dict[type[BuddoError], int] = {
    InvalidRequestError: 400,
    InvalidCodeError: 400,
    OAuthProtocolError: 400,
    InvalidClientError: 401,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    ValidationError: 422,
    InsufficientPointsError: 422,
    TransferRefusedError: 422,
    NotFoundError: 404,
    MethodNotAllowedError: 405,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    UnavailableError: 503,
    BuddoError: 500,
}


def status_for(error: BuddoError) -> int:
    """The HTTP status of `error`, from the nearest class in STATUS_BY_ERROR."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(error: BuddoError, request: web.BaseRequest | None = None) -> web.Response:
    """The error JSON of the spec: error, message and the error's structured fields; RFC
    6749's error and error_description (and the same fields) for an OAuth protocol error or
    any error of a `request` to an OAuth protocol endpoint."""
    oauth = request is not None and request.path in OAUTH_PROTOCOL_PATHS
    text = "error_description" if oauth or isinstance(error, OAuthProtocolError) else "message"
    body = {"error": error.code, text: error.message, **error.extra()}
    response = web.json_response(body, status=status_for(error))
    if isinstance(error, UnavailableError):
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, UnauthorizedError):
        response.headers["WWW-Authenticate"] = 'Bearer realm="buddo"'
    if isinstance(error, InvalidClientError):
        response.headers["WWW-Authenticate"] = 'Basic realm="buddo"'
    if text == "error_description":
        response.headers["Cache-Control"] = "no-store"
    response.headers.update(error.headers())
    return response


def _from_http_exception(exc: web.HTTPException) -> BuddoError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFoundError("No such resource.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowedError(f"{exc.method} is not allowed here.")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLargeError("The request body is too large.")
    return InvalidRequestError(exc.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the spec's JSON; a 500 never carries a traceback."""
    try:
        return await handler(request)
    except BuddoError as error:
        return error_response(error, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http_exception(exc), request)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except OUTAGE_ERRORS as error:  # a driver call outside the translating layers (rate limits)
        log.warning("store unavailable on %s %s: %s", request.method, request.path, error)
        unavailable = UnavailableError("The store cannot be reached.", RETRY_AFTER_SECONDS)
        return error_response(unavailable, request)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(BuddoError("Something went wrong on our side."), request)
