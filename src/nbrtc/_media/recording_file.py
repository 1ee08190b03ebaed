"""The recording's file on disk, and what happens when the disk fails.

:class:`Output` is the file object PyAV writes through: every write reaches the OS at
once, the first failed write (disk full, quota, read-only file system, I/O error) is
kept and stops every later one, and :meth:`Output.cut_to_committed` drops the torn
piece it left. :func:`failure_words` says in words what failed and what to do;
:func:`kept_media` counts what a broken file still holds. :class:`WriteFailed` is
raised once writing failed for good. Used on the recorder thread only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pathlib
import time

from .recording_formats import AUDIO_RATE

log = logging.getLogger("nbrtc")

# How long counting what a broken file still holds may take (demuxing, no decoding).
_COUNT_BUDGET = 2.0


class WriteFailed(Exception):
    """Writing the recording's file failed, or the file vanished; the words are in
    ``recording_writer.Writer.failure``. The container is broken: nothing more is muxed
    into it."""


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


def failure_words(exc: BaseException, doing: str, path: pathlib.Path) -> str:
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


class Output:
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


def kept_media(path: pathlib.Path) -> tuple[int, int, float, bool] | None:
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
