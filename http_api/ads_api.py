"""Ads (spec 6.3): admins launch funded campaigns and close them (the rest goes back to the
advertiser); apps get an ad to show and report events."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web

from commands.ads import (
    AdEventRecorded,
    AdServed,
    CampaignClosed,
    CampaignLaunched,
    CloseCampaign,
    LaunchCampaign,
    RecordAdEvent,
    ServeAd,
)
from http_api.authn import APP_PRINCIPAL, PRINCIPAL
from http_api.external_api import EMPTY, REPLAYED_HEADER, caller_scope, idempotency
from http_api.keys import SERVICES
from http_api.parsing import Body, Field, path_uuid, query_value, read_body
from http_api.routes import Route, Schema
from http_api.views import INTEGER, NULLABLE, STRING, object_schema, wrapped
from ledger.accounts import MAX_AMOUNT
from ledger.ads import (
    EVENT_TYPES,
    MAX_NAME_LENGTH,
    MAX_TIER_LENGTH,
    MAX_URL_LENGTH,
    SURFACE_TYPES,
    CampaignTerms,
    check_surface,
)
from ledger.errors import NotFoundError, ValidationError
from ledger.times import iso_z
from projections import ads_queries

DEFAULT_SURFACE = "banner"  # spec 6.3: an event's surface_type defaults to banner
SURFACE = Field("string", enum=SURFACE_TYPES)
LAUNCH = Body(
    {
        "advertiser_user_id": Field("uuid"),
        "name": Field("string", min_length=1, max_length=MAX_NAME_LENGTH),
        "surface_type": SURFACE,
        "payout_rate": Field("integer", minimum=1, maximum=MAX_AMOUNT),
        "user_reward": Field("integer", minimum=0, maximum=MAX_AMOUNT),
        "budget": Field("integer", minimum=1, maximum=MAX_AMOUNT),
        "bitcoin_tier": Field(
            "string", required=False, nullable=True, min_length=1, max_length=MAX_TIER_LENGTH
        ),
        "creative_url": Field(
            "string", required=False, nullable=True, min_length=1, max_length=MAX_URL_LENGTH
        ),
    }
)
EVENT = Body(
    {
        "campaign_id": Field("uuid"),
        "event_type": Field("string", enum=EVENT_TYPES),
        "surface_type": Field("string", required=False, enum=SURFACE_TYPES),
        "serve_id": Field("uuid", required=False, nullable=True),
    }
)


def check_creative_url(url: str | None) -> str | None:
    """A creative is an absolute http(s) URL, when there is one."""
    if url is not None and (
        urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc
    ):
        raise ValidationError({"creative_url": ["must be an absolute http or https URL"]})
    return url


def launched_json(launched: CampaignLaunched) -> dict[str, Any]:
    """The campaign as it stood at launch: a replay answers exactly the first response."""
    campaign = launched.campaign
    return {
        "id": str(campaign.id),
        "name": campaign.name,
        "surface_type": campaign.surface_type,
        "creative_url": campaign.creative_url,
        "payout_rate": campaign.payout_rate,
        "user_reward": campaign.user_reward,
        "budget": campaign.budget,
        "spent": 0,
        "status": campaign.status_at_launch,
        "advertiser_user_id": str(campaign.advertiser_user_id),
        "bitcoin_tier": campaign.bitcoin_tier,
        "inserted_at": iso_z(campaign.created_on),
        "refunded": 0,
        "closed_at": None,
    }


async def launch_campaign(request: web.Request) -> web.Response:
    """Fund a campaign from the advertiser's points: one entry, 10% rake to revenue."""
    services = request.app[SERVICES]
    key = idempotency(request, f"admin-campaign:{request[PRINCIPAL].user_id}")
    body = await read_body(request, LAUNCH)
    terms = CampaignTerms(
        name=body["name"],
        surface_type=body["surface_type"],
        payout_rate=body["payout_rate"],
        user_reward=body["user_reward"],
        creative_url=check_creative_url(body.get("creative_url")),
        bitcoin_tier=body.get("bitcoin_tier"),
    )
    launched: CampaignLaunched = await services.bus.execute(
        LaunchCampaign(UUID(body["advertiser_user_id"]), terms, body["budget"], key)
    )
    headers = {REPLAYED_HEADER: "true"} if launched.replayed else {}
    return web.json_response({"campaign": launched_json(launched)}, status=201, headers=headers)


async def campaign(request: web.Request) -> web.Response:
    """A campaign now: what it has spent, and whether it is still served."""
    found = await ads_queries.campaign(request.app[SERVICES].reads, path_uuid(request, "id"))
    return web.json_response({"campaign": found.as_json()})


async def close_campaign(request: web.Request) -> web.Response:
    """Close a campaign: no more serves or payouts, and what is left goes back to the
    advertiser in one `campaign_refund` entry (409 when it is already closed). A keyed retry
    answers the first response: a closed campaign's view no longer changes."""
    services = request.app[SERVICES]
    campaign_id = path_uuid(request, "id")
    key = idempotency(request, f"admin-campaign-close:{request[PRINCIPAL].user_id}")
    await read_body(request, EMPTY)
    done: CampaignClosed = await services.bus.execute(CloseCampaign(campaign_id, key))
    closed = await ads_queries.campaign(services.reads, campaign_id)  # inline: already there
    headers = {REPLAYED_HEADER: "true"} if done.replayed else {}
    return web.json_response({"campaign": closed.as_json()}, headers=headers)


