"""Deploy (spec 6.4): an app's deployments, with `deploy:manage`; rate limits are per app."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from commands.deploy_runtime import RuntimeDriver
from commands.deployments import CreateDeployment, DeploymentCreated
from http_api.authn import APP_PRINCIPAL
from http_api.external_api import REPLAYED_HEADER, idempotency
from http_api.keys import SERVICES
from http_api.paging import PAGE_QUERY, page_query, page_schema
from http_api.parsing import Body, Field, path_uuid, read_body
from http_api.ratelimit import enforce_request
from http_api.routes import Handler, Route
from http_api.views import INTEGER, NULLABLE, STRING, object_schema, wrapped
from ledger.deployments import DEFAULT_PORT, MAX_ENV_VARS, MAX_IMAGE_LENGTH, Tier
from ledger.errors import ValidationError
from projections import deployment_queries
from projections.db import ReadDatabase

log = logging.getLogger(__name__)

SCOPE = "oauth:deploy:manage"
CREATE = Body(
    {
        "image": Field("string", min_length=1, max_length=MAX_IMAGE_LENGTH),
        "subdomain": Field("string", min_length=3, max_length=63),
        "tier": Field("string", min_length=1, max_length=40),
        "port": Field("integer", required=False, minimum=1, maximum=65_535),
        "env_vars": Field("object", required=False, max_items=MAX_ENV_VARS),
        "custom_domain": Field("string", required=False, nullable=True, max_length=253),
    }
)
EMPTY = Body()
REPLAYED = {REPLAYED_HEADER: "true"}


def tier_of(request: web.Request, slug: str) -> Tier:
    tiers = request.app[SERVICES].settings.deploy_tiers
    for tier in tiers:
        if tier.slug == slug:
            return tier
    raise ValidationError({"tier": [f"must be one of {', '.join(t.slug for t in tiers)}"]})


async def tiers(request: web.Request) -> web.Response:
    configured = request.app[SERVICES].settings.deploy_tiers
    return web.json_response({"tiers": [tier.as_json() for tier in configured]})


async def list_deployments(request: web.Request) -> web.Response:
    services, app_id = request.app[SERVICES], request[APP_PRINCIPAL].app_id
    limit = services.limits["list_deploy_apps"]
    await enforce_request(request, services.limiter, limit, f"app:{app_id}")
    found, next_cursor = await deployment_queries.deployments(
        services.reads, app_id, *page_query(request)
    )
    return web.json_response({"deployments": found, "next_cursor": next_cursor})


async def create_deployment(request: web.Request) -> web.Response:
    """Charge a points tier's first month and record the deployment in one transaction; the
    runtime then brings it up in the background."""
    services, app_id = request.app[SERVICES], request[APP_PRINCIPAL].app_id
    limit = services.limits["create_deploy_app"]
    await enforce_request(request, services.limiter, limit, f"app:{app_id}")
    key = idempotency(request, f"deploy:{app_id}")
    body = await read_body(request, CREATE)
    created: DeploymentCreated = await services.bus.execute(
        CreateDeployment(
            app_id=app_id,
            tier=tier_of(request, body["tier"]),
            subdomain=body["subdomain"],
            image=body["image"],
            port=body.get("port", DEFAULT_PORT),
            env_vars=body.get("env_vars", {}),
            custom_domain=body.get("custom_domain"),
            idempotency=key,
        )
    )
    shown = await deployment_queries.deployment(services.reads, app_id, created.deployment_id)
    if created.replayed:
        shown = deployment_queries.as_created(shown)
        return web.json_response({"deployment": shown}, status=201, headers=REPLAYED)
    services.runtime.launch(app_id, created.deployment_id)  # after reading: 201 is pending
    return web.json_response({"deployment": shown}, status=201)


async def get_deployment(request: web.Request) -> web.Response:
    found = await deployment_queries.deployment(
        request.app[SERVICES].reads, request[APP_PRINCIPAL].app_id, path_uuid(request, "id")
    )
    return web.json_response({"deployment": found})


async def deployment_status(request: web.Request) -> web.Response:
    found = await deployment_queries.deployment(
        request.app[SERVICES].reads, request[APP_PRINCIPAL].app_id, path_uuid(request, "id")
    )
    names = ("status", "health_status", "last_health_check")
    return web.json_response({name: found[name] for name in names})


async def deployment_logs(request: web.Request) -> web.Response:
    reads, deployment_id = request.app[SERVICES].reads, path_uuid(request, "id")
    await deployment_queries.deployment(reads, request[APP_PRINCIPAL].app_id, deployment_id)
    lines, next_cursor = await deployment_queries.logs(reads, deployment_id, *page_query(request))
    return web.json_response({"logs": lines, "next_cursor": next_cursor})


def _control(action: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        services, app_id = request.app[SERVICES], request[APP_PRINCIPAL].app_id
        deployment_id = path_uuid(request, "id")
        if request.method == "POST":
            await read_body(request, EMPTY)
        await services.runtime.control(app_id, deployment_id, action)
        if action == "destroy":
            return web.Response(status=204)
        found = await deployment_queries.deployment(services.reads, app_id, deployment_id)
        return web.json_response({"deployment": found})

    return handler


STATUSES = ["pending", "provisioning", "running", "stopped", "failed", "destroyed"]


DEPLOYMENT = object_schema(
    dict.fromkeys(deployment_queries.FIELDS, NULLABLE)
    | {
        "status": {"type": "string", "enum": STATUSES},
        "port": INTEGER,
        "cpu_limit_millicores": INTEGER,
        "memory_limit_mb": INTEGER,
        "env_var_names": {"type": "array", "items": STRING},
    }
)
TIER = object_schema(
    {
        "id": STRING,
        "slug": STRING,
        "name": STRING,
        "payment_method": {"type": "string", "enum": ["buddo_points", "bitcoin"]},
        "monthly_cost_points": INTEGER,
        "monthly_cost_sats": INTEGER,
        "cpu_limit_millicores": INTEGER,
        "memory_limit_mb": INTEGER,
    }
)
ID = ({"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},)


def _route(method: str, path: str, handler: Handler, summary: str, **extra: Any) -> Route:
    return Route(method, path, handler, summary, "deploy", auth=SCOPE, **extra)


DEPLOY_ROUTES = [
    _route(
        "GET",
        "/api/deploy/tiers",
        tiers,
        "Deployment tiers",
        responses={200: wrapped("tiers", {"type": "array", "items": TIER})},
    ),
    _route(
        "GET",
        "/api/deploy/apps",
        list_deployments,
        "The app's deployments, newest first, a page at a time (30/minute)",
        parameters=PAGE_QUERY,
        responses={200: page_schema({"deployments": {"type": "array", "items": DEPLOYMENT}})},
    ),
    _route(
        "POST",
        "/api/deploy/apps",
        create_deployment,
        "Deploy an image (a points tier pays its first month now; 10/minute)",
        request=CREATE.schema(),
        responses={201: wrapped("deployment", DEPLOYMENT)},
    ),
    _route(
        "GET",
        "/api/deploy/apps/{id}",
        get_deployment,
        "One deployment",
        parameters=ID,
        responses={200: wrapped("deployment", DEPLOYMENT)},
    ),
    _route(
        "GET",
        "/api/deploy/apps/{id}/status",
        deployment_status,
        "A deployment's status",
        parameters=ID,
        responses={
            200: object_schema(
                {"status": STRING, "health_status": STRING, "last_health_check": NULLABLE}
            )
        },
    ),
    _route(
        "GET",
        "/api/deploy/apps/{id}/logs",
        deployment_logs,
        "A deployment's log lines, oldest first, a page at a time",
        parameters=(*ID, *PAGE_QUERY),
        responses={
            200: page_schema(
                {
                    "logs": {
                        "type": "array",
                        "items": object_schema({"at": STRING, "stream": STRING, "line": STRING}),
                    }
                }
            )
        },
    ),
    _route(
        "POST",
        "/api/deploy/apps/{id}/restart",
        _control("restart"),
        "Restart",
        parameters=ID,
        responses={200: wrapped("deployment", DEPLOYMENT)},
    ),
    _route(
        "POST",
        "/api/deploy/apps/{id}/stop",
        _control("stop"),
        "Stop",
        parameters=ID,
        responses={200: wrapped("deployment", DEPLOYMENT)},
    ),
    _route(
        "DELETE",
        "/api/deploy/apps/{id}",
        _control("destroy"),
        "Destroy (final; the subdomain is free again)",
        parameters=ID,
        responses={204: {}},
    ),
]


async def resume_deployments(reads: ReadDatabase, runtime: RuntimeDriver) -> int:
    """Launch again every deployment left pending or provisioning; how many there were."""
    unfinished = await deployment_queries.coming_up(reads)
    for app_id, deployment_id, status in unfinished:
        runtime.launch(app_id, deployment_id, status)
    if unfinished:
        log.info("resuming %d deployments that were still coming up", len(unfinished))
    return len(unfinished)
