"""Errors nbrtc raises. Every message says what went wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "CameraError",
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