async def serve(request: web.Request) -> web.Response:
    """The funded campaign of the surface with the most budget left, as a recorded serve."""
    services = request.app[SERVICES]
    principal = request[APP_PRINCIPAL]
    surface = check_surface(query_value(request, "surface_type") or DEFAULT_SURFACE)
    found = await ads_queries.servable(services.reads, surface)
    if found is None:
        raise NotFoundError("No funded campaign fits this surface.")
    served: AdServed = await services.bus.execute(
        ServeAd(UUID(found.id), principal.app_id, principal.user_id, surface)
    )
    view = found.as_json()
    shown = {name: view[name] for name in SERVED_FIELDS}
    return web.json_response({"campaign": {**shown, "serve_id": str(served.serve_id)}})


def event_json(recorded: AdEventRecorded) -> dict[str, Any]:
    event = recorded.event
    return {
        "id": str(event.id),
        "campaign_id": str(event.campaign_id),
        "event_type": event.event_type,
        "surface_type": event.surface_type,
        "payout_rate_snapshot": event.payout_rate_snapshot,
        "inserted_at": iso_z(event.created_on),
    }


async def record_event(request: web.Request) -> web.Response:
    """Record an impression or click; it pays the app (and a rewarded viewer) when allowed."""
    services = request.app[SERVICES]
    principal = request[APP_PRINCIPAL]
    key = idempotency(request, f"ads:{caller_scope(principal)}")
    body = await read_body(request, EVENT)
    serve_id = body.get("serve_id")
    recorded: AdEventRecorded = await services.bus.execute(
        RecordAdEvent(
            campaign_id=UUID(body["campaign_id"]),
            app_id=principal.app_id,
            user_id=principal.user_id,
            event_type=body["event_type"],
            surface_type=body.get("surface_type", DEFAULT_SURFACE),
            serve_id=UUID(serve_id) if serve_id else None,
            idempotency=key,
        )
    )
    headers = {REPLAYED_HEADER: "true"} if recorded.replayed else {}
    return web.json_response({"event": event_json(recorded)}, status=201, headers=headers)


SURFACE_SCHEMA: Schema = {"type": "string", "enum": list(SURFACE_TYPES)}


CAMPAIGN_FIELDS: Schema = {
    "id": STRING,
    "name": STRING,
    "surface_type": SURFACE_SCHEMA,
    "creative_url": NULLABLE,
    "payout_rate": INTEGER,
    "user_reward": INTEGER,
    "budget": INTEGER,
    "spent": INTEGER,
    "status": {"type": "string", "enum": ["active", "exhausted", "closed"]},
    "advertiser_user_id": STRING,
    "bitcoin_tier": NULLABLE,
    "inserted_at": STRING,
    "refunded": INTEGER,
    "closed_at": NULLABLE,
}
CAMPAIGN_SCHEMA = wrapped("campaign", object_schema(CAMPAIGN_FIELDS))
SERVED_FIELDS = (
    "id",
    "name",
    "surface_type",
    "creative_url",
    "payout_rate",
    "user_reward",
    "bitcoin_tier",
)
SERVED_SCHEMA = object_schema(
    {**{name: CAMPAIGN_FIELDS[name] for name in SERVED_FIELDS}, "serve_id": STRING}
)
EVENT_SCHEMA = object_schema(
    {
        "id": STRING,
        "campaign_id": STRING,
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "surface_type": SURFACE_SCHEMA,
        "payout_rate_snapshot": INTEGER,
        "inserted_at": STRING,
    }
)
IDEMPOTENCY_HEADER: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
ID = (
    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
)
SURFACE_QUERY = ({"name": "surface_type", "in": "query", "schema": SURFACE_SCHEMA},)

ADS_ROUTES = [
    Route(
        "POST",
        "/api/admin/ads/campaigns",
        launch_campaign,
        "Launch a campaign funded from the advertiser's points (10% rake)",
        "ads",
        auth="admin",
        request=LAUNCH.schema(),
        parameters=(IDEMPOTENCY_HEADER,),
        responses={201: CAMPAIGN_SCHEMA},
    ),
    Route(
        "GET",
        "/api/admin/ads/campaigns/{id}",
        campaign,
        "A campaign with what it has spent and its status",
        "ads",
        auth="admin",
        parameters=ID,
        responses={200: CAMPAIGN_SCHEMA},
    ),
    Route(
        "POST",
        "/api/admin/ads/campaigns/{id}/close",
        close_campaign,
        "Close a campaign; what is left in it goes back to the advertiser",
        "ads",
        auth="admin",
        parameters=(*ID, IDEMPOTENCY_HEADER),
        responses={200: CAMPAIGN_SCHEMA},
    ),
    Route(
        "GET",
        "/api/external/ads/serve",
        serve,
        "An ad to show: the funded campaign of the surface with the most budget left",
        "ads",
        auth="oauth:profile:read",
        parameters=SURFACE_QUERY,
        responses={200: wrapped("campaign", SERVED_SCHEMA)},
    ),
    Route(
        "POST",
        "/api/external/ads/event",
        record_event,
        "Report an impression or a click; paid events pay the app (and rewarded viewers)",
        "ads",
        auth="oauth:profile:read",
        request=EVENT.schema(),
        parameters=(IDEMPOTENCY_HEADER,),
        responses={201: wrapped("event", EVENT_SCHEMA)},
    ),
]
