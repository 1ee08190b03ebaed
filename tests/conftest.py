"""Shared pytest setup: only what every test folder needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ARTIFACTS_DIR = Path(
    os.environ.get("NBRTC_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")
)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave logs, screenshots and measurements (git-ignored)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
