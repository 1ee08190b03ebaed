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
second of media (one fragment or cluster, ``_FRAGMENT`` = 1 s, plus the frames still
queued for the encoder), and it decodes: ``.mp4`` is written as a hybrid fragmented MP4
(a fragment every second, readable as it grows; a normal stop turns it into an ordinary
MP4 with its index at the end), ``.webm``/``.mkv`` close a cluster every second. Every
finished piece is handed to the operating system at once (no user-space buffering), so a
killed process loses nothing the OS has; only an OS crash can lose more.

A write that fails (disk full, quota, read-only file system, I/O error) or a file that
disappears while recording (its directory removed) ends the recording at once: nothing
more is written into that container, the file is closed without touching its broken
end, ``error`` says in words what happened and how much of the take the file keeps, and
``wait()`` raises it. The stream being recorded and the kernel go on.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import errno
import fractions
import logging
import math
import os
import pathlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StreamError, StreamTimeoutError

if TYPE_CHECKING:  # PyAV and IPython are imported lazily: importing nbrtc stays fast
    import av
    from IPython.display import Video

log = logging.getLogger("nbrtc")

__all__ = ["Recorder", "stop_all"]

THREAD_NAME = "nbrtc-recorder"

AUDIO_RATE = 48_000  # both AAC and Opus encode at 48 kHz stereo; other input is resampled
AUDIO_LAYOUT = "stereo"
_AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)

# How long the first frames wait for the other kind (video for audio, or audio for video)
# before the file is opened without it: the container's streams must all be declared
# before anything is written, and a stream that never gets a packet makes a broken file.
_FIRST_KIND_GRACE = 2.0
# An audio gap (mic muted, packets lost) longer than this is filled with silence, so
# sound after it stays aligned with the picture; shorter gaps are network jitter.
_AUDIO_GAP = 0.5
# With ``seconds``, if media stops arriving before the limit, finish this long after the
# limit would have passed in real time (arrival times are real time in a live stream).
_LIMIT_SLACK = 1.0
# Frame duration assumed for a recording of a single video frame.
_DEFAULT_STEP = 1 / 30
# Keyframe interval in frames (2 s at 30 fps): files seek well without bloating.
_GOP = 60
# A finished fragment (mp4) or cluster (webm/mkv) is written every this many seconds: the
# most media a killed kernel can lose, besides the frames queued for the encoder.
_FRAGMENT = 1.0
# How often the recorder checks that its file is still where it was written (a removed
# directory does not fail writes on POSIX: they go to a file nobody can open any more).
_FILE_CHECK = 0.5
# How long counting what a broken file still holds may take (demuxing, no decoding).
_COUNT_BUDGET = 2.0


@dataclass(frozen=True)
class _Format:
    """How one file extension is written."""

    container: str  # PyAV/FFmpeg muxer name
    video_codec: str
    video_options: dict[str, str]
    video_time_base: fractions.Fraction  # the muxer's own, so nudging by 1 tick survives muxing
    audio_codec: str
    audio_format: str  # the encoder's sample format
    audio_bit_rate: int
    muxer_options: dict[str, str]  # how the file survives a kill (see the module docstring)


_X264 = {
    # ultrafast: about 1.5 ms of CPU per 640x480 frame (4 ms for veryfast), so a 2-core
    # machine keeps up with 30 fps while aiortc decodes; zerolatency: no B-frames, no
    # lookahead, so each frame comes out as it goes in and dts == pts in every container.
    "preset": "ultrafast",
    "tune": "zerolatency",
    "crf": "23",
}

# flush_packets: each packet the muxer finishes goes to the file at once (not into a
# 32 KiB buffer), so what a killed process leaves is what was muxed.
_FRAGMENT_US = str(round(_FRAGMENT * 1_000_000))
_MP4_OPTIONS = {
    # hybrid_fragmented: written as fragments (an empty moov first, then a moof+mdat
    # every frag_duration), decodable at any moment; on a normal close the muxer writes
    # an ordinary moov at the end and hides the fragment headers inside one mdat, so a
    # finished file is a plain, seekable MP4 for every player. delay_moov: the first moov
    # is written with the first fragment, when every track's start is known, so audio
    # that began after the video keeps its offset (an edit list) in a killed file too.
    "movflags": "+hybrid_fragmented+delay_moov",
    "frag_duration": _FRAGMENT_US,
    "flush_packets": "1",
}
_MATROSKA_OPTIONS = {
    # A cluster reaches the file only when it is closed: close one every second (the
    # default is 5 s). Cues are still written at the end of a finished file.
    "cluster_time_limit": str(round(_FRAGMENT * 1000)),
    "flush_packets": "1",
}

