"""Chat (spec 7): channels, and messages newest first with the configured words masked."""

from __future__ import annotations

from aiohttp import web

from commands import social
from http_api.authn import PRINCIPAL
from http_api.keys import SERVICES
from http_api.parsing import Body, Field, path_uuid, query_int, query_value, read_body
from http_api.routes import Route
from http_api.views import STRING, object_schema, wrapped
from ledger.social import CHANNEL_TYPES, MAX_MESSAGE_LENGTH, MAX_REF_LENGTH
from projections import social_queries

CHANNEL = Body(
    {
        "type": Field("string", enum=CHANNEL_TYPES),
        "ref_id": Field(
            "string", required=False, nullable=True, min_length=1, max_length=MAX_REF_LENGTH
        ),
    }
)
MESSAGE = Body({"body": Field("string", min_length=1, max_length=MAX_MESSAGE_LENGTH)})
DEFAULT_PAGE, MAX_PAGE = 50, 200


async def open_channel(request: web.Request) -> web.Response:
    """The channel of this type and ref_id, made on first use (not wrapped: spec 7)."""
    services = request.app[SERVICES]
    body = await read_body(request, CHANNEL)
    opened: social.ChannelOpened = await services.bus.execute(
        social.OpenChannel(body["type"], body.get("ref_id"))
    )
    return web.json_response(await social_queries.channel(services.reads, opened.channel_id))


async def messages(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    channel_id = path_uuid(request, "channel_id")
    limit = query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = query_value(request, "cursor")
    await social_queries.channel(services.reads, channel_id)
    found, next_cursor = await social_queries.messages(
        services.reads, channel_id, request[PRINCIPAL].user_id, limit, cursor or None
    )
    return web.json_response({"messages": found, "next_cursor": next_cursor})


async def post_message(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    channel_id = path_uuid(request, "channel_id")
    body = await read_body(request, MESSAGE)
    posted: social.MessagePosted = await services.bus.execute(
        social.PostMessage(
            channel_id,
            request[PRINCIPAL].user_id,
            body["body"],
            services.settings.chat_word_filter,
        )
    )
    shown = await social_queries.message(services.reads, posted.message_id)
    return web.json_response({"message": shown}, status=201)


CHANNEL_SCHEMA = object_schema(
    {
        "id": STRING,
        "type": {"type": "string", "enum": list(CHANNEL_TYPES)},
        "ref_id": {"type": ["string", "null"]},
    }
)
MESSAGE_SCHEMA = object_schema(
    {
        "id": STRING,
        "sender_id": STRING,
        "sender_username": STRING,
        "filtered_body": STRING,
        "sent_at": STRING,
    }
)
CHANNEL_ID = (
    {
        "name": "channel_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    },
)
PAGE = (
    {"name": "cursor", "in": "query", "schema": STRING},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
)

CHAT_ROUTES = [
    Route(
        "POST",
        "/api/social/chat/channels",
        open_channel,
        "The channel of a type and ref_id (the same one every time)",
        "social",
        auth="jwt",
        request=CHANNEL.schema(),
        responses={200: CHANNEL_SCHEMA},
    ),
    Route(
        "GET",
        "/api/social/chat/{channel_id}/messages",
        messages,
        "A channel's messages, newest first",
        "social",
        auth="jwt",
        parameters=CHANNEL_ID + PAGE,
        responses={
            200: object_schema(
                {
                    "messages": {"type": "array", "items": MESSAGE_SCHEMA},
                    "next_cursor": {"type": ["string", "null"]},
                }
            )
        },
    ),
    Route(
        "POST",
        "/api/social/chat/{channel_id}/messages",
        post_message,
        "Say something in a channel",
        "social",
        auth="jwt",
        parameters=CHANNEL_ID,
        request=MESSAGE.schema(),
        responses={201: wrapped("message", MESSAGE_SCHEMA)},
    ),
]
