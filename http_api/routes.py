"""The route table: every endpoint once, with the OpenAPI facts about it beside the handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One endpoint: how to reach it, who may call it, and what it takes and gives."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: str = "none"  # "none", "jwt", "oauth:<scope>", "admin"
    request: Schema | None = None
    responses: dict[int, Schema] = field(default_factory=dict)
    parameters: tuple[Schema, ...] = ()
    limit: str = ""  # a rate limit by client address, counted before anything else
    form: bool = False  # the body may be a form (application/x-www-form-urlencoded) too
    # Statuses a browser gets as an HTML page (errors too); a route with pages takes forms only.
    pages: tuple[int, ...] = ()


def add_routes(app: web.Application, routes: list[Route]) -> None:
    """Register `routes` on the app's router."""
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