FORMATS: dict[str, _Format] = {
    ".mp4": _Format(
        "mp4",
        "libx264",
        _X264,
        fractions.Fraction(1, 90_000),
        "aac",
        "fltp",
        128_000,
        _MP4_OPTIONS,
    ),
    ".webm": _Format(
        "webm",
        "libvpx",
        {
            # realtime deadline + cpu-used 8: VP8's fastest mode that still looks
            # good at webcam sizes; lag-in-frames 0: no alt-ref look-ahead queue.
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
        },
        fractions.Fraction(1, 1000),
        "libopus",
        "s16",
        96_000,
        _MATROSKA_OPTIONS,
    ),
    # H.264 + Opus: Opus is what the browser sent, and PyAV/FFmpeg mux it into Matroska
    # without the priming-sample quirks of AAC in Matroska.
    ".mkv": _Format(
        "matroska",
        "libx264",
        _X264,
        fractions.Fraction(1, 1000),
        "libopus",
        "s16",
        96_000,
        _MATROSKA_OPTIONS,
    ),
}

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
        self._items: deque[tuple[str, Any, float]] = deque()
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
        self._writer = _Writer(self.path, self._format, self._want, self._seconds)

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

    def _push(self, kind: str, frame: Any, t: float) -> None:
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
    def _next_item(self) -> tuple[str, Any, float] | None:
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
        except _WriteFailed:
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
            except _WriteFailed:
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
        written = self.frames or self.audio_samples
        if self.done:
            if not written:
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


class _WriteFailed(Exception):
    """Writing the recording's file failed, or the file vanished; the words are in
    ``_Writer.failure``. The container is broken: nothing more is muxed into it."""


# errno -> (what happened, what to do), for the words of a failed write.
_ERRNO_WORDS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free some space or record to another disk"),
    errno.EROFS: ("the file system is read-only", "record to a writable directory"),
    errno.EACCES: ("permission was denied", "record to a directory you can write to"),
    errno.EPERM: ("the operation was not permitted", "record to a directory you can write to"),
    errno.ENOENT: ("the directory no longer exists", "record to a directory that exists"),
    errno.EIO: ("the disk reported an I/O error", "check the disk or record to another one"),
    errno.EFBIG: ("the file grew larger than the file system allows", "record shorter takes"),
}
if hasattr(errno, "EDQUOT"):
    _ERRNO_WORDS[errno.EDQUOT] = (
        "the disk quota is used up",
        "free some space or record elsewhere",
    )


