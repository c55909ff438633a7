"""docs/operations.md documents every setting the service reads."""

from __future__ import annotations

from pathlib import Path

from http_api.settings import SETTINGS

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented() -> None:
    text = OPERATIONS.read_text()
    missing = sorted(name for name in SETTINGS if f"`{name}`" not in text)
    assert not missing, f"docs/operations.md does not document {missing}"
