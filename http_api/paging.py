"""Paged lists (spec section 1): the `limit` and `cursor` query parameters, as read and as the
OpenAPI document describes them, and the schema of a page."""

from __future__ import annotations

from aiohttp import web

from http_api.parsing import query_int, query_value
from http_api.routes import Schema
from http_api.views import NULLABLE, STRING, object_schema
from projections.queries import DEFAULT_PAGE, MAX_PAGE

PAGE_QUERY = (
    {"name": "cursor", "in": "query", "schema": STRING},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
)


def page_query(request: web.Request) -> tuple[int, str | None]:
    """The request's page size (1 to 200, default 50) and cursor (None for the first page)."""
    return query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE), query_value(request, "cursor")


def page_schema(lists: dict[str, Schema]) -> Schema:
    """A page: each list under its key, and `next_cursor` (null at the end)."""
    return object_schema({**lists, "next_cursor": NULLABLE})
