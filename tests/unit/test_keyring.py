"""Keys generated into the data directory: private, kept, and agreed on by racing starters."""

from __future__ import annotations

import secrets
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from http_api.keyring import load_keys, load_or_create
from http_api.settings import load_settings

STARTERS = 8


def test_a_generated_key_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "some.key"
    first = load_or_create(path, lambda: b"first")
    second = load_or_create(path, lambda: b"second")
    assert first == second == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_starters_racing_to_create_a_key_all_get_the_one_that_was_kept(tmp_path: Path) -> None:
    path = tmp_path / "racy.key"
    barrier = threading.Barrier(STARTERS)

    def make() -> bytes:
        time.sleep(0.05)  # a slow generator: the others look while this one writes
        return secrets.token_bytes(32)

    def start() -> bytes:
        barrier.wait()
        return load_or_create(path, make)

    with ThreadPoolExecutor(STARTERS) as pool:
        keys = list(pool.map(lambda _: start(), range(STARTERS)))
    assert keys[0] == path.read_bytes()
    assert len(keys[0]) == 32
    assert set(keys) == {keys[0]}
    assert [p.name for p in tmp_path.iterdir()] == ["racy.key"]  # no temporary files left


def test_two_starts_on_one_data_dir_sign_with_one_key(tmp_path: Path) -> None:
    settings = load_settings({"BUDDO_DATA_DIR": str(tmp_path)})
    assert load_keys(settings).jwt_signing_key == load_keys(settings).jwt_signing_key
