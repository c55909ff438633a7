"""The `buddo` command line: help, settings validation, projections status and rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from commands.bus import CommandBus
from commands.points import GrantPoints, SpendPoints
from http_api.settings import Settings
from http_api.wiring import open_store
from projections import registry

BUDDO = [sys.executable, "-m", "http_api.cli"]


def run_buddo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")}
    return subprocess.run(
        [*BUDDO, *args], env=clean | env, capture_output=True, text=True, timeout=120, check=False
    )


def settings_env(settings: Settings) -> dict[str, str]:
    env = {"BUDDO_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["BUDDO_DATABASE_URL"] = settings.database_url
    return env


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_buddo("--help", env={"BUDDO_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0
    for command in ("serve", "projections"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUDDO_PORT", "eighty"),
        ("BUDDO_PORT", "70000"),
        ("BUDDO_DATABASE_URL", "mysql://x"),
        ("BUDDO_STORE_TIMEOUT", "-1"),
        ("BUDDO_LOG_LEVEL", "LOUD"),
        ("BUDDO_PROT", "8080"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(
    tmp_path: Path, name: str, value: str
) -> None:
    result = run_buddo("projections", "status", env={"BUDDO_DATA_DIR": str(tmp_path), name: value})
    assert result.returncode == 2
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_status_and_rebuild_report_every_read_model(settings: Settings) -> None:
    bus = CommandBus(open_store(settings), threads=1)
    user = "0b6f7c1e-9a52-4f8e-8c4d-3b2a1f0e9d8c"
    bus.handle(GrantPoints(f"user:{user}", 40, "welcome"))
    bus.handle(SpendPoints(UUID(user), uuid4(), 15))
    head = bus.store.max_position()
    bus.close()

    status = run_buddo("projections", "status", env=settings_env(settings))
    assert status.returncode == 0, status.stderr
    for name in ("balances", "account_history"):
        assert name in status.stdout
    assert str(head) in status.stdout

    rebuilt = run_buddo("projections", "rebuild", env=settings_env(settings))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.count("yes") == len(registry.INLINE)
    assert "NO" not in rebuilt.stdout
