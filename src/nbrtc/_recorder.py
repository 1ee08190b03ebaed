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
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
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

from .errors import StreamError, StreamTimeoutError

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


_X264 = {
    # ultrafast: about 1.5 ms of CPU per 640x480 frame (4 ms for veryfast), so a 2-core
    # machine keeps up with 30 fps while aiortc decodes; zerolatency: no B-frames, no
    # lookahead, so each frame comes out as it goes in and dts == pts in every container.
    "preset": "ultrafast",
    "tune": "zerolatency",
    "crf": "23",
}

FORMATS: dict[str, _Format] = {
    ".mp4": _Format("mp4", "libx264", _X264, fractions.Fraction(1, 90_000), "aac", "fltp", 128_000),
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
    ),
    # H.264 + Opus: Opus is what the browser sent, and PyAV/FFmpeg mux it into Matroska
    # without the priming-sample quirks of AAC in Matroska.
    ".mkv": _Format(
        "matroska", "libx264", _X264, fractions.Fraction(1, 1000), "libopus", "s16", 96_000
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
    written because the queue was full, stop() ran out of time, or video came too late
    to get a stream in the file); ``audio_dropped`` (the same for audio frames);
    ``duration`` (seconds of media written); ``done``; ``error`` (why encoding failed).
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
                if other.path == self.path:
                    raise ValueError(
                        f"path={str(self.path)!r} is already being recorded by {other!r}; "
                        "stop that recording first or choose another file name"
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
        item = None
        try:
            while (item := self._next_item()) is not None:
                self._writer.add(*item)
        except Exception as exc:
            self.error = f"encoding failed: {type(exc).__name__}: {exc}"
            if item is not None and item[0] == "video":
                self._queue_dropped += 1  # the frame that failed is not in the file
            log.exception("recording to %s failed", self.path)
        finally:
            with self._cond:
                self._stopping = True
                for kind, _, _ in self._items:
                    if kind == "video":
                        self._queue_dropped += 1
                    else:
                        self._queue_audio_dropped += 1
                self._items.clear()
            try:
                self._writer.finish()
            except Exception as exc:
                if self.error is None:
                    self.error = f"finalizing the file failed: {type(exc).__name__}: {exc}"
                log.exception("finalizing %s failed", self.path)
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

    async def astop(self, timeout: float = 10.0) -> Recorder:
        """Awaitable :meth:`stop`: the same, without blocking the event loop."""
        self._request_stop(0.8 * timeout)
        await self._await_finished(timeout, "astop()")
        return self

    def wait(self, timeout: float | None = None) -> Recorder:
        """Block until the recording is done (``seconds`` reached, stopped, source closed).

        Returns self. Raises StreamTimeoutError if it is still recording after ``timeout``
        seconds (the recording goes on), and StreamError if encoding failed.
        """
        self._join(timeout, "wait()")
        self._raise_error()
        return self

    async def await_done(self, timeout: float | None = None) -> Recorder:
        """Awaitable :meth:`wait`."""
        await self._await_finished(timeout, "await_done()")
        self._raise_error()
        return self

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
            kept = f" ({self._amount()} kept)" if self.path.exists() else ""
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


class _Writer:
    """The PyAV side of one recording: converts, stamps, encodes and muxes.

    Used only on the recorder thread. The container is opened when the first frames
    arrive (so a recording that never gets a frame leaves no file), with one stream per
    kind that arrived within ``_FIRST_KIND_GRACE`` of the first frame.
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
        container = av.open(str(self._path), mode="w", format=fmt.container)
        self._container = container
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

        from ._frames import private_copy, reformat

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
            self._container.mux(packet)

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
            self._container.mux(packet)
        self._update_duration()

    # --- end -----------------------------------------------------------------------------
    def _update_duration(self) -> None:
        audio_end = self._out_pts / AUDIO_RATE if self.audio_samples else 0.0
        self.duration = max(self._video_end(), audio_end)

    def finish(self) -> None:
        """Flush the encoders, close the container; remove the file if nothing was written.

        Idempotent. Called once by the recorder thread, also after an encoding error (then
        the partial file is finalized as far as the encoders allow).
        """
        if self._container is None and self._pending:
            self._open()  # a short recording that ended within the grace period
        container = self._container
        if container is None:
            return
        try:
            self._flush()
        finally:
            self._container = None
            try:
                container.close()  # writes the trailer (mp4: the moov index)
            finally:
                if not (self.frames or self.audio_samples):
                    with contextlib.suppress(OSError):
                        self._path.unlink()

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
                self._container.mux(packet)


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
