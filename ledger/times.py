"""The one text form of a moment: ISO-8601 in UTC with a `Z`, to the microsecond (the spec's)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


@functools.lru_cache(maxsize=4_096)
def iso_z(moment: datetime) -> str:
    """`moment` as `2026-12-04T10:24:56.000123Z`. Remembered: every read model formats the time
    of the same event, seven times per journal entry in a replay."""
    utc = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return utc.removesuffix("+00:00") + "Z"
