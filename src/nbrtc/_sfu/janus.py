"""``nbrtc.Janus``: a Janus Gateway server, as nbrtc uses it (the public front door).

``Janus(url, ...)`` checks its arguments and does nothing else: it connects on first use
(``info()``, or a session that a widget opens). Lazily, because a constructor that blocks
for up to ``timeout`` on the network would stall a cell (and an ``async`` cell's loop) and
could not be called from the media thread at all; the first call that needs the server
says in words why it cannot reach it, naming the URL. ``info()`` is the cheap way to check
a server at once.

Threads: the constructor, ``info`` and ``close`` run on any thread; the connection and
everything made through it (``janus_api``) live on nbrtc's media loop. Blocking calls
(``info``, ``close``) wait for the media loop with a deadline, and ``info`` refuses (in
words) to block the media thread itself, which would deadlock. ``info_async`` awaits
from any event loop.

Teardown: ``close()`` (idempotent, any thread, ≤ ~1.5 s) destroys every session and handle
made through this object, stops their keep-alives and closes the socket. The object is
registered with the kernel's manager like a widget, so the kernel's exit and a re-run of
the cell that made it close it too; ``del`` + garbage collection closes it without waiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import math
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .._signaling.manager import manager
from ..errors import JanusError
from .janus_api import CLOSE_TIMEOUT, JanusConnection, JanusSession
from .janus_link import JanusInfo
from .port import Closable, OwnedPort

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from ..sources import Source
    from .broadcast import Broadcast
    from .feed import JanusFeed

log = logging.getLogger("nbrtc")

T = TypeVar("T")

#: how long close() waits for the teardown (sessions destroyed, socket closed)
CLOSE_WAIT = CLOSE_TIMEOUT + 0.5
_ids = itertools.count(1)


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str such as 'ws://host:8188/', got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https"):
        raise ValueError(
            f"url must start with ws://, wss:// (Janus's WebSocket API, e.g. ws://host:8188/) "
            f"or http(s):// (its HTTP API, e.g. http://host:8088/janus); got {url!r}"
        )
    if not parts.hostname:
        raise ValueError(f"url has no host: {url!r} (e.g. ws://127.0.0.1:8188/)")
    if parts.username or parts.password:
        raise ValueError("url must not carry a user or password; pass api_secret= or token=")
    return url


def _check_secret(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        # never echo the value: it is a credential
        raise ValueError(f"{name} must be a non-empty str or None (got a {type(value).__name__})")
    return value


def _check_seconds(name: str, value: object, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class Janus:
    """A Janus server that nbrtc's widgets can publish to and watch from.

    ``url``: Janus's WebSocket API (``ws://host:8188/``, the default port) or its HTTP API
    (``http://host:8088/janus``). ``api_secret``/``token``: the server's API secret
    (janus.jcfg ``general.api_secret``) or an auth token, when it requires one; never
    shown in a repr, a log or an error. ``keepalive``: seconds between a session's
    keep-alives (default: a third of the server's ``session_timeout``, at most 25 s).
    ``timeout``: seconds to wait for the server to connect or answer a request.

    Use ``with nbrtc.Janus(url) as janus:`` or call ``close()``; re-running the cell that
    made it, or the kernel's exit, closes it too.
    """

    def __init__(
        self,
        url: str,
        *,
        api_secret: str | None = None,
        token: str | None = None,
        keepalive: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._url = _check_url(url)
        secret = _check_secret("api_secret", api_secret)
        tok = _check_secret("token", token)
        self._timeout = _check_seconds("timeout", timeout, allow_none=False) or 10.0
        alive = _check_seconds("keepalive", keepalive, allow_none=True)
        self._conn = JanusConnection(
            self._url, api_secret=secret, token=tok, keepalive=alive, timeout=self._timeout
        )
        self._id = f"janus-{next(_ids)}"
        self._closed = False
        self._close_lock = threading.Lock()
        self._manager = manager()
        #: what was made through this object (broadcasts, rooms, receivers): closing it
        #: closes them first, so their views end in words and their server objects go
        self._owned: weakref.WeakSet[Closable] = weakref.WeakSet()
        self._port = OwnedPort(self, self._id)
        self._manager.register(self._port)  # kernel exit and a re-run of its cell close it

    # --- what it is -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self._conn.server else "new")
        return f"<nbrtc.Janus {self._url} {state} sessions={len(self._conn.sessions)}>"

    # --- calls ----------------------------------------------------------------------------
    def _on_media(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self._manager.media.submit(coro)

    async def _hop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the media loop from whatever loop runs this."""
        if self._manager.media.in_loop_thread():
            return await coro
        return await asyncio.wrap_future(self._on_media(coro))

    def _usable(self, call: str) -> None:
        if self._closed:
            raise JanusError(f"this nbrtc.Janus ({self._url}) is closed; make a new one ({call})")

    def info(self, timeout: float | None = None) -> JanusInfo:
        """The server's name, version, plugins, transports and session timeout; connects
        first if needed. Blocks up to ``timeout`` (default: the constructor's); raises
        ``JanusError`` in words when the server cannot be reached or is not Janus."""
        self._usable("info()")
        if self._manager.media.in_loop_thread():
            raise RuntimeError(
                "Janus.info() blocks until nbrtc's media thread answers, and this is the "
                "media thread (it would wait for itself): use `await janus.info_async()`"
            )
        wait = _check_seconds("timeout", timeout, allow_none=True) or self._timeout
        fut = self._on_media(self._conn.open())
        try:
            return fut.result(wait + 0.5)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            msg = f"Janus at {self._url} did not answer 'info' within {wait:g} s"
            raise JanusError(msg) from None

    async def info_async(self) -> JanusInfo:
        """``info()`` for ``async`` code (any event loop, the media loop included)."""
        self._usable("info_async()")
        return await self._hop(self._conn.open())

    async def session_async(self) -> JanusSession:
        """A new Janus session owned by this object (kept alive, destroyed by ``close()``).

        For nbrtc's widgets built on the server: the session and its handles run on the
        media loop, so their methods must be awaited there
        (``nbrtc.manager().media.run(...)`` from other threads).
        """
        self._usable("session_async()")
        return await self._hop(self._conn.create_session())

    def broadcast(
        self, source: Source | MediaStreamTrack | str | None = None, **kwargs: Any
    ) -> Broadcast:
        """Publish ``source`` (an nbrtc source, an aiortc video track or a file path;
        default: a test pattern) once to a private videoroom of this server. Returns at
        once (``feed.wait()`` blocks until it is live); ``nbrtc.VideoView(feed)`` shows it
        in any number of cells and tabs, each page receiving it from Janus.
        ``display=``: the publisher's name in the room."""
        from .broadcast import Broadcast

        self._usable("broadcast()")
        feed = Broadcast(self, source, **kwargs)
        self.adopt(feed)
        return feed

    def watch(
        self,
        *,
        mountpoint: int | str | None = None,
        room: int | str | None = None,
        feed: int | str | None = None,
        display: str | None = None,
        pin: str | None = None,
    ) -> JanusFeed:
        """Receive an existing feed of this server in the kernel, with the Camera frame API
        (``snapshot()``, ``frames()``, ``capture()``, ``process(fn)``, ``record(path)``...).

        ``watch(mountpoint=ID, pin=None)``: a streaming plugin mountpoint;
        ``watch(room=ROOM, feed=ID)`` or ``watch(room=ROOM, display=NAME)``: a videoroom
        publisher, by its feed id or its display name (``pin``: the room's). Returns at
        once (``feed.wait()`` blocks until frames arrive); a feed that cannot be watched
        says why in ``feed.error`` and every blocking call raises it. Closing this
        ``Janus`` closes the feed.
        """
        from .feed import JanusFeed

        self._usable("watch()")
        receiver = JanusFeed(
            self,
            mountpoint=mountpoint,
            room=room,
            feed=feed,
            display=display,
            pin=pin,
            timeout=self._timeout,
        )
        self.adopt(receiver)
        return receiver

    def adopt(self, thing: Closable) -> None:
        """Close ``thing`` (a broadcast, a room's server side, a receiver made through this
        server) when this object closes; held weakly. Any thread."""
        self._owned.add(thing)

    # --- closing --------------------------------------------------------------------------
    def close(self) -> None:
        """Destroy every session and handle made through this object, stop the
        keep-alives, close the socket. Idempotent, any thread; waits up to ~1.5 s unless
        called on the media thread (then the teardown runs on after it returns)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for thing in list(self._owned):  # their views end in words, their rooms go
            thing.close()
        media = self._manager.media
        if not media.running() and self._conn.server is None:
            return  # never connected: nothing on the server, no need to start a thread
        if media.in_loop_thread():
            media.loop.create_task(self._conn.close())
            return
        fut = media.submit(self._conn.close())
        try:
            self._manager.wait_teardown(fut, CLOSE_WAIT)
        except Exception as exc:  # a slow server: the socket closes anyway, Janus then ends it
            log.warning("nbrtc.Janus(%s).close(): %s", self._url, type(exc).__name__)

    def __enter__(self) -> Janus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # garbage collection may run on any thread, the media thread included: never wait
        try:
            if not self._closed:
                self._closed = True
                media = self._manager.media
                conn = self._conn  # not self: the callback must not keep this object alive
                if media.running():
                    media.call_soon(lambda: media.loop.create_task(conn.close()))
        except Exception:
            pass
