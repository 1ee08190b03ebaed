"""Errors nbrtc raises. Every message says what went wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "CameraError",
    "JanusError",
    "NbrtcError",
    "NotDisplayedError",
    "StreamClosedError",
    "StreamError",
    "StreamTimeoutError",
]


class NbrtcError(Exception):
    """Base class of every error nbrtc raises on purpose."""


class StreamError(NbrtcError):
    """The stream failed (ICE failure, negotiation error, browser-side failure).

    ``name`` is the browser's error name where there is one (e.g. ``"NotAllowedError"``).
    """

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class CameraError(StreamError):
    """getUserMedia failed in the browser: ``name`` is the DOMException name.

    ``NotAllowedError`` (permission denied), ``NotFoundError`` (no camera),
    ``NotReadableError`` (camera busy), ``OverconstrainedError`` (e.g. unknown device id).
    """


class StreamClosedError(NbrtcError):
    """The widget (or its only stream) was closed, so no frame can arrive any more."""


class NotDisplayedError(NbrtcError):
    """The widget has no view in any browser page, so it has no stream."""


class StreamTimeoutError(NbrtcError, TimeoutError):
    """A blocking call ran out of time; the message says what was being waited for."""


class JanusError(NbrtcError):
    """A Janus server could not be reached, or refused or did not answer a request.

    ``code`` is Janus's error code when the server gave one: a core code (e.g. 403
    unauthorized, 458 no such session, 460 no such plugin) or the plugin's own (e.g. the
    videoroom's 426 no such room, 428 no such feed, 432 room full); None when there was
    no answer (unreachable, not a Janus server, timed out, connection lost). The message
    never contains an API secret or token.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
