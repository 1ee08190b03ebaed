"""Daemon threads for code nbrtc cannot trust to return: user functions and blocking opens.

Why not ``concurrent.futures.ThreadPoolExecutor``: the interpreter joins its workers at
exit, so ONE call that never returns (a hung ``process`` or ``frames`` function, FFmpeg
stuck in a network read) keeps the kernel process from exiting. These threads are
daemons: a stuck call is simply abandoned at exit.

A second guard: a call that raises ``SystemExit``, ``KeyboardInterrupt`` (or any other
``BaseException`` that is not an ``Exception``) resolves its future with a
``RuntimeError`` saying so. Handed to the media loop as it is, such an exception would
propagate out of ``run_forever`` and end every stream of the kernel.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("nbrtc")

T = TypeVar("T")


def _tame(exc: BaseException) -> BaseException:
    """``exc`` itself when it is an ``Exception``; otherwise a RuntimeError naming it."""
    if isinstance(exc, Exception):
        return exc
    tamed = RuntimeError(f"{type(exc).__name__}({exc}) raised; treated as an error")
    tamed.__cause__ = exc
    return tamed


def _run_into(fut: concurrent.futures.Future[Any], fn: Callable[..., Any], args: Any) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:  # see _tame: nothing escapes to a loop
        fut.set_exception(_tame(exc))
    else:
        fut.set_result(result)


def call_in_daemon(fn: Callable[..., T], *args: Any, name: str) -> concurrent.futures.Future[T]:
    """Run ``fn(*args)`` on a new daemon thread called ``name``; its future at once.

    For one-off blocking calls (opening a URL) that may never return: the caller waits on
    the future with its own deadline and, if it gives up, adds a done-callback that
    releases whatever the call returns late.
    """
    fut: concurrent.futures.Future[T] = concurrent.futures.Future()
    fut.set_running_or_notify_cancel()  # running from now on: cancel() cannot lose a result
    threading.Thread(target=_run_into, args=(fut, fn, args), name=name, daemon=True).start()
    return fut


class Worker:
    """One daemon thread running submitted calls in order (``submit`` like an executor).

    The thread starts with the first ``submit`` and ends after ``shutdown``, as soon as its
    current call returns (never waited for). ``submit`` after ``shutdown`` raises
    RuntimeError. Thread-safe.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"worker {self.name} is shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
            self._jobs.put((fut, fn, args))
        return fut

    def shutdown(self) -> None:
        """Cancel the calls not started yet; the thread exits after the running one."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fut, fn, args = job
            if self._closed:  # shut down while queued: cancelled, never run
                fut.cancel()
                continue
            if fut.set_running_or_notify_cancel():
                _run_into(fut, fn, args)
