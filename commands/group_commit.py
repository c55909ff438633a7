"""Group commit: points commands that arrive together are written in one transaction.

One thread per process takes the first waiting plan, gathers whatever else is waiting (up to
`max_batch`, for at most `window` seconds), and hands the lot to `Journal.record_batch`. Each
caller waits on its own future and gets its own answer. While a batch commits, the next one
gathers, so the batch size follows the load with no added wait at low load.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future

from commands.journal import Journal
from commands.points import EntryPlan, EntryRecorded
from commands.retry import translate_store_errors

log = logging.getLogger(__name__)

Item = tuple[EntryPlan, "Future[EntryRecorded]"]


class GroupCommitter:
    """The one writer thread of a process's batched points commands."""

    def __init__(self, journal: Journal, max_batch: int, window: float) -> None:
        self.journal = journal
        self.max_batch = max_batch
        self.window = window
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, plan: EntryPlan) -> Future[EntryRecorded]:
        """Queue `plan`; its future gets the entry or the error that refused it."""
        future: Future[EntryRecorded] = Future()
        self._queue.put((plan, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stop = self._gather(first)
            self._commit(batch)
            if stop:
                return

    def _gather(self, first: Item) -> tuple[list[Item], bool]:
        batch = [first]
        deadline = time.monotonic() + self.window
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[Item]) -> None:
        live = [(plan, future) for plan, future in batch if future.set_running_or_notify_cancel()]
        try:
            outcomes = translate_store_errors(self.journal.record_batch, [p for p, _ in live])
        except BaseException as error:  # noqa: BLE001 - every caller must hear of it
            for _, future in live:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, EntryRecorded):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)
