"""What every object made through a media server shares (a ``Broadcast``, a ``JanusFeed``):
its state, its error in words, whether it is closed, and ``wait``/``wait_async`` for a state.

Each subclass keeps its own ``_set_state`` (the one place its state changes, logging
``old -> new``, under ``_cond``) because what a change sets off differs; this class owns
the fields and the waiting. ``STATES`` (class attribute) lists the states, the first one
is the initial one; "failed" and "closed" end it.

Threads: the properties, ``wait`` and ``wait_async`` on any thread; ``wait`` refuses the
media thread (the media loop makes every change it would wait for).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

from .._signaling.manager import manager

ENDED = ("failed", "closed")


class Lifecycle:
    """State, error and waiting of a media-server object (see the module docstring)."""

    STATES: ClassVar[tuple[str, ...]]
    #: how errors and refusals name the object ("Broadcast", "JanusFeed")
    NOUN: ClassVar[str]

    def __init__(self) -> None:
        self._state = self.STATES[0]
        self._error = ""
        self._cond = threading.Condition()
        self._closed = False

    @property
    def state(self) -> str:
        return self._state

    @property
    def error(self) -> str:
        """Why it failed or closed, in words ("" while all is well)."""
        return self._error

    @property
    def closed(self) -> bool:
        return self._closed

    # --- what a subclass says when a wait cannot succeed ----------------------------------
    def _ended_error(self) -> Exception:
        """The error of a wait for a state that can no longer come (failed or closed)."""
        raise NotImplementedError

    def _state_timeout(self, state: str, timeout: float) -> Exception:
        """The error of a wait that ran out of time."""
        raise NotImplementedError

    # --- waiting --------------------------------------------------------------------------
    def _check_state(self, state: str) -> None:
        if state not in self.STATES:
            raise ValueError(f"state must be one of {self.STATES}, got {state!r}")

    def _raise_if_ended(self, state: str) -> None:
        if self._state in ENDED and state not in ENDED:
            raise self._ended_error()

    def wait(self, state: str = "live", timeout: float = 10.0) -> None:
        """Block until ``state`` (default "live"); raise in words when it failed or closed
        first, or on timeout. Not on the media thread: use ``await wait_async()`` there."""
        self._check_state(state)
        if manager().media.in_loop_thread():
            raise RuntimeError(
                f"{self.NOUN}.wait() would block nbrtc's media thread on itself; "
                f"use `await {self.NOUN}.wait_async()` there"
            )
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state != state:
                self._raise_if_ended(state)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._state_timeout(state, timeout)
                self._cond.wait(left)

    async def wait_async(self, state: str = "live", timeout: float = 10.0) -> None:
        """Awaitable twin of :meth:`wait` (any event loop, the media loop included): polls
        the state every 20 ms, as it cannot wait on the condition without a thread."""
        self._check_state(state)
        deadline = time.monotonic() + timeout
        while self._state != state:
            self._raise_if_ended(state)
            if time.monotonic() >= deadline:
                raise self._state_timeout(state, timeout)
            await asyncio.sleep(0.02)
