"""What the command-line tools share: progress bars, read-only stores, failure messages."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from commands.store import BuddoStore
from http_api.settings import Settings

EXIT_FAILED = 1


class EventRate(ProgressColumn):
    """Events per second so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "- ev/s")


def progress_bar(console: Console) -> Progress:
    """A bar with rate and time left on a terminal; nothing at all in a pipe."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        EventRate(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def reading_store(settings: Settings) -> Iterator[BuddoStore]:
    """The store opened for reading only: no schema is created, nothing is backfilled."""
    store = BuddoStore(settings.store_config())
    try:
        yield store
    finally:
        store.close()


def fail(message: str) -> int:
    print(f"buddo: {message}", file=sys.stderr)  # noqa: T201
    return EXIT_FAILED
