"""Audit endpoints: the raw log, inclusion and consistency proofs, the checkpoint key, and the
background task that signs checkpoints while the server runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from commands.audit import checkpoint_due, consistency_proof, inclusion_proof, public_jwk
from commands.audit import write_checkpoint as sign_checkpoint
from commands.audit_db import AuditDb
from commands.audit_events import events_page
from commands.retry import translate_store_errors
from http_api.audit_key import load_audit_key
from http_api.keys import SERVICES
from http_api.parsing import query_int
from http_api.routes import Route, Schema
from ledger.errors import UnavailableError, ValidationError
from projections.queries import DEFAULT_PAGE, MAX_PAGE

log = logging.getLogger(__name__)

AUDIT_KEY: web.AppKey[Ed25519PrivateKey] = web.AppKey("audit_key", Ed25519PrivateKey)
POLL_SECONDS = 5.0  # how often the server asks whether a checkpoint is due
MAX_POSITION = 2**62
HEX_LIST: Schema = {"type": "array", "items": {"type": "string"}}
CHECKPOINT: Schema = {
    "type": "object",
    "required": ["tree_size", "root", "signed_at", "signature"],
    "properties": {
        "tree_size": {"type": "integer"},
        "root": {"type": "string"},
        "signed_at": {"type": "string"},
        "signature": {"type": "string"},
        "key_id": {"type": "string"},
    },
}


def _db(request: web.Request) -> AuditDb:
    return AuditDb(request.app[SERVICES].bus.store)


async def audit_key(request: web.Request) -> web.Response:
    """The public key that verifies checkpoint signatures, as a JWK."""
    return web.json_response(public_jwk(request.app[AUDIT_KEY].public_key()))


async def audit_events(request: web.Request) -> web.Response:
    """The stored events after a position, with their chain hashes."""
    after = query_int(request, "after", 0, 0, MAX_POSITION)
    limit = query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    page = await request.app[SERVICES].bus.run(events_page, _db(request), after, limit)
    return web.json_response(page)


async def audit_proof(request: web.Request) -> web.Response:
    """An inclusion proof of one event in the latest checkpoint."""
    text = request.match_info["position"]
    if not text.isdigit() or not 0 < int(text) <= MAX_POSITION:
        raise ValidationError({"position": ["must be a positive integer"]})
    proof = await request.app[SERVICES].bus.run(inclusion_proof, _db(request), int(text))
    return web.json_response(proof.as_json())


async def audit_consistency(request: web.Request) -> web.Response:
    """A consistency proof between two checkpoints' tree sizes."""
    first = query_int(request, "first", 0, 1, MAX_POSITION)
    second = query_int(request, "second", 0, 1, MAX_POSITION)
    if not first or not second:
        raise ValidationError({"first": ["first and second are both required"]})
    proof = await request.app[SERVICES].bus.run(consistency_proof, _db(request), first, second)
    return web.json_response(proof)


def checkpoint_if_due(db: AuditDb, key: Ed25519PrivateKey) -> None:
    """Sign a checkpoint when enough events or enough time have gone by (synchronous)."""
    now = datetime.now(UTC)
    if checkpoint_due(db, now):
        made = sign_checkpoint(db, key, now)
        if made is not None:
            log.info("audit checkpoint signed at tree size %d", made.tree_size)


async def _checkpoints(app: web.Application) -> None:
    services = app[SERVICES]
    db = AuditDb(services.bus.store)
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            await services.bus.run(translate_store_errors, checkpoint_if_due, db, app[AUDIT_KEY])
        except UnavailableError as error:  # a store outage: it resumes when the store does
            log.warning("could not write an audit checkpoint (%s); trying again later", error)
        except Exception:
            log.exception("could not write an audit checkpoint; trying again later")


async def audit_context(app: web.Application) -> AsyncIterator[None]:
    """Load the checkpoint key and sign checkpoints in the background while serving."""
    loop = asyncio.get_running_loop()
    app[AUDIT_KEY] = await loop.run_in_executor(None, load_audit_key, app[SERVICES].settings)
    task = loop.create_task(_checkpoints(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


POSITION = ({"name": "position", "in": "path", "required": True, "schema": {"type": "integer"}},)
PAGE = (
    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
)
SIZES = (
    {"name": "first", "in": "query", "required": True, "schema": {"type": "integer"}},
    {"name": "second", "in": "query", "required": True, "schema": {"type": "integer"}},
)

AUDIT_ROUTES = [
    Route(
        "GET",
        "/.well-known/audit-key",
        audit_key,
        "The Ed25519 public key of audit checkpoints (JWK)",
        "system",
        responses={200: {"type": "object", "required": ["kty", "crv", "x"]}},
    ),
    Route(
        "GET",
        "/api/admin/audit/events",
        audit_events,
        "The raw event log with its hash chain",
        "admin",
        auth="admin",
        parameters=PAGE,
        responses={
            200: {
                "type": "object",
                "required": ["events", "next_cursor"],
                "properties": {"events": {"type": "array"}, "next_cursor": {}},
            }
        },
    ),
    Route(
        "GET",
        "/api/admin/audit/proof/{position}",
        audit_proof,
        "Inclusion proof of an event in the latest checkpoint (RFC 9162)",
        "admin",
        auth="admin",
        parameters=POSITION,
        responses={
            200: {
                "type": "object",
                "required": ["position", "leaf_index", "tree_size", "leaf_hash", "root", "path"],
                "properties": {"path": HEX_LIST, "checkpoint": CHECKPOINT},
            }
        },
    ),
    Route(
        "GET",
        "/api/admin/audit/consistency",
        audit_consistency,
        "Consistency proof between two checkpoints (RFC 9162)",
        "admin",
        auth="admin",
        parameters=SIZES,
        responses={
            200: {
                "type": "object",
                "required": ["first", "second", "path"],
                "properties": {"path": HEX_LIST},
            }
        },
    ),
]
