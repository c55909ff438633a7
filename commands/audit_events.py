"""The raw event log with its chain, a page at a time, for auditors (`/api/admin/audit/events`)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from commands.audit_chain import CHAIN_TABLE, originator_text
from commands.audit_db import AuditDb
from ledger.times import iso_z


def recorded_at(state: bytes) -> str | None:
    """The event's own timestamp, read from its stored state (None if it has none)."""
    try:
        stamp = json.loads(state)["timestamp"]["_data_"]
        moment = datetime.fromisoformat(str(stamp))
    except (ValueError, KeyError, TypeError):
        return None
    return iso_z(moment)


def events_page(db: AuditDb, after: int, limit: int) -> dict[str, object]:
    """Up to `limit` stored events after position `after`, each with its chain hashes and its
    state exactly as stored (base64), and the cursor of the next page (None at the end). The
    caller bounds `limit` (the HTTP layer to the spec's page size)."""
    table, column = db.events
    with db.read() as q:
        rows = q.rows(
            f"SELECT e.{column}, e.originator_id, e.originator_version, e.topic, e.state,"  # noqa: S608
            f" c.hash, c.prev_hash FROM {table} e LEFT JOIN {CHAIN_TABLE} c"
            f" ON c.position = e.{column} WHERE e.{column} > %s ORDER BY e.{column} LIMIT %s",
            (after, limit + 1),  # one more: is there a next page at all?
        )
    more = len(rows) > limit
    rows = rows[:limit]
    events = [
        {
            "position": int(position),
            "originator_id": originator_text(originator_id),
            "originator_version": int(version),
            "topic": str(topic),
            "recorded_at": recorded_at(bytes(state)),
            "hash": bytes(chained).hex() if chained is not None else None,
            "prev_hash": bytes(prev).hex() if prev is not None else None,
            "state": base64.b64encode(bytes(state)).decode(),
        }
        for position, originator_id, version, topic, state, chained, prev in rows
    ]
    next_cursor = events[-1]["position"] if more else None
    return {"events": events, "next_cursor": next_cursor}
