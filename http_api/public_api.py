"""The public directory (spec 7): listed apps' operators, and any app's public card; no auth."""

from __future__ import annotations

from aiohttp import web

from http_api.keys import SERVICES
from http_api.oauth_apps_api import CLIENT_ID, PUBLIC_APP, public_app
from http_api.paging import PAGE_QUERY, page_query, page_schema
from http_api.routes import Route
from http_api.views import NULLABLE, STRING
from projections import public_queries

OPERATOR = {
    "type": "object",
    "required": ["username", "apps"],
    "properties": {
        "username": STRING,
        "apps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["client_id", "app_name", "logo_url", "website_url"],
                "properties": {
                    "client_id": STRING,
                    "app_name": STRING,
                    "logo_url": NULLABLE,
                    "website_url": NULLABLE,
                },
            },
        },
    },
}


async def operators(request: web.Request) -> web.Response:
    found, next_cursor = await public_queries.operators(
        request.app[SERVICES].reads, *page_query(request)
    )
    return web.json_response({"operators": found, "next_cursor": next_cursor})


PUBLIC_ROUTES = [
    Route(
        "GET",
        "/api/public/operators",
        operators,
        "Operators of listed apps, by username, a page at a time",
        "public",
        parameters=PAGE_QUERY,
        responses={200: page_schema({"operators": {"type": "array", "items": OPERATOR}})},
    ),
    Route(
        "GET",
        "/api/public/apps/{client_id}",
        public_app,
        "An app's public card (as GET /api/oauth/apps/{client_id})",
        "public",
        parameters=CLIENT_ID,
        responses={200: PUBLIC_APP},
    ),
]
