"""What every stream the manager routes shares (``StreamBase``): a kernel peer's
(``KernelStream``, stream.py) and one whose far end is a media server (``JanusViewer``,
``_sfu/viewer.py``).

Its identity (id, page, key, view, kind), the one state machine (``new -> connecting ->
live``, ``error``, ``closed``; ``_set_state`` is the one place it changes, logging
``old -> new``, telling the page and the widget), how it talks to its page (``send``,
``_refuse``), its tasks (``spawn``: the teardown cancels them), the page's liveness
(``heard``) and an idempotent ``close`` around the subclass's ``_teardown``.

Media loop only, unless a docstring says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from .._inspection.history import History
from ..errors import StreamError
from .protocol import ProtocolError, make_message

if TYPE_CHECKING:
    from .owner import SignalingHost, StreamOwner

log = logging.getLogger("nbrtc")

#: stream states, in the order a healthy stream passes through them
STATES = ("new", "connecting", "live", "error", "closed")
TERMINAL = frozenset({"error", "closed"})
ALLOWED = {
    "new": {"connecting", "error", "closed"},
    "connecting": {"live", "error", "closed"},
    "live": {"error", "closed"},
    "error": {"closed"},
    "closed": set(),
}


def wire_size(msg: dict[str, Any]) -> int:
    """UTF-8 bytes of a message's compact JSON (what the signaling log shows)."""
    try:
        return len(json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return 0


class StreamBase:
    """One browser peer of one widget view, as the manager routes it (see the module
    docstring). Where it hands ``self`` to the widget, whose seam names the concrete
    stream classes, the line says ``# type: ignore[arg-type]``: naming them here would
    make an import cycle."""

    #: frames/audio frames the kernel received, and what carries the media ("" before it
    #: is known): a kernel peer's stream sets them; a media server's stream keeps 0
    frames = 0
    audio_frames = 0
    transport = ""

    def __init__(
        self,
        manager: SignalingHost,
        owner: StreamOwner,
        stream_id: str,
        kind: str,
        page: str,
        view: str,
        key: str = "",
    ) -> None:
        self.manager = manager
        #: the page key of the page that started this stream: only messages carrying it
        #: are accepted for it (never logged, never shown; see manager._dispatch)
        self.key = key
        self._owner_ref = weakref.ref(owner)
        self.owner_id = owner.model_id
        self.id = stream_id
        self.kind = kind
        self.page = page
        self.view = view
        self.created = time.monotonic()
        self.silence = 0.0  # idle-kernel seconds since the browser last said anything
        self.browser: dict[str, str] = {}
        self.error: StreamError | None = None
        self.timings: dict[str, float] = {}
        self.history = History(stream_id)
        self._state = "new"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._close_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> str:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state in TERMINAL

    @property
    def owner(self) -> StreamOwner | None:
        """The port of the widget this stream belongs to (None once it is gone)."""
        return self._owner_ref()

    def _set_state(self, new: str, detail: str = "") -> None:
        """The one place a stream's state changes."""
        old = self._state
        if new == old or new not in ALLOWED[old]:
            return
        self._state = new
        self.timings[new] = time.monotonic() - self.created
        log.info("stream %s: %s -> %s%s", self.id, old, new, f" ({detail})" if detail else "")
        self.history.state("kernel", "stream", new, detail)
        self.send("state", {"state": new, "detail": detail})
        owner = self.owner
        if owner is not None:
            owner.stream_state_changed(self)  # type: ignore[arg-type]  # a concrete stream

    def send(self, type_: str, payload: Any) -> None:
        """A kernel -> page message of this stream (noted in its history)."""
        msg = make_message(type_, self.id, payload)
        self.history.message("out", type_, wire_size(msg), payload)
        owner = self.owner
        if owner is not None:
            owner.send(msg)

    def _refuse(self, code: str, message: str, type_: str) -> None:
        """An ``error`` reply for a message of this stream that cannot be honoured."""
        owner = self.owner
        if owner is not None:
            self.manager.reply_error(owner, ProtocolError(code, message, self.id, type_))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this stream: its teardown cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def heard(self) -> None:
        """The page said something about this stream: its silence starts again."""
        self.silence = 0.0

    def describe(self) -> dict[str, Any]:
        """Plain-data summary for ``manager().streams()`` (any thread)."""
        return {
            "id": self.id,
            "widget": self.owner_id,
            "kind": self.kind,
            "page": self.page,
            "state": self._state,
            "age": round(time.monotonic() - self.created, 3),
            "frames": self.frames,
            "audio_frames": self.audio_frames,
            "browser": dict(self.browser),
            "transport": self.transport,
            "error": str(self.error) if self.error else None,
            # seconds from the stream's start: answer sent, first frame, live, closed
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    async def close(self, reason: str, notify_browser: bool = True) -> None:
        """Tear down (idempotent: a second caller awaits the first teardown)."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._teardown(reason, notify_browser)
            )
        await asyncio.shield(self._close_task)

    async def _teardown(self, reason: str, notify_browser: bool) -> None:
        """The subclass's teardown (runs once, from ``close``)."""
        raise NotImplementedError