def _failure_words(exc: BaseException, doing: str, path: pathlib.Path) -> str:
    """What failed, in words: "the disk is full (ENOSPC) while writing /x.mp4: ...; do this"."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and isinstance(code, int) and code > 0:
        name = errno.errorcode.get(code, f"errno {code}")
        detail = exc.strerror or os.strerror(code)
        if code in _ERRNO_WORDS:
            what, todo = _ERRNO_WORDS[code]
            return f"{what} ({name}) while {doing} {path}: {detail}; {todo}"
        return f"{doing} {path} failed ({name}): {detail}; record to another disk or directory"
    return f"{doing} {path} failed: {type(exc).__name__}: {exc}"


class _Output:
    """The recording's file, as the file object PyAV writes through (recorder thread only).

    Why not let FFmpeg open the path: this object owns the descriptor (a container whose
    header failed to write never leaks it), sees every write's OSError first-hand, and
    stops the rest. Every write goes to the OS at once and whole (a short write, as a disk
    filling up gives, is continued until it fails), so a killed process loses nothing it
    handed over. The first OSError is kept in ``error``; after it every write and seek
    raises at once, so nothing more is written into a file whose write failed.

    ``commit()`` marks the end of what is written as whole: called between packets, when
    the muxer (flush_packets) has handed over complete boxes (mp4 fragments) or clusters.
    After a failure, :meth:`cut_to_committed` drops the torn piece a failed write left,
    so the file ends cleanly and every frame in it decodes.
    """

    def __init__(self, path: pathlib.Path) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o666)
        self._path = path
        self._id = self._identity(os.fstat(self._fd))
        self.error: OSError | None = None
        self.closed = False  # PyAV skips the trailer of a container whose file is closed
        self._end = 0  # the furthest byte written
        self._committed = 0

    @staticmethod
    def _identity(st: os.stat_result) -> tuple[int, int]:
        return (st.st_dev, st.st_ino)

    def _usable(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed:
            raise ValueError("write to a closed recording file")

    def write(self, data: bytes) -> int:
        self._usable()
        view = memoryview(data)
        try:
            while view:  # bounded: every pass writes at least one byte or raises
                n = os.write(self._fd, view)
                if n <= 0:
                    raise OSError(errno.EIO, "the disk accepted no bytes")
                view = view[n:]
            self._end = max(self._end, os.lseek(self._fd, 0, os.SEEK_CUR))
        except OSError as exc:
            self.error = exc
            raise
        return len(data)

    def commit(self) -> None:
        """Everything written so far is whole (see the class docstring)."""
        if self.error is None:
            self._committed = self._end

    def cut_to_committed(self) -> None:
        """Drop what was written after the last commit (a torn fragment or cluster)."""
        with contextlib.suppress(OSError):  # a read-only or vanished file stays as it is
            if os.fstat(self._fd).st_size > self._committed:
                os.ftruncate(self._fd, self._committed)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._usable()
        try:
            return os.lseek(self._fd, offset, whence)
        except OSError as exc:
            self.error = exc
            raise

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def still_there(self) -> bool:
        """Whether the path still names this file (not removed, renamed over or replaced)."""
        try:
            return self._identity(os.stat(self._path)) == self._id
        except OSError:
            return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)


class _Writer:
    """The PyAV side of one recording: converts, stamps, encodes and muxes.

    Used only on the recorder thread. The container is opened when the first frames
    arrive (so a recording that never gets a frame leaves no file), with one stream per
    kind that arrived within ``_FIRST_KIND_GRACE`` of the first frame.

    Every write into the container goes through :meth:`_mux`; the first one that fails
    (or finds the file gone) sets ``failure`` and raises :class:`_WriteFailed`, and no
    container call that writes is made after it: PyAV would write the header again into
    a container whose header failed, and FFmpeg crashes the process (SIGSEGV) on that.
    """

    def __init__(
        self, path: pathlib.Path, fmt: _Format, want: frozenset[str], seconds: float | None
    ) -> None:
        self._path = path
        self._fmt = fmt
        self._want = want
        self._seconds = seconds
        self._pending: list[tuple[str, Any, float]] = []
        self._container: Any = None
        self._out: _Output | None = None
        self._next_file_check = 0.0
        # why writing failed, in words (read from other threads once the thread is done)
        self.failure: str | None = None
        self._vstream: Any = None
        self._astream: Any = None
        # video
        self._size: tuple[int, int] = (0, 0)
        self._held: Any = None  # newest converted frame: its duration is known at the next
        self._last_pts = -1
        self._step = 0  # pts ticks between the last two frames
        self._final_video_end = 0.0  # once the held frame is encoded at the end
        self._durations: dict[int, int] = {}  # pts -> duration of frames in the encoder
        # audio
        self._resampler: Any = None
        self._resampler_key: tuple[str, str, int] | None = None
        self._in_pos = 0.0  # seconds of input audio fed, from the first audio frame's start
        self._audio_start: float | None = None
        self._audio_frame_size = 0
        self._out_pts = 0
        # results, read from other threads
        self.frames = 0
        self.audio_samples = 0
        self.video_skipped = 0
        self.audio_skipped = 0
        self.duration = 0.0

    # --- input -------------------------------------------------------------------------
    def add(self, kind: str, frame: Any, rel: float) -> None:
        """Take one frame that arrived ``rel`` seconds after the recording's first frame."""
        if self._container is None:
            self._pending.append((kind, frame, rel))
            kinds = {k for k, _, _ in self._pending}
            if kinds >= self._want or rel - self._pending[0][2] >= _FIRST_KIND_GRACE:
                self._open()
            return
        self._write(kind, frame, rel)

    def _write(self, kind: str, frame: Any, rel: float) -> None:
        if kind == "video":
            if self._vstream is None:
                self.video_skipped += 1  # video came too late to get a stream
            else:
                self._video(frame, rel)
        elif self._astream is None:
            self.audio_skipped += 1
        else:
            self._audio(frame, rel)

    def _open(self) -> None:
        import av

        pending, self._pending = self._pending, []
        kinds = {k for k, _, _ in pending}
        fmt = self._fmt
        try:
            self._out = _Output(self._path)
        except OSError as exc:
            failed = self._fail(exc, "creating")
            self.failure = f"{self.failure}; nothing was written"
            raise failed from exc
        container = av.open(
            self._out, mode="w", format=fmt.container, container_options=dict(fmt.muxer_options)
        )
        self._container = container
        self._next_file_check = time.monotonic() + _FILE_CHECK
        if "video" in kinds:
            first = next(f for k, f, _ in pending if k == "video")
            # H.264 with 4:2:0 chroma needs even sizes: scale odd ones down by a pixel.
            width, height = max(2, first.width // 2 * 2), max(2, first.height // 2 * 2)
            self._size = (width, height)
            # The rate is only a hint for rate control: timing comes from each frame's pts
            # and each packet's duration (see _encode_video).
            stream = container.add_stream(fmt.video_codec, rate=30, options=dict(fmt.video_options))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = fmt.video_time_base
            stream.time_base = fmt.video_time_base
            stream.codec_context.gop_size = _GOP
            if fmt.video_codec == "libvpx":
                # libvpx's default 256 kb/s blurs webcam video; ~4 bits/pixel/s is sharp.
                stream.codec_context.bit_rate = min(max(width * height * 4, 500_000), 8_000_000)
            # libvpx's worker threads spin-wait on each other: on a busy 2-core machine two
            # threads took 35 ms of CPU per 640x480 frame against 4.5 ms for one thread.
            # x264's sliced threads (zerolatency) don't, and help at large sizes.
            threads = 1 if fmt.video_codec == "libvpx" else min(4, os.cpu_count() or 1)
            stream.codec_context.thread_count = threads
            self._vstream = stream
        if "audio" in kinds:
            stream = container.add_stream(fmt.audio_codec, rate=AUDIO_RATE)
            stream.layout = AUDIO_LAYOUT
            stream.format = fmt.audio_format
            stream.codec_context.bit_rate = fmt.audio_bit_rate
            stream.codec_context.time_base = _AUDIO_TIME_BASE
            stream.time_base = _AUDIO_TIME_BASE
            # Open now: the encoder's frame size (AAC 1024, Opus 960) is known only then,
            # and the resampler cuts exactly that, so the encoder never re-buffers.
            stream.codec_context.open()
            self._audio_frame_size = stream.codec_context.frame_size
            self._astream = stream
        if self._want - kinds:
            log.warning(
                "recording %s without %s: none arrived within %.0f s of the first frame",
                self._path.name,
                " or ".join(sorted(self._want - kinds)),
                _FIRST_KIND_GRACE,
            )
        for item in pending:
            self._write(*item)

    # --- video -------------------------------------------------------------------------
    def _video(self, frame: Any, rel: float) -> None:
        tb = self._fmt.video_time_base
        pts = round(rel / tb)
        if pts <= self._last_pts:
            pts = self._last_pts + 1  # same or earlier arrival: keep pts strictly increasing
        image = self._convert(frame)
        image.pts, image.time_base = pts, tb
        if self._held is not None:
            self._step = pts - self._held.pts
            self._encode_video(self._held, self._step)
        self._held = image
        self._last_pts = pts
        self.frames += 1
        self._update_duration()

    def _convert(self, frame: Any) -> Any:
        """A new yuv420p frame of the recording's size (never the caller's frame object).

        The caller's frame may be shared with other consumers (a view, a relay), so its
        pts must not be touched: when no conversion is needed, copy it.
        """

        from .frames import private_copy, reformat

        width, height = self._size
        # this thread's own swscale context: the frame may be converted by others now
        image = reformat(frame, "yuv420p", width, height)
        return private_copy(frame) if image is frame else image

    def _encode_video(self, image: Any | None, duration: int = 0) -> None:
        """Encode ``image`` lasting ``duration`` ticks (None: flush) and mux the packets.

        Encoders don't pass a frame's duration on to its packet, and without it muxers
        guess the last frame's duration from the rate hint, so a 15 fps recording would
        come out a frame short: set each packet's duration from its frame, by pts.
        """
        if image is not None:
            self._durations[image.pts] = max(1, duration)
        for packet in self._vstream.encode(image):
            packet.duration = self._durations.pop(packet.pts, packet.duration)
            self._mux(packet)

    def _video_end(self) -> float:
        """Where the video ends: the held frame lasts as long as the step before it."""
        if self._held is None:
            return self._final_video_end
        tb = self._fmt.video_time_base
        step = self._step or round(_DEFAULT_STEP / tb)
        end = float((self._held.pts + step) * tb)
        return min(end, self._seconds) if self._seconds is not None else end

    # --- audio -------------------------------------------------------------------------
    def _audio(self, frame: Any, rel: float) -> None:
        import av

        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or key != self._resampler_key:
            # A new input format (rare) needs a new resampler; the old one's few buffered
            # samples are let go (flushing would hand the encoder a short frame mid-stream).
            self._resampler = av.AudioResampler(
                format=self._fmt.audio_format,
                layout=AUDIO_LAYOUT,
                rate=AUDIO_RATE,
                frame_size=self._audio_frame_size,
            )
            self._resampler_key = key
        if self._audio_start is None:
            self._audio_start = rel
            self._out_pts = round(rel * AUDIO_RATE)  # aligned with video by arrival
        else:
            gap = round((rel - self._audio_start - self._in_pos) * frame.sample_rate)
            if gap > _AUDIO_GAP * frame.sample_rate:
                while gap > 0:  # in 1 s pieces: a long mute must not need one huge frame
                    piece = min(gap, frame.sample_rate)
                    self._feed_audio(_silence_like(frame, piece))
                    gap -= piece
        self._feed_audio(frame)

    def _feed_audio(self, frame: Any) -> None:
        self._in_pos += frame.samples / frame.sample_rate
        for out in self._resampler.resample(frame):
            self._encode_audio(out)

    def _encode_audio(self, out: Any) -> None:
        if self._seconds is not None and self._out_pts >= self._seconds * AUDIO_RATE:
            return  # after the limit (the frame's arrival was within it, its samples not)
        out.pts, out.time_base = self._out_pts, _AUDIO_TIME_BASE
        self._out_pts += out.samples
        self.audio_samples += out.samples
        for packet in self._astream.encode(out):
            self._mux(packet)
        self._update_duration()

    # --- the file ------------------------------------------------------------------------
    def _mux(self, packet: Any) -> None:
        """Write one packet into the container, or fail for good (see the class docstring)."""
        if self.failure is not None:
            raise _WriteFailed(self.failure)  # never again into a broken container
        out = self._out
        assert out is not None
        try:
            self._container.mux(packet)  # the first call writes the header
        except Exception as exc:
            raise self._fail(out.error or exc, "writing") from exc
        if out.error is not None:  # FFmpeg may note a failed write and carry on
            raise self._fail(out.error, "writing")
        out.commit()
        now = time.monotonic()
        if now >= self._next_file_check:
            self._next_file_check = now + _FILE_CHECK
            self._check_file()

    def _check_file(self) -> None:
        """Fail if the file is no longer at its path (a removed directory fails no write)."""
        if self._out is not None and not self._out.still_there():
            self.failure = (
                f"the file {self._path} was removed while recording (its directory was "
                "deleted, or the file deleted, moved or replaced), so what is written to "
                "it cannot be kept; record to a directory that stays"
            )
            raise _WriteFailed(self.failure)

    def _fail(self, exc: BaseException, doing: str) -> _WriteFailed:
        """Remember why writing failed (the first reason only); the error to raise."""
        if self.failure is None:
            self.failure = _failure_words(exc, doing, self._path)
        return _WriteFailed(self.failure)

    # --- end -----------------------------------------------------------------------------
    def _update_duration(self) -> None:
        audio_end = self._out_pts / AUDIO_RATE if self.audio_samples else 0.0
        self.duration = max(self._video_end(), audio_end)

    def finish(self) -> None:
        """Flush the encoders, close the container; remove the file if nothing was written.

        Idempotent. Called once by the recorder thread, also after an encoding error (then
        the partial file is finalized as far as the encoders allow). After a write failure
        (``failure`` set, here or before) nothing more is written: the file is closed as
        it is, and ``frames``/``audio_samples``/``duration`` become what it still holds,
        which ``failure`` then states. Raises _WriteFailed if finishing failed to write.
        """
        try:
            if self._container is None and self._pending:
                self._open()  # a short recording that ended within the grace period
            if self._container is not None and self.failure is None:
                try:
                    self._flush()
                finally:
                    if self.failure is None:
                        self._close_container()
        finally:
            self._release()

    def _close_container(self) -> None:
        """Write the trailer (mp4: the moov index; matroska: cues and sizes)."""
        self._check_file()  # no trailer for a file nobody can open
        out = self._out
        assert out is not None
        container, self._container = self._container, None
        try:
            container.close()
        except Exception as exc:
            raise self._fail(out.error or exc, "finishing") from exc
        if out.error is not None:
            raise self._fail(out.error, "finishing")

    def _release(self) -> None:
        """Close the file (first, so PyAV writes nothing more into a broken container),
        count what a failed file keeps, and remove a file that holds nothing."""
        container, self._container = self._container, None
        out, self._out = self._out, None
        if out is None:
            return
        ours = out.still_there()
        if self.failure is not None and ours:
            out.cut_to_committed()
        out.close()
        if container is not None:
            # The file is closed: PyAV skips the trailer and only marks the container done.
            with contextlib.suppress(Exception):
                container.close()
        if self.failure is not None:
            self._count_kept(ours)
        if ours and not (self.frames or self.audio_samples):
            with contextlib.suppress(OSError):
                self._path.unlink()

    def _count_kept(self, ours: bool) -> None:
        """After a write failure: what the file still holds becomes the result, in words."""
        words = self.failure or "writing failed"
        kept = _kept_media(self._path) if ours else (0, 0, 0.0, True)
        if kept is None:  # unreadable: left in place, the counts as they were
            self.failure = f"{words}; what {self._path.name} keeps could not be read back"
            return
        frames, samples, seconds, counted = kept
        self.video_skipped += max(0, self.frames - frames)
        self.frames, self.audio_samples, self.duration = frames, samples, seconds
        self._held = None
        if frames or samples:
            amount = f"{frames} frames" if "video" in self._want else "the audio"
            least = "" if counted else "at least "
            words += f"; the file keeps {least}{amount} ({seconds:.2f} s) written before"
        elif ours:
            words += "; no frame could be kept, so the file was removed"
        else:
            words += "; nothing was kept"
        self.failure = words

    def _flush(self) -> None:
        """Encode the held video frame, then drain both encoders into the container."""
        if self._held is not None:
            tb = self._fmt.video_time_base
            step = self._step or round(_DEFAULT_STEP / tb)
            if self._seconds is not None:  # the last frame lasts up to the limit, no longer
                step = min(step, round(self._seconds / tb) - self._held.pts)
            held, self._held = self._held, None
            self._encode_video(held, step)
            self._final_video_end = float((held.pts + step) * tb)
            self._update_duration()
        if self._vstream is not None:
            self._encode_video(None)
        if self._astream is not None and self._resampler is not None:
            for out in self._resampler.resample(None):
                self._encode_audio(out)
            for packet in self._astream.encode(None):
                self._mux(packet)


def _kept_media(path: pathlib.Path) -> tuple[int, int, float, bool] | None:
    """(video frames, audio samples, seconds, complete) a broken recording still holds.

    Demuxes (does not decode) for at most ``_COUNT_BUDGET`` seconds; ``complete`` is False
    if it ran out of time (the counts are then lower bounds). An empty file holds nothing;
    None if the file cannot be read back.
    """
    import av
    import av.error

    try:
        if path.stat().st_size == 0:
            return 0, 0, 0.0, True
    except OSError:
        return None
    # A write error FFmpeg noted without failing the call can leave PyAV's stashed copy
    # on this thread; it would be raised by the next PyAV call (the open below): drop it.
    with contextlib.suppress(Exception):
        av.error.err_check(0)
    frames = samples = 0
    end = 0.0
    deadline = time.monotonic() + _COUNT_BUDGET
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.pts is None or packet.size == 0:
                    continue  # a demuxer's flush packet
                duration = packet.duration or 0
                if packet.stream.type == "video":
                    frames += 1
                elif packet.stream.type == "audio":
                    samples += round(duration * packet.time_base * AUDIO_RATE)
                end = max(end, float((packet.pts + duration) * packet.time_base))
                if time.monotonic() > deadline:
                    return frames, samples, end, False
    except Exception:
        log.warning("could not read back %s to count what it keeps", path, exc_info=True)
        return None
    return frames, samples, end, True


def _silence_like(frame: Any, samples: int) -> Any:
    """A silent audio frame in ``frame``'s format, layout and rate."""
    import av

    silence = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=samples)
    silence.sample_rate = frame.sample_rate
    for plane in silence.planes:
        plane.update(bytes(plane.buffer_size))
    return silence


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
