"""Timing: run an operation for a fixed wall-clock time on one or more threads."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

Operation = Callable[[], object]


@dataclass(frozen=True)
class Measurement:
    """How many operations finished in how long, and how long each one took."""

    threads: int
    ops: int
    seconds: float
    latencies: tuple[float, ...] = field(repr=False)

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The nearest-rank percentile of the per-operation latencies, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    def summary(self) -> dict[str, float | int]:
        """The figures that go into a result file."""
        return {
            "threads": self.threads,
            "ops": self.ops,
            "seconds": round(self.seconds, 3),
            "ops_per_s": round(self.ops_per_second, 1),
            "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "max_ms": round(self.percentile_ms(1.0), 3),
        }


def _loop(operation: Operation, duration: float, start: threading.Barrier) -> list[float]:
    clock = time.perf_counter
    latencies: list[float] = []
    start.wait()
    deadline = clock() + duration
    while (began := clock()) < deadline:
        operation()
        latencies.append(clock() - began)
    return latencies


def run_for(
    duration: float, make_operation: Callable[[int], Operation], threads: int = 1
) -> Measurement:
    """Call `make_operation(i)`'s operation in a loop on thread i, all for `duration` seconds.

    Operations are made before the clock starts; the first error in any thread is raised here.
    """
    operations = [make_operation(index) for index in range(threads)]
    start = threading.Barrier(threads + 1)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench") as pool:
        futures = [pool.submit(_loop, op, duration, start) for op in operations]
        try:
            start.wait()
        except BaseException:
            start.abort()  # release the workers, or the pool would wait for them forever
            raise
        began = time.perf_counter()
        per_thread = [future.result() for future in futures]
        seconds = time.perf_counter() - began
    latencies = tuple(latency for thread in per_thread for latency in thread)
    return Measurement(threads=threads, ops=len(latencies), seconds=seconds, latencies=latencies)


def warm_up(duration: float, make_operation: Callable[[int], Operation], threads: int = 1) -> None:
    """Run as `run_for` does and forget the figures: connections, caches and JITs settle."""
    run_for(duration, make_operation, threads)
