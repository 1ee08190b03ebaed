"""The PyAV side of one recording: converts, stamps, encodes and muxes (recorder thread).

:class:`Writer` turns frames that arrived ``rel`` seconds after the recording's first
frame into packets in the container: video converted to yuv420p and stamped by arrival
time (variable frame rate), audio resampled to 48 kHz stereo with long gaps filled with
silence, every packet muxed through :class:`~nbrtc._media.recording_file.Output`. The
first write that fails ends the writing for good (:class:`WriteFailed`); ``finish``
finalizes the file, or after a failure closes it as it is and counts what it keeps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import time
from typing import TYPE_CHECKING, cast

from .recording_file import Output, WriteFailed, failure_words, kept_media
from .recording_formats import AUDIO_LAYOUT, AUDIO_RATE, AUDIO_TIME_BASE, Format

if TYPE_CHECKING:  # PyAV is imported lazily: importing nbrtc stays fast
    import av
    from av.container import OutputContainer

    Frame = av.VideoFrame | av.AudioFrame
    #: (kind "video" or "audio", frame, seconds after the recording's first frame)
    Item = tuple[str, Frame, float]

log = logging.getLogger("nbrtc")

# How long the first frames wait for the other kind (video for audio, or audio for video)
# before the file is opened without it: the container's streams must all be declared
# before anything is written, and a stream that never gets a packet makes a broken file.
_FIRST_KIND_GRACE = 2.0
# An audio gap (mic muted, packets lost) longer than this is filled with silence, so
# sound after it stays aligned with the picture; shorter gaps are network jitter.
_AUDIO_GAP = 0.5
# Frame duration assumed for a recording of a single video frame.
_DEFAULT_STEP = 1 / 30
# Keyframe interval in frames (2 s at 30 fps): files seek well without bloating.
_GOP = 60
# How often the recorder checks that its file is still where it was written (a removed
# directory does not fail writes on POSIX: they go to a file nobody can open any more).
_FILE_CHECK = 0.5


class Writer:
    """The PyAV side of one recording: converts, stamps, encodes and muxes.

    Used only on the recorder thread. The container is opened when the first frames
    arrive (so a recording that never gets a frame leaves no file), with one stream per
    kind that arrived within ``_FIRST_KIND_GRACE`` of the first frame.

    Every write into the container goes through :meth:`_mux`; the first one that fails
    (or finds the file gone) sets ``failure`` and raises :class:`WriteFailed`, and no
    container call that writes is made after it: PyAV would write the header again into
    a container whose header failed, and FFmpeg crashes the process (SIGSEGV) on that.
    """

    def __init__(
        self, path: pathlib.Path, fmt: Format, want: frozenset[str], seconds: float | None
    ) -> None:
        self._path = path
        self._fmt = fmt
        self._want = want
        self._seconds = seconds
        self._pending: list[Item] = []
        self._container: OutputContainer | None = None
        self._out: Output | None = None
        self._next_file_check = 0.0
        # why writing failed, in words (read from other threads once the thread is done)
        self.failure: str | None = None
        self._vstream: av.VideoStream | None = None
        self._astream: av.AudioStream | None = None
        # video
        self._size: tuple[int, int] = (0, 0)
        # the newest converted frame, whose duration is known only at the next; its pts
        # is always ``_last_pts``
        self._held: av.VideoFrame | None = None
        self._last_pts = -1
        self._step = 0  # pts ticks between the last two frames
        self._final_video_end = 0.0  # once the held frame is encoded at the end
        self._durations: dict[int, int] = {}  # pts -> duration of frames in the encoder
        # audio
        self._resampler: av.AudioResampler | None = None
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
    def add(self, kind: str, frame: Frame, rel: float) -> None:
        """Take one frame that arrived ``rel`` seconds after the recording's first frame."""
        if self._container is None:
            self._pending.append((kind, frame, rel))
            kinds = {k for k, _, _ in self._pending}
            if kinds >= self._want or rel - self._pending[0][2] >= _FIRST_KIND_GRACE:
                self._open()
            return
        self._write(kind, frame, rel)

    def _write(self, kind: str, frame: Frame, rel: float) -> None:
        if kind == "video":
            if self._vstream is None:
                self.video_skipped += 1  # video came too late to get a stream
            else:
                self._video(cast("av.VideoFrame", frame), rel)
        elif self._astream is None:
            self.audio_skipped += 1
        else:
            self._audio(cast("av.AudioFrame", frame), rel)

    def _open(self) -> None:
        import av

        pending, self._pending = self._pending, []
        kinds = {k for k, _, _ in pending}
        fmt = self._fmt
        try:
            self._out = Output(self._path)
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
            first = cast("av.VideoFrame", next(f for k, f, _ in pending if k == "video"))
            # H.264 with 4:2:0 chroma needs even sizes: scale odd ones down by a pixel.
            width, height = max(2, first.width // 2 * 2), max(2, first.height // 2 * 2)
            self._size = (width, height)
            # The rate is only a hint for rate control: timing comes from each frame's pts
            # and each packet's duration (see _encode_video).
            # (FORMATS names a video codec here and an audio codec below: the casts hold)
            stream = cast(
                "av.VideoStream",
                container.add_stream(fmt.video_codec, rate=30, options=dict(fmt.video_options)),
            )
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
            astream = cast("av.AudioStream", container.add_stream(fmt.audio_codec, rate=AUDIO_RATE))
            astream.layout = AUDIO_LAYOUT
            astream.format = fmt.audio_format
            astream.codec_context.bit_rate = fmt.audio_bit_rate
            astream.codec_context.time_base = AUDIO_TIME_BASE
            astream.time_base = AUDIO_TIME_BASE
            # Open now: the encoder's frame size (AAC 1024, Opus 960) is known only then,
            # and the resampler cuts exactly that, so the encoder never re-buffers.
            astream.codec_context.open()
            self._audio_frame_size = astream.codec_context.frame_size
            self._astream = astream
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
    def _video(self, frame: av.VideoFrame, rel: float) -> None:
        tb = self._fmt.video_time_base
        pts = round(rel / tb)
        if pts <= self._last_pts:
            pts = self._last_pts + 1  # same or earlier arrival: keep pts strictly increasing
        image = self._convert(frame)
        image.pts, image.time_base = pts, tb
        if self._held is not None:
            self._step = pts - self._last_pts  # the held frame's pts
            self._encode_video(self._held, self._step)
        self._held = image
        self._last_pts = pts
        self.frames += 1
        self._update_duration()

    def _convert(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A new yuv420p frame of the recording's size (never the caller's frame object).

        The caller's frame may be shared with other consumers (a view, a relay), so its
        pts must not be touched: when no conversion is needed, copy it.
        """

        from .frames import private_copy, reformat

        width, height = self._size
        # this thread's own swscale context: the frame may be converted by others now
        image = reformat(frame, "yuv420p", width, height)
        return private_copy(frame) if image is frame else image

    def _encode_video(self, image: av.VideoFrame | None, duration: int = 0) -> None:
        """Encode ``image`` lasting ``duration`` ticks (None: flush) and mux the packets.

        Encoders don't pass a frame's duration on to its packet, and without it muxers
        guess the last frame's duration from the rate hint, so a 15 fps recording would
        come out a frame short: set each packet's duration from its frame, by pts.
        """
        assert self._vstream is not None  # only called once the video stream exists
        if image is not None:
            assert image.pts is not None  # stamped by _video
            self._durations[image.pts] = max(1, duration)
        for packet in self._vstream.encode(image):
            if packet.pts is not None:  # an encoder's packets all carry their frame's pts
                packet.duration = self._durations.pop(packet.pts, packet.duration)
            self._mux(packet)

    def _video_end(self) -> float:
        """Where the video ends: the held frame lasts as long as the step before it."""
        if self._held is None:
            return self._final_video_end
        tb = self._fmt.video_time_base
        step = self._step or round(_DEFAULT_STEP / tb)
        end = float((self._last_pts + step) * tb)  # the held frame's pts
        return min(end, self._seconds) if self._seconds is not None else end

    # --- audio -------------------------------------------------------------------------
    def _audio(self, frame: av.AudioFrame, rel: float) -> None:
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

    def _feed_audio(self, frame: av.AudioFrame) -> None:
        assert self._resampler is not None  # made by _audio before any frame is fed
        self._in_pos += frame.samples / frame.sample_rate
        for out in self._resampler.resample(frame):
            self._encode_audio(out)

    def _encode_audio(self, out: av.AudioFrame) -> None:
        if self._seconds is not None and self._out_pts >= self._seconds * AUDIO_RATE:
            return  # after the limit (the frame's arrival was within it, its samples not)
        out.pts, out.time_base = self._out_pts, AUDIO_TIME_BASE
        self._out_pts += out.samples
        self.audio_samples += out.samples
        assert self._astream is not None  # only called once the audio stream exists
        for packet in self._astream.encode(out):
            self._mux(packet)
        self._update_duration()

    # --- the file ------------------------------------------------------------------------
    def _mux(self, packet: av.Packet) -> None:
        """Write one packet into the container, or fail for good (see the class docstring)."""
        if self.failure is not None:
            raise WriteFailed(self.failure)  # never again into a broken container
        out, container = self._out, self._container
        assert out is not None and container is not None  # opened before any packet
        try:
            container.mux(packet)  # the first call writes the header
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
            raise WriteFailed(self.failure)

    def _fail(self, exc: BaseException, doing: str) -> WriteFailed:
        """Remember why writing failed (the first reason only); the error to raise."""
        if self.failure is None:
            self.failure = failure_words(exc, doing, self._path)
        return WriteFailed(self.failure)

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
        which ``failure`` then states. Raises WriteFailed if finishing failed to write.
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
        assert container is not None  # finish() closes only an open container
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
        kept = kept_media(self._path) if ours else (0, 0, 0.0, True)
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
                step = min(step, round(self._seconds / tb) - self._last_pts)
            held, self._held = self._held, None
            self._encode_video(held, step)
            self._final_video_end = float((self._last_pts + step) * tb)
            self._update_duration()
        if self._vstream is not None:
            self._encode_video(None)
        if self._astream is not None and self._resampler is not None:
            for out in self._resampler.resample(None):
                self._encode_audio(out)
            for packet in self._astream.encode(None):
                self._mux(packet)


def _silence_like(frame: av.AudioFrame, samples: int) -> av.AudioFrame:
    """A silent audio frame in ``frame``'s format, layout and rate."""
    import av

    silence = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=samples)
    silence.sample_rate = frame.sample_rate
    for plane in silence.planes:
        plane.update(bytes(plane.buffer_size))
    return silence
