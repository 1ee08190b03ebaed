"""The media thread: one asyncio loop in one daemon thread that owns every aiortc object.

Why a thread of our own: the kernel's own loop stops whenever a cell computes, and video
must not. Everything aiortc does (ICE, DTLS, RTP, decoding hand-off) runs here; the
kernel's main thread only hands work over with :meth:`MediaLoop.submit`.

Which loop: uvloop's (libuv) when it can be imported, else asyncio's own
(``nbrtc.config.media_loop``). The media loop wakes for every UDP datagram (a 320x240
camera sends about 120 a second), and uvloop does the loop's own share of each wake (the
poll, the read, the callback bookkeeping) in C: a receiving camera costs the kernel 6-8 %
less CPU, the same aiortc code running on it (benchmarks in the README).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("nbrtc")

T = TypeVar("T")

THREAD_NAME = "nbrtc-media"
#: what ``nbrtc.config.media_loop`` takes: "auto" (uvloop when it can be imported, else
#: asyncio's), "uvloop" or "asyncio"
LOOP_KINDS = ("auto", "uvloop", "asyncio")


def _uvloop() -> Any:
    """The uvloop module, or None when it cannot be imported (it does not exist for
    Windows)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def uvloop_available() -> bool:
    """Whether uvloop can be imported."""
    return _uvloop() is not None


def new_event_loop(kind: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """A new, not yet running event loop for ``kind`` (one of LOOP_KINDS) and what it is:
    "uvloop" or "asyncio". "uvloop" that cannot be imported (uninstalled since the setting
    was checked) falls back to asyncio's with a warning in the log: the media thread must
    start either way."""
    uvloop = _uvloop() if kind in ("auto", "uvloop") else None
    if uvloop is not None:
        return uvloop.new_event_loop(), "uvloop"
    if kind == "uvloop":
        log.warning("nbrtc: uvloop cannot be imported; the media loop is asyncio's")
    return asyncio.new_event_loop(), "asyncio"


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Log an error nobody else could receive (a callback raised, a task nobody awaited
    failed) under "nbrtc" at ERROR with its traceback; the loop itself keeps running.

    Runs on the media thread. asyncio's default handler would log it under "asyncio",
    where a user looking at nbrtc's log would not find it.
    """
    exc = context.get("exception")
    where = context.get("task") or context.get("future") or context.get("handle")
    detail = f" ({repr(where)[:200]})" if where is not None else ""
    log.error(
        "media loop: %s%s",
        context.get("message") or "unhandled error",
        detail,
        exc_info=(type(exc), exc, exc.__traceback__) if isinstance(exc, BaseException) else None,
    )


class MediaLoop:
    """A lazily started asyncio loop running in a daemon thread.

    ``submit``/``call_soon`` are safe from any thread. ``stop`` is idempotent; after it, the
    loop can be started again by the next ``submit`` (a kernel that keeps working after
    ``manager().shutdown()`` gets a fresh media thread). ``kind()`` (one of LOOP_KINDS) is
    asked at each start; ``implementation`` says what the running loop is.
    """

    def __init__(self, kind: Callable[[], str] = lambda: "auto") -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kind = kind
        #: "uvloop" or "asyncio" once started (the last loop's when stopped), else None
        self.implementation: str | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running media loop (started on first use)."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._start_locked()
            assert self._loop is not None
            return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def in_loop_thread(self) -> bool:
        """True when called from the media thread itself."""
        return threading.current_thread() is self._thread

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_locked(self) -> None:
        loop, implementation = new_event_loop(self._kind())
        # Encoders run in the loop's default executor (aiortc's RTCRtpSender); a small,
        # bounded pool keeps the thread count predictable for leak checks.
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="nbrtc-codec")
        )
        loop.set_exception_handler(_log_loop_error)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                try:
                    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                    for task in pending:
                        task.cancel()
                    if pending:
                        loop.run_until_complete(
                            asyncio.wait(pending, timeout=1.0)  # don't hang the kernel's exit
                        )
                    loop.run_until_complete(loop.shutdown_default_executor())
                except Exception:  # pragma: no cover - best effort at exit
                    log.debug("media loop cleanup failed", exc_info=True)
                finally:
                    loop.close()

        thread = threading.Thread(target=run, name=THREAD_NAME, daemon=True)
        thread.start()
        ready.wait(5.0)
        self._loop, self._thread = loop, thread
        self.implementation = implementation
        log.debug("media thread started (%s)", implementation)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the media loop from any thread; returns a concurrent Future."""
        if self.in_loop_thread():
            raise RuntimeError("submit() called on the media thread; use create_task")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def start(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T] | None:
        """Start ``coro`` on the media loop from any thread: a task when called on the media
        thread itself (None: it cannot wait there), else a concurrent Future to wait on."""
        if self.in_loop_thread():
            self.loop.create_task(coro)
            return None
        return self.submit(coro)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the media loop soon (from any thread)."""
        if self.in_loop_thread():
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the media loop and wait for its result (not from the media thread)."""
        return self.submit(coro).result(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop and join the thread (idempotent; safe if the loop already died)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(loop.stop)
            if thread is not threading.current_thread():
                thread.join(timeout)
