"""The authorization request of spec 5.3, shared by API mode and browser mode.

Both modes read the same seven parameters, refuse an unknown client or an unregistered
redirect URI without redirecting (RFC 6749 4.1.2.1), send every other error back to the
client, and turn a user's consent into a code through `grants.IssueCode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from multidict import MultiMapping

from commands import grants
from http_api.errors import InvalidRequestError
from http_api.wiring import Services
from ledger.errors import NotFoundError, OAuthProtocolError
from ledger.oauth import ALL_SCOPES
from projections import oauth_queries
from projections.oauth_queries import AppView

AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
Parameters = dict[str, str | None]


def with_query(uri: str, params: Mapping[str, Any]) -> str:
    """`uri` with `params` appended to its query (None values left out)."""
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def authorize_parameters(source: MultiMapping[str]) -> Parameters:
    """The authorize parameters of a query or form; a repeated one is refused (RFC 6749 3.1)."""
    parameters: Parameters = {}
    for name in AUTHORIZE_PARAMETERS:
        values = source.getall(name, [])
        if len(values) > 1:
            raise InvalidRequestError(f"The parameter {name} is repeated.")
        parameters[name] = values[0] if values else None
    return parameters


async def registered_client(services: Services, parameters: Parameters) -> AppView:
    """The app named by client_id, whose registered URIs include redirect_uri exactly."""
    app = await oauth_queries.app_by_client(services.reads, parameters["client_id"] or "")
    if app is None:
        raise InvalidRequestError("Unknown client_id.")
    if parameters["redirect_uri"] not in app.redirect_uris:
        raise InvalidRequestError("redirect_uri is not registered for this client.")
    return app


def check_authorize_request(parameters: Parameters, *, suspended: bool) -> list[str]:
    """The requested scopes, or the OAuthProtocolError to send back to the client."""
    if suspended:
        raise OAuthProtocolError("unauthorized_client", "The app is suspended.")
    if parameters["response_type"] != "code":
        raise OAuthProtocolError("unsupported_response_type", "response_type must be code.")
    if parameters["code_challenge_method"] != "S256":
        raise OAuthProtocolError("invalid_request", "code_challenge_method must be S256.")
    if not grants.CHALLENGE.fullmatch(parameters["code_challenge"] or ""):
        raise OAuthProtocolError(
            "invalid_request", "code_challenge must be 43 base64url characters."
        )
    scopes = (parameters["scope"] or "").split()
    if not scopes or not set(scopes) <= ALL_SCOPES:
        raise OAuthProtocolError("invalid_scope", "scope must name known scopes.")
    return scopes


def back_parameters(services: Services, parameters: Parameters) -> dict[str, str | None]:
    """What every answer to the client carries: its state, and who answers (RFC 9207)."""
    return {"state": parameters["state"], "iss": services.settings.issuer}


def error_location(services: Services, parameters: Parameters, error: OAuthProtocolError) -> str:
    """The client's redirect URI carrying `error` (RFC 6749 4.1.2.1)."""
    return with_query(
        parameters["redirect_uri"] or "",
        {
            "error": error.code,
            "error_description": error.message,
            **back_parameters(services, parameters),
        },
    )


async def consent_location(
    services: Services, user_id: Any, app: AppView, parameters: Parameters
) -> str:
    """The user consented: where to send them, with a fresh code or with the error."""
    redirect_uri = parameters["redirect_uri"] or ""
    try:
        scopes = check_authorize_request(parameters, suspended=app.suspended)
        code = await services.bus.execute(
            grants.IssueCode(
                user_id, app.client_id, redirect_uri, scopes, parameters["code_challenge"] or ""
            )
        )
    except OAuthProtocolError as error:
        return error_location(services, parameters, error)
    except NotFoundError:
        raise InvalidRequestError("redirect_uri is not registered for this client.") from None
    return with_query(redirect_uri, {"code": code, **back_parameters(services, parameters)})
