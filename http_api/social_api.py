"""Social (spec 7): friends, friend requests, blocks, user search and presence; all take a JWT."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from commands import social
from http_api.authn import PRINCIPAL
from http_api.keys import SERVICES
from http_api.paging import PAGE_QUERY, page_query, page_schema
from http_api.parsing import Body, Field, path_uuid, query_value, read_body
from http_api.presence import STATUSES
from http_api.routes import Handler, Route, Schema
from http_api.views import NULLABLE, STRING, object_schema, wrapped
from ledger.errors import ForbiddenError, ValidationError
from projections import social_queries

USER = Body({"user_id": Field("uuid")})
ANSWER = Body({"action": Field("string", enum=("accept", "decline"))})
PRESENCE = Body(
    {
        "status": Field("string", enum=STATUSES),
        "table_id": Field("string", required=False, nullable=True, min_length=1, max_length=100),
    }
)
SEARCH_MIN, SEARCH_MAX = 2, 30


async def friends(request: web.Request) -> web.Response:
    found, next_cursor = await social_queries.friends(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id, *page_query(request)
    )
    return web.json_response({"friends": found, "next_cursor": next_cursor})


async def request_friend(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_body(request, USER)
    sent: social.FriendRequested = await services.bus.execute(
        social.RequestFriend(request[PRINCIPAL].user_id, UUID(body["user_id"]))
    )
    made = await social_queries.friend_request(services.reads, sent.request_id)
    return web.json_response({"request": made.as_json()}, status=201)


async def pending(request: web.Request) -> web.Response:
    """Both lists page together: `limit` applies to each, and one cursor carries both on."""
    incoming, outgoing, next_cursor = await social_queries.pending_requests(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id, *page_query(request)
    )
    return web.json_response(
        {
            "incoming": [r.as_json() for r in incoming],
            "outgoing": [r.as_json() for r in outgoing],
            "next_cursor": next_cursor,
        }
    )


async def answer_request(request: web.Request) -> web.Response:
    services, me = request.app[SERVICES], request[PRINCIPAL].user_id
    request_id = path_uuid(request, "id")
    body = await read_body(request, ANSWER)
    found = await social_queries.friend_request(services.reads, request_id)
    if found.to_user_id != str(me):
        raise ForbiddenError("Only the recipient may answer a friend request.")
    await services.bus.execute(
        social.AnswerFriendRequest(
            me, UUID(found.from_user_id), request_id, body["action"] == "accept"
        )
    )
    answered = await social_queries.friend_request(services.reads, request_id)
    return web.json_response({"request": answered.as_json()})


async def end_friendship(request: web.Request) -> web.Response:
    other = path_uuid(request, "id")
    await request.app[SERVICES].bus.execute(social.EndFriendship(request[PRINCIPAL].user_id, other))
    return web.Response(status=204)


async def block(request: web.Request) -> web.Response:
    body = await read_body(request, USER)
    await request.app[SERVICES].bus.execute(
        social.BlockUser(request[PRINCIPAL].user_id, UUID(body["user_id"]))
    )
    return web.json_response({"status": "blocked"})


async def unblock(request: web.Request) -> web.Response:
    other = path_uuid(request, "user_id")
    await request.app[SERVICES].bus.execute(social.UnblockUser(request[PRINCIPAL].user_id, other))
    return web.json_response({"status": "unblocked"})


async def search(request: web.Request) -> web.Response:
    prefix = (query_value(request, "q") or "").strip()
    if not SEARCH_MIN <= len(prefix) <= SEARCH_MAX:
        raise ValidationError({"q": [f"{SEARCH_MIN} to {SEARCH_MAX} characters"]})
    found = await social_queries.search_users(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id, prefix
    )
    return web.json_response({"users": found})


async def announce(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_body(request, PRESENCE)
    me = str(request[PRINCIPAL].user_id)
    entry = await services.presence.announce(me, body["status"], body.get("table_id"))
    return web.json_response({"presence": entry.as_json()})


async def friends_present(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ids = await social_queries.friend_ids(services.reads, request[PRINCIPAL].user_id)
    present = await services.presence.of_users(ids)
    names = await social_queries.usernames(services.reads, [p.user_id for p in present])
    return web.json_response({"presence": [p.as_json(names.get(p.user_id)) for p in present]})


async def leave(request: web.Request) -> web.Response:
    await request.app[SERVICES].presence.clear(str(request[PRINCIPAL].user_id))
    return web.Response(status=204)


async def at_table(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    table_id = query_value(request, "table_id")
    if not table_id:
        raise ValidationError({"table_id": ["is required"]})
    present = await services.presence.at_table(table_id)
    names = await social_queries.usernames(services.reads, [p.user_id for p in present])
    return web.json_response({"users": [p.as_json(names.get(p.user_id)) for p in present]})


REQUEST = object_schema(
    {
        "id": STRING,
        "from_user_id": STRING,
        "from_username": STRING,
        "to_user_id": STRING,
        "to_username": STRING,
        "status": {"type": "string", "enum": ["pending", "accepted", "declined", "cancelled"]},
        "inserted_at": STRING,
    }
)
REQUESTS = {"type": "array", "items": REQUEST}
FRIEND = object_schema({"user_id": STRING, "username": STRING, "since": STRING})
PRESENCE_SCHEMA = object_schema(
    {
        "user_id": STRING,
        "status": {"type": "string", "enum": list(STATUSES)},
        "table_id": NULLABLE,
        "updated_at": STRING,
        "expires_at": STRING,
    }
)
PRESENCE_LIST = {"type": "array", "items": PRESENCE_SCHEMA}
STATUS = object_schema({"status": STRING})


def _path(name: str) -> tuple[Schema, ...]:
    return ({"name": name, "in": "path", "required": True, "schema": {"format": "uuid"} | STRING},)


def _query(name: str) -> tuple[Schema, ...]:
    return ({"name": name, "in": "query", "required": True, "schema": STRING},)


def _route(method: str, path: str, handler: Handler, summary: str, **extra: Any) -> Route:
    return Route(method, path, handler, summary, "social", auth="jwt", **extra)


SOCIAL_ROUTES = [
    _route(
        "GET",
        "/api/social/friends",
        friends,
        "The caller's friends, by username, a page at a time",
        parameters=PAGE_QUERY,
        responses={200: page_schema({"friends": {"type": "array", "items": FRIEND}})},
    ),
    _route(
        "POST",
        "/api/social/friends",
        request_friend,
        "Ask someone to be friends",
        request=USER.schema(),
        responses={201: wrapped("request", REQUEST)},
    ),
    _route(
        "GET",
        "/api/social/friends/pending",
        pending,
        "Pending friend requests, to and from the caller, both lists a page at a time",
        parameters=PAGE_QUERY,
        responses={200: page_schema({"incoming": REQUESTS, "outgoing": REQUESTS})},
    ),
    _route(
        "PUT",
        "/api/social/friends/{id}",
        answer_request,
        "Accept or decline a request",
        parameters=_path("id"),
        request=ANSWER.schema(),
        responses={200: wrapped("request", REQUEST)},
    ),
    _route(
        "DELETE",
        "/api/social/friends/{id}",
        end_friendship,
        "Unfriend a user, or cancel or decline the request pending with them",
        parameters=_path("id"),
        responses={204: {}},
    ),
    _route(
        "POST",
        "/api/social/block",
        block,
        "Block a user (ends friendship and requests)",
        request=USER.schema(),
        responses={200: STATUS},
    ),
    _route(
        "DELETE",
        "/api/social/block/{user_id}",
        unblock,
        "Lift a block",
        parameters=_path("user_id"),
        responses={200: STATUS},
    ),
    _route(
        "GET",
        "/api/social/users/search",
        search,
        "Find users by username prefix",
        parameters=_query("q"),
        responses={
            200: wrapped(
                "users",
                {"type": "array", "items": object_schema({"id": STRING, "username": STRING})},
            )
        },
    ),
    _route(
        "POST",
        "/api/social/presence",
        announce,
        "Say you are here (for 5 minutes)",
        request=PRESENCE.schema(),
        responses={200: wrapped("presence", PRESENCE_SCHEMA)},
    ),
    _route(
        "GET",
        "/api/social/presence",
        friends_present,
        "Friends who are here",
        responses={200: wrapped("presence", PRESENCE_LIST)},
    ),
    _route("DELETE", "/api/social/presence", leave, "Say you left", responses={204: {}}),
    _route(
        "GET",
        "/api/social/presence/table",
        at_table,
        "Who is at a table",
        parameters=_query("table_id"),
        responses={200: wrapped("users", PRESENCE_LIST)},
    ),
]
