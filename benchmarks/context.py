"""What a scenario runs in: a private PostgreSQL database, a temp dir, the machine described.

Both the database (`buddo_bench_<random>`) and the temp dir are removed when the scenario ends,
whether it finished or failed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import secrets
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from http_api.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
# The server the bench makes its databases on (the tests read the same variable).
DEFAULT_ADMIN_URL = os.environ.get(
    "BUDDO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
POSTGRES_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "max_connections",
)


@dataclass(frozen=True)
class BenchContext:
    """Everything a scenario may use; the database and the directory are its alone."""

    duration: float
    postgres_url: str
    temp_dir: Path

    def settings(self, backend: str, **environ: str) -> Settings:
        """Service settings for a store on `backend` ("sqlite" or "postgres"), in the sandbox."""
        values = {"BUDDO_DATA_DIR": str(self.temp_dir / "data")}
        if backend == "postgres":
            values["BUDDO_DATABASE_URL"] = self.postgres_url
        else:
            values["BUDDO_DATABASE_URL"] = f"sqlite:///{self.temp_dir / 'ledger.sqlite'}"
        return load_settings(values | environ)


@contextlib.contextmanager
def bench_context(admin_url: str, duration: float) -> Iterator[BenchContext]:
    """A fresh database and temp dir for one scenario, both gone afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="buddo_bench_") as temp_dir,
        bench_database(admin_url) as url,
    ):
        yield BenchContext(duration=duration, postgres_url=url, temp_dir=Path(temp_dir))


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """Create `buddo_bench_<random>` on the server, yield its URL, drop it whatever happens."""
    name = f"buddo_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def describe_machine(admin_url: str) -> dict[str, Any]:
    """The hardware and software the figures were measured on."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in ("eventsourcing", "psycopg")},
        "postgresql": describe_postgres(admin_url),
        "temp_dir_filesystem": _filesystem(Path(tempfile.gettempdir())),
        "git": _git_revision(),
    }


def describe_postgres(admin_url: str) -> dict[str, str]:
    """The server's version and the settings that decide what a commit costs."""
    parts = urlsplit(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        settings = {
            name: str(conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0])  # type: ignore[index]
            for name in POSTGRES_SETTINGS
        }
    return {"server": f"{parts.hostname}:{parts.port or 5432}"} | settings


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in {"model name", "Model", "Hardware"}:
                return value.strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def _filesystem(path: Path) -> str:
    """The type of the filesystem `path` lives on (fsync on tmpfs costs nothing)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            inside = str(path.resolve()).startswith(mount.rstrip("/") + "/") or mount == "/"
            if inside and len(mount) > len(best):
                best, kind = mount, fields[2]
    return kind


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    """The commit measured, `+dirty` when tracked files had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if status.strip() else head
