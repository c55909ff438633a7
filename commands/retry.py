"""Bounded optimistic retries: reload, decide again, save; give up with ContentionError."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from ledger.errors import ContentionError, UnavailableError

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


def translate_store_errors(function: Callable[..., T], *args: Any) -> T:
    """Call `function`, turning 'the store cannot be reached' into UnavailableError."""
    try:
        return function(*args)
    except (OperationalError, InterfaceError) as error:
        raise UnavailableError("The event store cannot be reached.", retry_after=2) from error
