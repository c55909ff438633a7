"""Bounded optimistic retries: reload, decide again, save; give up with ContentionError."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from ledger.errors import ContentionError

T = TypeVar("T")

MAX_ATTEMPTS = 30
BACKOFF_STEP_SECONDS = 0.002


def with_retries(attempt: Callable[[], T], max_attempts: int = MAX_ATTEMPTS) -> T:
    """Run `attempt` until it saves without an optimistic-concurrency conflict."""
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except IntegrityError:
            # Another writer moved an aggregate we loaded: back off a little, then decide anew.
            time.sleep(random.uniform(0, BACKOFF_STEP_SECONDS * number))  # noqa: S311
    raise ContentionError(max_attempts)
