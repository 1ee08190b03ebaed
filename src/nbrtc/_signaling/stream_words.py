"""What a stream's failures say (pure): a browser error's name and message in words a
user can act on, and the general ICE failure sentence."""

from __future__ import annotations

from ..errors import CameraError, StreamError

ICE_FAILED_WORDS = (
    "ICE failed: the browser and the kernel found no network path to each other. On a "
    "remote kernel configure a TURN server (nbrtc.config.ice_servers)."
)

_CAMERA_ERRORS = {
    "NotAllowedError",
    "NotFoundError",
    "NotReadableError",
    "OverconstrainedError",
    "SecurityError",
    "AbortError",
    "HostNoCapture",
}


def is_auth_failure(words: str) -> bool:
    """Whether TURN failure words (either side's) say the credentials were refused."""
    return "credentials (401" in words or "credentials (441" in words


def browser_error(name: str, message: str, kind: str) -> StreamError:
    """A browser error name/message as the exception Python users get (words included)."""
    cls = CameraError if name in _CAMERA_ERRORS else StreamError
    return cls(_error_words(name, message, kind), name=name)


def _error_words(name: str, message: str, kind: str) -> str:
    device = "camera" if kind == "camera" else "browser"
    words = {
        "NotAllowedError": f"{device.capitalize()} permission was denied (NotAllowedError). "
        "Allow camera access for this page, then run the cell again.",
        "NotFoundError": "No camera was found (NotFoundError). Connect a camera, or use "
        "nbrtc.VideoView(nbrtc.sources.test_pattern()) for a synthetic feed.",
        "NotReadableError": "The camera is busy or unreadable (NotReadableError): another "
        "application or tab may be using it. Close that, then run the cell again.",
        "OverconstrainedError": "The camera cannot satisfy the requested constraints "
        f"(OverconstrainedError: {message}). Check device_id, width, height and frame_rate.",
        "SecurityError": "The page is not allowed to use the camera (SecurityError); open "
        "Jupyter over https or on localhost.",
        "HostNoCapture": "VS Code's notebook view does not allow camera, microphone or screen "
        "capture (its webviews deny getUserMedia). Open this notebook in JupyterLab or "
        "Jupyter Notebook in a browser for Camera, Microphone and ScreenShare; VideoView "
        "and AudioView (kernel to page) work here.",
        # the page's words for its own ICE failure (js/core/errors.js iceFailed)
        "IceFailed": ICE_FAILED_WORDS,
    }
    return words.get(name, f"{name}: {message}" if message else name)
