"""The OpenAPI 3.1 document, generated from the route table so it cannot drift from it."""

from __future__ import annotations

from typing import Any

from http_api import __version__
from http_api.errors import OAUTH_PROTOCOL_PATHS
from http_api.routes import Route, Schema

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "retry_after": {"type": "integer"},
        "balance": {"type": "integer"},
        "required_scope": {"type": "string"},
    },
}

# RFC 6749 5.2's shape, with the same structured fields (`retry_after` of a 429 or 503).
OAUTH_ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "retry_after": {"type": "integer"},
    },
}

SECURITY_SCHEMES: Schema = {
    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "oauth": {"type": "http", "scheme": "bearer", "description": "OAuth 2.0 access token"},
}


def _security(route: Route) -> list[dict[str, list[str]]]:
    if route.auth == "none":
        return []
    if route.auth.startswith("oauth:"):
        return [{"oauth": [route.auth.removeprefix("oauth:")]}]
    return [{"jwt": []}]


HTML_PAGE: Schema = {"type": "string", "contentMediaType": "text/html"}


def _response(status: int, schema: Schema) -> dict[str, Any]:
    """One response; a schema naming a `contentMediaType` (a page, a stylesheet) is not JSON."""
    if status == 204:
        return {"description": "no content"}
    if 300 <= status < 400:
        return {"description": "redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
    media = schema.get("contentMediaType", "application/json")
    return {
        "description": "success" if status < 400 else "error",
        "content": {media: {"schema": schema}},
    }


def _responses(route: Route) -> dict[str, Any]:
    """The route's responses; for a route with pages, each page status is text/html too."""
    responses = {
        str(status): _response(status, schema) for status, schema in route.responses.items()
    }
    error = OAUTH_ERROR_SCHEMA if route.path in OAUTH_PROTOCOL_PATHS else ERROR_SCHEMA
    responses.setdefault("default", _response(400, error))
    for status in route.pages:
        page = responses.setdefault(str(status), _response(status, HTML_PAGE))
        page["content"]["text/html"] = {"schema": HTML_PAGE}
    if route.pages:  # a browser gets every error of such a route as a page, others JSON
        for name, response in responses.items():
            if name == "default" or int(name) >= 400:
                content = response.setdefault("content", {})
                content["text/html"] = {"schema": HTML_PAGE}
                content.setdefault("application/json", {"schema": ERROR_SCHEMA})
    return responses


def _operation(route: Route) -> dict[str, Any]:
    responses = _responses(route)
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}".replace(
            "{", ""
        )
        .replace("}", "")
        .replace(".", "")
        .replace("-", "_"),
        "security": _security(route),
        "responses": responses,
    }
    if route.parameters:
        operation["parameters"] = list(route.parameters)
    if route.request is not None:
        content = {} if route.pages else {"application/json": {"schema": route.request}}
        if route.form or route.pages:
            content["application/x-www-form-urlencoded"] = {"schema": route.request}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def openapi_document(routes: list[Route]) -> dict[str, Any]:
    """The whole document for `routes`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Buddo Ledger API", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {"Error": ERROR_SCHEMA, "OAuthError": OAUTH_ERROR_SCHEMA},
        },
    }
