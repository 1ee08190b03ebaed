"""Recording received media to a playable file: ``.mp4``, ``.webm`` or ``.mkv``.

A :class:`Recorder` is made by a Camera/Microphone widget (``cam.record(path)``). The media
thread hands it every frame it receives with :meth:`Recorder.push_video` /
:meth:`Recorder.push_audio`; those calls only append to a bounded queue, so they never
block the media loop. One daemon thread per recording ("nbrtc-recorder") owns the PyAV
container: it converts, encodes and muxes, and finalizes the file (encoders flushed, mp4
``moov`` written) when the recording ends, then exits.

A recording ends when ``seconds`` of media have been written, on :meth:`Recorder.stop`,
when the widget closes (:meth:`Recorder._on_source_closed`), at kernel shutdown
(:func:`stop_all`, also registered with :mod:`atexit`), or when encoding fails.

Timing comes from arrival times, not from the stream's frame rate: a frame's timestamp is
``t - t_first`` (``t_first`` the arrival of the first frame of any kind), so a camera that
slows down or pauses is recorded as it was seen (variable frame rate), and audio starts at
its own arrival offset, so picture and sound stay aligned.

"The frames recorded are the frames received": every video frame pushed while recording
is encoded, in order, unless the queue of ``queue_frames`` frames is full (the encoder
cannot keep up) or :meth:`Recorder.stop` runs out of time; then the frame is dropped and
counted in ``dropped``. So ``frames + dropped == received`` always holds once the
recording is done, and with an encoder that keeps up, ``frames == received``.

A recording cut short keeps what was written. If the kernel is killed (``kill -9``, a
crash, a power cut of the process) the file holds everything but at most about the last
second of media (one fragment or cluster, ``recording_formats.FRAGMENT`` = 1 s, plus the
frames still queued for the encoder), and it decodes: ``.mp4`` is written as a hybrid fragmented MP4
(a fragment every second, readable as it grows; a normal stop turns it into an ordinary
MP4 with its index at the end), ``.webm``/``.mkv`` close a cluster every second. Every
finished piece is handed to the operating system at once (no user-space buffering), so a
killed process loses nothing the OS has; only an OS crash can lose more.

A write that fails (disk full, quota, read-only file system, I/O error) or a file that
disappears while recording (its directory removed) ends the recording at once: nothing
more is written into that container, the file is closed without touching its broken
end, ``error`` says in words what happened and how much of the take the file keeps, and
``wait()`` raises it. The stream being recorded and the kernel go on.

This module is the front: arguments, the queue the media thread pushes into, the
recorder thread, ``stop``/``wait`` and the results. The rest is one concept a module:
:mod:`.recording_formats` (what each extension is written as), :mod:`.recording_writer`
(encoding and muxing, on the recorder thread) and :mod:`.recording_file` (the file
itself: writes that reach the OS at once, and what a failing disk leaves).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import math
import os
import pathlib
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import StreamError, StreamTimeoutError
from .recording_file import WriteFailed
from .recording_formats import FORMATS
from .recording_writer import Writer

if TYPE_CHECKING:  # PyAV and IPython are imported lazily: importing nbrtc stays fast
    import av
    from IPython.display import Video

    from .recording_writer import Frame, Item

log = logging.getLogger("nbrtc")

__all__ = ["Recorder", "stop_all"]

THREAD_NAME = "nbrtc-recorder"

# With ``seconds``, if media stops arriving before the limit, finish this long after the
# limit would have passed in real time (arrival times are real time in a live stream).
_LIMIT_SLACK = 1.0

_registry_lock = threading.Lock()
_active: set[Recorder] = set()
_atexit_registered = False


def _check_path(path: str | os.PathLike[str]) -> pathlib.Path:
    """The absolute output path, or a ValueError naming ``path`` and what to do."""
    try:
        p = pathlib.Path(os.fspath(path)).expanduser()
    except TypeError:
        raise TypeError(
            f"path must be a file name such as 'take1.mp4', got {type(path).__name__}"
        ) from None
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"path={os.fspath(path)!r}: the file name must end in .mp4, .webm or .mkv "
            "(it picks the container and codecs: H.264+AAC, VP8+Opus, H.264+Opus)"
        )
    p = p.absolute()
    parent = p.parent
    if not parent.is_dir():
        raise ValueError(
            f"path={os.fspath(path)!r}: the directory {str(parent)!r} does not exist; "
            "create it first (os.makedirs) or record elsewhere"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"path={os.fspath(path)!r}: the directory {str(parent)!r} is not writable; "
            "record somewhere you can write"
        )
    if p.is_dir():
        raise ValueError(f"path={os.fspath(path)!r} is a directory; give a file name")
    return p


def _same_file(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Whether two resolved output paths name one file (also a hard link, once both exist)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: the resolved paths decide
        return False


def _check_seconds(seconds: Any) -> float | None:
    if seconds is None:
        return None
    if (
        not isinstance(seconds, (int, float))
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(
            f"seconds must be a positive number (or None to record until stop()), got {seconds!r}"
        )
    return float(seconds)


def _check_queue(queue_frames: Any) -> int:
    if not isinstance(queue_frames, int) or isinstance(queue_frames, bool) or queue_frames < 1:
        raise ValueError(
            f"queue_frames must be a positive integer (frames held while the encoder "
            f"catches up), got {queue_frames!r}"
        )
    return queue_frames


class Recorder:
    """Records the frames a widget receives to ``path``; see the module docstring.

    Threads: ``push_video``/``push_audio`` are for the media thread and never block;
    ``stop``/``wait`` (and their awaitable twins) are for any other thread; the encoding
    runs on the recorder's own daemon thread, which exits once the file is finalized.

    Attributes (read any time, from any thread): ``path``; ``frames`` (video frames
    written); ``audio_samples`` (audio samples per channel written, at 48 kHz);
    ``received`` (video frames pushed while recording); ``dropped`` (video frames not
    written because the queue was full, stop() ran out of time, video came too late
    to get a stream in the file, or a failed write lost them); ``audio_dropped`` (the
    same for audio frames); ``duration`` (seconds of media written); ``done``; ``error``
    (why encoding or writing failed, in words; after a failed write it also says what
    the file keeps, and ``frames``/``duration`` are what the file holds).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        video: bool = True,
        audio: bool = False,
        seconds: float | None = None,
        queue_frames: int = 240,
    ) -> None:
        self.path = _check_path(path)
        # The file the path names once "..", symlinks and the like are resolved: two
        # spellings of one file must not be recorded at once (see _same_file).
        self._resolved = pathlib.Path(os.path.realpath(self.path))
        self._format = FORMATS[self.path.suffix.lower()]
        self._seconds = _check_seconds(seconds)
        self._capacity = _check_queue(queue_frames)
        if not video and not audio:
            raise ValueError("video and audio are both False: record at least one of them")
        self._want = frozenset(k for k, on in (("video", video), ("audio", audio)) if on)

        self._cond = threading.Condition()
        self._items: deque[Item] = deque()
        self._t0: float | None = None  # arrival of the first frame (the caller's clock)
        self._wall0: float | None = None  # time.monotonic() at the first push
        self._stopping = False  # no more frames accepted
        self._drain_until = math.inf  # queued frames are encoded until then, then dropped
        self._queue_dropped = 0
        self._queue_audio_dropped = 0
        self.received = 0
        self.error: str | None = None
        self._done = threading.Event()
        self._finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer = Writer(self.path, self._format, self._want, self._seconds)

        with _registry_lock:
            for other in _active:
                if _same_file(self._resolved, other._resolved):
                    given = os.fspath(path)
                    raise ValueError(
                        f"path={given!r} is the file {str(self._resolved)!r}, which is "
                        f"already being recorded (as {str(other.path)!r}) by {other!r}; "
                        "two recordings cannot write one file: stop that recording first "
                        "or choose another file name"
                    )
            _active.add(self)
            _register_atexit()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    # --- media thread ----------------------------------------------------------------
    def push_video(self, frame: av.VideoFrame, t: float) -> None:
        """Queue a received video frame; ``t`` is ``time.monotonic()`` at its arrival.

        Called on the media thread for every frame; never blocks and never raises for a
        full queue (the frame is dropped and counted). Ignored once the recording ends.
        """
        self._push("video", frame, t)

    def push_audio(self, frame: av.AudioFrame, t: float) -> None:
        """Queue a received audio frame; same contract as :meth:`push_video`."""
        self._push("audio", frame, t)

    def _push(self, kind: str, frame: Frame, t: float) -> None:
        if kind not in self._want:
            return
        with self._cond:
            if self._stopping:
                return
            if self._t0 is None:
                self._t0, self._wall0 = t, time.monotonic()
            rel = t - self._t0
            if self._seconds is not None and rel >= self._seconds:
                # Enough media: this frame belongs to after the recording.
                self._stopping = True
                self._cond.notify()
                return
            if kind == "video":
                self.received += 1
            if len(self._items) >= self._capacity:
                if kind == "video":
                    self._queue_dropped += 1
                else:
                    self._queue_audio_dropped += 1
                return
            self._items.append((kind, frame, rel))
            self._cond.notify()

    # --- recorder thread -------------------------------------------------------------
    def _next_item(self) -> Item | None:
        """The next queued frame, or None when the recording should finish (blocks)."""
        with self._cond:
            while True:
                if self._items:
                    if time.monotonic() < self._drain_until:
                        return self._items.popleft()
                    return None  # stop() is out of time: the rest is dropped
                if self._stopping:
                    return None
                timeout = None
                if self._seconds is not None and self._wall0 is not None:
                    # Media stopped arriving before the limit: end in real time.
                    timeout = self._wall0 + self._seconds + _LIMIT_SLACK - time.monotonic()
                    if timeout <= 0:
                        self._stopping = True
                        return None
                self._cond.wait(timeout)

    def _run(self) -> None:
        writer = self._writer
        try:
            while (item := self._next_item()) is not None:
                writer.add(*item)
        except WriteFailed:
            pass  # the writer holds the words; finish() adds how much the file keeps
        except Exception as exc:
            self.error = f"encoding failed: {type(exc).__name__}: {exc}"
            log.exception("recording to %s failed", self.path)
        finally:
            with self._cond:
                self._stopping = True
                for kind, _, _ in self._items:
                    if kind == "audio":
                        self._queue_audio_dropped += 1
                self._items.clear()
            try:
                writer.finish()
            except WriteFailed:
                pass
            except Exception as exc:
                if self.error is None:
                    self.error = f"finalizing the file failed: {type(exc).__name__}: {exc}"
                log.exception("finalizing %s failed", self.path)
            if writer.failure is not None:
                if self.error is None:
                    self.error = writer.failure
                log.warning("recording to %s failed: %s", self.path, writer.failure)
            with self._cond:
                # Every video frame received and not in the file is dropped, wherever it
                # was lost (queue full, out of time, the frame that failed, a write
                # failure that cost written frames): frames + dropped == received.
                self._queue_dropped = self.received - writer.frames - writer.video_skipped
            with _registry_lock:
                _active.discard(self)
            self._done.set()
            self._finished.set_result(None)
            log.debug("recording finished: %r", self)

    # --- any thread ------------------------------------------------------------------
    def _request_stop(self, drain: float) -> None:
        """Accept no more frames; encode the queued ones for at most ``drain`` seconds."""
        with self._cond:
            self._stopping = True
            self._drain_until = min(self._drain_until, time.monotonic() + max(drain, 0.0))
            self._cond.notify()

    def stop(self, timeout: float = 10.0) -> Recorder:
        """End the recording, finalize the file and join the recorder thread; returns self.

        Frames already queued are still encoded for up to 80% of ``timeout`` (the rest is
        dropped and counted), so the file ends where the media did. Idempotent and safe
        from any thread except the media loop (which should call ``_on_source_closed``).
        An encoding error does not raise here (see ``error``, the repr, or ``wait()``);
        raises StreamTimeoutError if the file could not be finalized within ``timeout``.
        """
        self._request_stop(0.8 * timeout)
        self._join(timeout, "stop()")
        return self

    async def stop_async(self, timeout: float = 10.0) -> Recorder:
        """Awaitable :meth:`stop`: the same, without blocking the event loop."""
        self._request_stop(0.8 * timeout)
        await self._await_finished(timeout, "stop_async()")
        return self

    #: the name before the ``*_async`` rule (kept)
    astop = stop_async

    def wait(self, timeout: float | None = None) -> Recorder:
        """Block until the recording is done (``seconds`` reached, stopped, source closed).

        Returns self. Raises StreamTimeoutError if it is still recording after ``timeout``
        seconds (the recording goes on), and StreamError if encoding failed.
        """
        self._join(timeout, "wait()")
        self._raise_error()
        return self

    async def wait_async(self, timeout: float | None = None) -> Recorder:
        """Awaitable :meth:`wait`."""
        await self._await_finished(timeout, "wait_async()")
        self._raise_error()
        return self

    #: the name before the ``*_async`` rule (kept)
    await_done = wait_async

    def _on_source_closed(self) -> None:
        """The widget closed: stop and finalize in the background.

        Safe on the media loop: it only signals the recorder thread (queued frames are
        still encoded for up to 2 s) and never joins it. ``wait()``/``stop()`` join later.
        """
        self._request_stop(2.0)

    def _join(self, timeout: float | None, what: str) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{what} called on the recorder's own thread")
        if not self._done.wait(timeout):
            raise StreamTimeoutError(self._timeout_message(timeout, what))
        # done is set just before the thread returns: this join is immediate.
        self._thread.join(1.0)

    async def _await_finished(self, timeout: float | None, what: str) -> None:
        # shield: a timeout must not cancel the concurrent future the thread resolves.
        waiter = asyncio.shield(asyncio.wrap_future(self._finished))
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise StreamTimeoutError(self._timeout_message(timeout, what)) from None
        deadline = time.monotonic() + 1.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)  # the thread is returning; don't block the loop

    def _timeout_message(self, timeout: float | None, what: str) -> str:
        name = self.path.name
        if self._stopping:
            return (
                f"{what}: the recorder of {name} did not finish within {timeout} s "
                f"(the encoder is behind: {len(self._items)} frames queued); "
                "call wait() again to let it finish"
            )
        if self.received == 0 and self._t0 is None:
            why = "no frame has arrived yet (is the widget displayed and its camera on?)"
        else:
            why = f"it is still recording ({self.duration:.2f} s so far)"
        return (
            f"{what}: {name} is not done after {timeout} s: {why}; "
            "call stop() to end the recording now, or wait longer"
        )

    def _raise_error(self) -> None:
        if self.error is not None:
            raise StreamError(f"recording {self.path.name} failed: {self.error}")

    # --- state -------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the file is finalized (or the recording failed); the thread then ends."""
        return self._done.is_set()

    @property
    def frames(self) -> int:
        """Video frames written (encoded into the file)."""
        return self._writer.frames

    @property
    def audio_samples(self) -> int:
        """Audio samples per channel written, at 48 kHz."""
        return self._writer.audio_samples

    @property
    def dropped(self) -> int:
        """Video frames received but not written; ``frames + dropped == received`` when done."""
        return self._queue_dropped + self._writer.video_skipped

    @property
    def audio_dropped(self) -> int:
        """Audio frames received but not written (queue full, late, or out of time)."""
        return self._queue_audio_dropped + self._writer.audio_skipped

    @property
    def duration(self) -> float:
        """Seconds of media written so far (the longer of video and audio)."""
        return self._writer.duration

    def video(self, embed: bool = True) -> Video:
        """An ``IPython.display.Video`` of the finished file for inline playback.

        ``embed=True`` puts the file's bytes into the notebook (works everywhere, makes the
        notebook as big as the file); ``embed=False`` links to it by a path relative to
        the kernel's working directory (keep the file next to the notebook). Browsers
        play .mp4 and .webm; few play .mkv.
        """
        from IPython.display import Video

        if not self.done:
            raise RuntimeError(
                f"{self.path.name} is still being recorded; call stop() or wait() first"
            )
        if not self.path.exists():
            why = self.error or "no frames were received"
            raise FileNotFoundError(f"no file was written to {str(self.path)!r}: {why}")
        mimetype = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska"}[
            self.path.suffix.lower()
        ]
        if embed:
            return Video(str(self.path), embed=True, mimetype=mimetype)
        try:
            link = os.path.relpath(self.path)
        except ValueError:  # another drive on Windows
            link = str(self.path)
        return Video(link, embed=False, mimetype=mimetype)

    def __repr__(self) -> str:
        name = self.path.name
        if self.error is not None:
            # A write failure's words already say what the file keeps.
            written = self.path.exists() and self._writer.failure is None
            kept = f" ({self._amount()} kept)" if written else ""
            return f"<nbrtc.Recorder {name} failed: {self.error}{kept}>"
        if self.done:
            if not (self.frames or self.audio_samples):
                return f"<nbrtc.Recorder {name} finished: no frames were received, no file written>"
            return f"<nbrtc.Recorder {name} finished {self._amount()}>"
        if self._t0 is None:
            return f"<nbrtc.Recorder {name} recording: waiting for the first frame>"
        return f"<nbrtc.Recorder {name} recording {self._amount()}>"

    def _amount(self) -> str:
        parts = [f"{self.frames} frames"] if "video" in self._want else []
        parts.append(f"{self.duration:.2f} s")
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        return " ".join(parts)


def stop_all(timeout: float = 2.0) -> None:
    """Finalize every active recording within about ``timeout`` seconds (kernel shutdown).

    Queued frames are encoded for up to half of ``timeout``, then every file is finalized
    and every recorder thread joined. Never raises; a recorder that cannot finish in time
    is logged and left to the interpreter's exit.
    """
    deadline = time.monotonic() + timeout
    with _registry_lock:
        recorders = list(_active)
    for rec in recorders:
        rec._request_stop(timeout / 2)
    for rec in recorders:
        remaining = max(0.0, deadline - time.monotonic())
        if not rec._done.wait(remaining):
            log.warning("recorder of %s did not finish at shutdown", rec.path)
            continue
        rec._thread.join(max(0.0, deadline - time.monotonic()))


def _register_atexit() -> None:
    """Finalize open recordings when Python exits (called with the registry lock held).

    atexit runs before daemon threads are frozen, so the recorder threads can still
    write the mp4 index; without this, a kernel shutdown would leave unplayable files.
    """
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_all)
        _atexit_registered = True
