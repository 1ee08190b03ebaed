"""A file or URL as a video track: aiortc's MediaPlayer, opened off the media loop,
looped with monotonic timestamps, every failure reported in words.

The producer behind :func:`nbrtc.sources.file` (whose :class:`~nbrtc.sources.FileSource`
checks the arguments and makes one :class:`FileTrack` per run). :func:`display_name`
is how a path or URL may appear in errors, logs and reprs (a URL's secrets masked).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .. import _upstream
from .video_clock import TIME_BASE, VIDEO_CLOCK
from .worker import call_in_daemon

log = logging.getLogger("nbrtc")


class FileTrack(MediaStreamTrack):
    """Frames of one file through aiortc's MediaPlayer, optionally looped, re-timed.

    MediaPlayer's own ``loop=True`` seeks back and restarts timestamps at 0, which makes
    browsers freeze on the last frame and aiortc's pacing stop waiting (aiortc#909).
    Instead, each pass gets a fresh player and timestamps continue monotonically.

    Nothing here blocks the media loop: MediaPlayer opens (and probes) its input in its
    constructor, which for a URL can wait forever, so the player is made on a daemon
    thread, and ``recv`` waits for it at most ``timeout`` s. FFmpeg gets the same
    timeout for its own opens and reads (PyAV's interrupt callback), so the thread
    usually ends soon after; if FFmpeg ignores it, the thread is abandoned (a daemon:
    it cannot hold the kernel's exit) and a player it makes late is released at once.
    Decoding runs on the player's own thread; ``recv`` waits for each frame at most
    ``timeout`` s too. Every failure is reported in words through ``on_error``.
    """

    kind = "video"

    def __init__(
        self, path: str, loop: bool, timeout: float, on_error: Callable[[str], None]
    ) -> None:
        super().__init__()
        self._path = path
        self._name = display_name(path)
        # not ``_loop``: that is the event loop of aiortc's event emitter base class
        self._looping = loop
        self._timeout = timeout
        self._on_error = on_error
        self._player: Any = None
        self._decoding: _DecodeErrorMemory | None = None
        self._offset = 0  # 90 kHz ticks added to this pass's timestamps
        self._last = -1
        self._step = VIDEO_CLOCK // 30
        self._pass_frames = 0
        self.passes = 0

    def _open(self) -> Any:
        """A started-to-be MediaPlayer for this file (daemon thread; may block)."""
        from aiortc.contrib.media import MediaPlayer

        # aiortc annotates timeout as int; it is handed to av.open, which takes float seconds
        player = MediaPlayer(self._path, timeout=self._timeout)  # type: ignore[arg-type]
        if player.video is None:
            _stop_player(player)
            raise _NoVideo
        # aiortc's decoder thread ends the track without a word when decoding fails
        # (aiortc/contrib/media.py player_worker_decode): hand it a container that
        # remembers the error, so a damaged file does not look like one that ended.
        container = _upstream.player_container(player)
        if container is not None:
            _upstream.set_player_container(player, _DecodeErrorMemory(container))
        return player

    def _fail(self, text: str) -> MediaStreamError:
        """Report ``text``, end this track; the error for the caller to raise."""
        self._on_error(text)
        self.stop()
        return MediaStreamError(text)

    def _words(self, exc: BaseException) -> str:
        """``exc`` as text, with the full URL (which may hold a password) masked."""
        return f"{type(exc).__name__}: {exc}".replace(self._path, self._name)

    def _no_answer(self) -> str:
        return (
            f"could not open {self._name}: no answer within {self._timeout:g} s; check the "
            "URL and that the server or camera is up (other streams are unaffected)"
        )

    async def _open_player(self) -> Any:
        """Open a player off the media loop within ``timeout`` s, or raise MediaStreamError
        after reporting why."""
        job = call_in_daemon(self._open, name="nbrtc-source-open")
        try:
            player = await asyncio.wait_for(asyncio.wrap_future(job), self._timeout)
        except asyncio.TimeoutError:
            job.add_done_callback(_release_late_player)
            raise self._fail(self._no_answer()) from None
        except asyncio.CancelledError:  # the last view left while opening
            job.add_done_callback(_release_late_player)
            raise
        except _NoVideo:
            raise self._fail(f"file({self._name}) has no video stream") from None
        except Exception as exc:
            if isinstance(exc, _exit_error()):
                # FFmpeg's own timeout (the interrupt callback, same seconds) can end the
                # open a moment before wait_for does: the same silence, the same words
                raise self._fail(self._no_answer()) from None
            raise self._fail(f"could not open {self._name}: {self._words(exc)}") from None
        if self.readyState != "live":  # stopped while opening
            _stop_player(player)
            raise MediaStreamError
        self._decoding = _upstream.player_container(player)
        if not isinstance(self._decoding, _DecodeErrorMemory):
            self._decoding = None
        self.passes += 1
        return player

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._player is None:
                self._player = await self._open_player()
            try:
                frame = await asyncio.wait_for(self._player.video.recv(), self._timeout)
            except asyncio.TimeoutError:
                raise self._fail(
                    f"{self._name}: no frame for {self._timeout:g} s after {self._pass_frames} "
                    "frames; the server or camera stopped sending (other streams are "
                    "unaffected)"
                ) from None
            except MediaStreamError:
                _stop_player(self._player)
                self._player = None
                failed = self._decoding.error if self._decoding is not None else None
                if failed is not None:
                    if isinstance(failed, _exit_error()):  # FFmpeg's own read timeout
                        raise self._fail(
                            f"{self._name}: no data for {self._timeout:g} s after "
                            f"{self._pass_frames} frames; the server or camera stopped "
                            "sending (other streams are unaffected)"
                        ) from None
                    raise self._fail(
                        f"file({self._name!r}): decoding failed after "
                        f"{self._pass_frames} frames ({self._words(failed)}); "
                        "the file may be damaged"
                    ) from None
                if not self._looping or self._pass_frames == 0:  # an empty pass would spin
                    self.stop()
                    raise
                self._pass_frames = 0
                self._offset = self._last + self._step
                continue
            self._pass_frames += 1
            ticks = round(frame.pts * frame.time_base * VIDEO_CLOCK) if frame.pts else 0
            pts = self._offset + ticks
            if self._last >= 0 and pts > self._last:
                self._step = min(pts - self._last, VIDEO_CLOCK)
            pts = max(pts, self._last + 1)
            frame.pts, frame.time_base, self._last = pts, TIME_BASE, pts
            return frame

    def stop(self) -> None:
        super().stop()
        player, self._player = self._player, None
        if player is not None:
            _stop_player(player)


class _NoVideo(Exception):
    """The input opened but has no video stream."""


def _exit_error() -> type[BaseException]:
    import av

    return av.ExitError


def _release_late_player(job: concurrent.futures.Future[Any]) -> None:
    """Done-callback of an open the kernel stopped waiting for: release what it made."""
    if not job.cancelled() and job.exception() is None:
        _stop_player(job.result())


def display_name(path: str) -> str:
    """``path`` as it may appear in errors, logs and reprs: a local file by its base name;
    a URL without its user, password, query and fragment (which often hold secrets)."""
    if "://" not in path:
        return os.path.basename(path) or path
    try:
        parts = urllib.parse.urlsplit(path)
        host = parts.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return path.split("://", 1)[0] + "://<url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _DecodeErrorMemory:
    """A PyAV input container that remembers the error that ended its decoding (read
    by the player's decoder thread; ``EAGAIN`` is retried by aiortc, not an error)."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.error: Exception | None = None

    def decode(self, *streams: Any) -> Iterator[Any]:
        import errno

        import av

        try:
            yield from self._container.decode(*streams)
        except Exception as exc:
            if not (isinstance(exc, av.FFmpegError) and exc.errno == errno.EAGAIN):
                self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)


def _stop_player(player: Any) -> None:
    """Stop a MediaPlayer without blocking the caller.

    MediaPlayer.stop joins its decoder thread, which can block on a slow network read:
    do it on a throwaway daemon thread so the media loop never stalls.
    """

    def stop() -> None:
        try:
            for media_track in (player.video, player.audio):
                if media_track is not None:
                    media_track.stop()
        except Exception:
            log.debug("stopping MediaPlayer failed", exc_info=True)

    threading.Thread(target=stop, name="nbrtc-player-stop", daemon=True).start()
