"""Keeps tests/unit unit: a test here that makes an aiortc peer or leaves a thread
running fails and says where it belongs (tests/kernel)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import aiortc
import pytest


@pytest.fixture(autouse=True)
def no_peer_no_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            "a unit test made an aiortc RTCPeerConnection: move it to tests/kernel"
        )

    monkeypatch.setattr(aiortc.RTCPeerConnection, "__init__", refuse)
    before = set(threading.enumerate())
    yield
    started = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not started, (
        f"a unit test left threads running ({started}): a test that needs the media "
        "thread or a worker belongs in tests/kernel"
    )
