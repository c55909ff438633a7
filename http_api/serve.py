"""`buddo serve`: one process, or N worker processes sharing one port (SO_REUSEPORT)."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
from types import FrameType

from http_api.app import create_app
from http_api.settings import Settings
from http_api.transport import serve_app
from http_api.wiring import open_store

log = logging.getLogger(__name__)


def run_server(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Serve until SIGINT or SIGTERM; then stop accepting, let in-flight requests finish
    (for at most the shutdown timeout), close the committer and the pools, and return."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    serve_app(
        create_app(settings),
        host,
        port,
        reuse_port=reuse_port,
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=settings.shutdown_timeout,
    )
    log.info("stopped")


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """Make the schema once, then run `workers` processes on one port until told to stop.

    Every rule holds across processes because every decision is checked by PostgreSQL
    (optimistic concurrency on the event log), every access decision reads the inline read
    models, and rate limits count in PostgreSQL or Redis.
    """
    if settings.backend != "postgres":
        print("buddo: --workers above 1 needs PostgreSQL (BUDDO_DATABASE_URL)", file=sys.stderr)  # noqa: T201
        return 2
    open_store(settings).close()  # the schema, created once before the workers start
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=run_server,
            args=(settings, host, port),
            kwargs={"reuse_port": True},
            name=f"buddo-worker-{number}",
        )
        for number in range(1, workers + 1)
    ]
    for process in processes:
        process.start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if not process.is_alive():
                continue
            if signum == signal.SIGTERM:
                process.terminate()  # each worker drains its requests, then exits
            else:
                process.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, lambda *_: stop(signal.SIGTERM, None))
    for process in processes:
        process.join()
    codes = [process.exitcode or 0 for process in processes]
    log.info("workers stopped with exit codes %s", codes)
    return 0 if all(code in {0, -signal.SIGTERM} for code in codes) else 1
