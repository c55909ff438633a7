"""In-process locks per aggregate, so a hot wallet is not left to optimistic retries alone."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from weakref import WeakValueDictionary


class _NamedLock:
    """A lock object that can live in a WeakValueDictionary."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


class LockTable:
    """Locks by name, taken in sorted order so that two commands can never deadlock."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: WeakValueDictionary[str, _NamedLock] = WeakValueDictionary()

    @contextlib.contextmanager
    def hold(self, names: Iterable[str]) -> Iterator[None]:
        with self._guard:
            held = [self._locks.setdefault(name, _NamedLock()) for name in sorted(set(names))]
        with contextlib.ExitStack() as stack:
            for named in held:
                stack.enter_context(named.lock)
            yield
