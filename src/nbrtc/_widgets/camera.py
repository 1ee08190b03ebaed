"""``Camera``: the browser's camera, previewed in the cell and streamed to the kernel."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import traitlets

from .._checks import dimension, rate
from .._config import IceServerSpec, config
from .._media.camera_source import CameraSource
from .._media.process import Processor
from .._media.receiver import AudioMethods, ProcessMethods, ReceiverWidget, VideoMethods
from .device_pick import with_audio_device, with_device

if TYPE_CHECKING:
    from .._signaling.owner import StreamOwner
    from .._signaling.preoffer import KernelOffers

_CONSTRAINT_KEYS = ("width", "height", "frame_rate", "device_id", "facing_mode")
#: getUserMedia's facingMode values (W3C Media Capture): the front and the back camera of
#: a phone or tablet, and the rarer side cameras
FACING_MODES = ("user", "environment", "left", "right")
_AUDIO_KEYS = ("device_id", "echo_cancellation", "noise_suppression", "auto_gain_control")


def _facing_mode(value: Any) -> str | None:
    if value is not None and value not in FACING_MODES:
        raise ValueError(
            f"facing_mode must be one of {FACING_MODES} (or None): 'user' is the front camera "
            f"of a phone or tablet, 'environment' the back one; got {value!r}"
        )
    return value


def _device_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"device_id must be a non-empty string (or None), got {value!r}")
    return value


def _check_constraints(value: Any) -> dict[str, Any]:
    """Validated camera constraints (every key present, None = browser's choice)."""
    if not isinstance(value, dict):
        raise TypeError(f"constraints must be a dict with keys {_CONSTRAINT_KEYS}, got {value!r}")
    unknown = set(value) - set(_CONSTRAINT_KEYS)
    if unknown:
        raise ValueError(f"unknown constraint(s) {sorted(unknown)}; use {_CONSTRAINT_KEYS}")
    return {
        "width": dimension("width", value.get("width"), optional=True),
        "height": dimension("height", value.get("height"), optional=True),
        "frame_rate": rate("frame_rate", value.get("frame_rate"), optional=True),
        "device_id": _device_id(value.get("device_id")),
        "facing_mode": _facing_mode(value.get("facing_mode")),
    }


def check_audio(value: Any) -> bool | dict[str, Any]:
    """``audio=``: False (none), True (browser defaults) or a dict of microphone settings
    (``device_id``, ``echo_cancellation``, ``noise_suppression``, ``auto_gain_control``;
    None = browser's choice)."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if not isinstance(value, dict):
        raise TypeError(
            f"audio must be True, False or a dict with keys {_AUDIO_KEYS}, got {value!r}"
        )
    unknown = set(value) - set(_AUDIO_KEYS)
    if unknown:
        raise ValueError(f"unknown audio setting(s) {sorted(unknown)}; use {_AUDIO_KEYS}")
    out: dict[str, Any] = {"device_id": _device_id(value.get("device_id"))}
    for key in _AUDIO_KEYS[1:]:
        flag = value.get(key)
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"audio[{key!r}] must be True, False or None, got {flag!r}")
        out[key] = flag
    return out


def _traitlet_error(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except (TypeError, ValueError) as exc:
        raise traitlets.TraitError(str(exc)) from None


def offer_ahead(widgets: list[Any]) -> None:
    """The kernel's offers for the next views of the Cameras among ``widgets``, displayed
    together (main thread, from a display hook: a Camera's own, or a ``Grid``'s for its
    cameras): made at once, waited for once (preoffer.py), each camera's id put in its
    ``_kernel_offer`` for its view. Others, and cameras that cannot take one
    (``Camera._kernel_offers``), are left alone: their views offer themselves."""
    asks = [(w, w._offer_request()) for w in widgets if isinstance(w, Camera)]
    cams = [(cam, ask) for cam, ask in asks if ask is not None]
    if not cams:
        return
    offers = cams[0][1][0]  # every widget of a kernel shares its manager's offers
    ids = offers.make([ask[1] for _, ask in cams])
    for (cam, _), stream_id in zip(cams, ids, strict=True):
        cam._kernel_offer = stream_id


def _under_voila() -> bool:
    """Voila runs every cell before its page connects: an offer made at the display would
    reach no page, and the view would wait for it before offering itself. (Voila sets
    these in its kernels' environment.)"""
    return "VOILA_KERNEL_ID" in os.environ or "VOILA_APP_PORT" in os.environ


class Camera(VideoMethods, AudioMethods, ProcessMethods, ReceiverWidget):
    """The browser's camera: a live preview in the cell, every frame also in Python.

    ``Camera(width=640, height=480, frame_rate=30, device_id=None, facing_mode=None,
    audio=False)`` asks the browser for those (``device_id`` is applied as an exact match;
    pick one from ``cam.devices``; ``facing_mode="user"`` or ``"environment"`` asks a phone
    or tablet for its front or back camera, and falls back to the one there is);
    ``audio=True`` (or a dict of microphone settings) adds the microphone on the same peer
    connection. Assigning ``cam.constraints = {...}`` later
    restarts each view's stream with them.

    Display it, then from the next cell: ``cam.snapshot()``, ``for f in cam.frames():``,
    ``cam.capture(30)``, ``cam.process(fn)``, ``cam.record("take.mp4", seconds=5)``,
    ``cam.channel("chat")``, ``cam.capture_audio(2)``, ``cam.close()``. Frames are
    delivered newest-frame-wins: a slow reader never makes the stream lag.
    """

    _kind = "camera"
    constraints = traitlets.Dict(
        help="The camera's getUserMedia video constraints (width, height, frameRate, "
        "deviceId); assign a new dict to restart the camera with them."
    ).tag(sync=True)
    devices: traitlets.List[Any] = traitlets.List(
        help="The page's cameras and microphones ({kind, deviceId, label}), filled once the "
        "page may list them; pass a deviceId as device_id= to choose one."
    ).tag(sync=True)
    audio = traitlets.Union(
        [traitlets.Bool(), traitlets.Dict()],
        default_value=False,
        help="Whether the microphone is captured too (True, or a dict of device_id, "
        "echo_cancellation, noise_suppression, auto_gain_control).",
    ).tag(sync=True)
    #: True while a processing function is set (the browser then shows its output)
    processing = traitlets.Bool(
        False, help="True while process(fn) is set: the view then shows fn's output."
    ).tag(sync=True)
    #: the last error of the processing function ("" when none since it was set)
    process_error = traitlets.Unicode(
        "", help="The processing function's last error, in words ('' when none since set)."
    ).tag(sync=True)
    #: the stream id of the kernel's offer for the next view ("" when the view offers
    #: itself): set as the widget is displayed (nbrtc.config.kernel_offer, preoffer.py)
    _kernel_offer = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        *,
        width: int | None = None,
        height: int | None = None,
        frame_rate: float | None = None,
        device_id: str | None = None,
        facing_mode: str | None = None,
        audio: bool | dict[str, Any] = False,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        constraints = _check_constraints(
            {
                "width": width,
                "height": height,
                "frame_rate": frame_rate,
                "device_id": device_id,
                "facing_mode": facing_mode,
            }
        )
        audio = check_audio(audio)
        self._processor = Processor(self._publish_processing)
        self._source: CameraSource | None = None
        super().__init__(ice_servers=ice_servers, constraints=constraints, audio=audio, **kwargs)

    @traitlets.validate("constraints")
    def _valid_constraints(self, proposal: Any) -> dict[str, Any]:
        """``cam.constraints = {"width": 320, ...}`` restarts the camera with them."""
        return _traitlet_error(_check_constraints, proposal["value"])

    @traitlets.validate("audio")
    def _valid_audio(self, proposal: Any) -> Any:
        return _traitlet_error(check_audio, proposal["value"])

    def _has_video(self) -> bool:
        return True

    def _has_audio(self) -> bool:
        return bool(self.audio)

    # --- processing ---------------------------------------------------------------------------
    def process(self, fn: Callable[[Any], Any] | None, *, format: str = "rgb24") -> None:
        """Show ``fn(frame)`` in the browser instead of the plain camera, live.

        ``fn`` gets each frame as numpy (``format``: ``rgb24`` default, ``bgr24``,
        ``gray``, or ``"av"`` for the ``av.VideoFrame``) and returns an image (uint8,
        any size from 2x2 up to 4096 pixels per side and 4096x2160 in all) — or None
        after changing the array in place. It runs on a worker thread, newest frame
        first: a slow ``fn`` skips frames instead of adding lag. Call again to swap it
        while live; ``process(None)`` goes back to the camera. If ``fn`` raises or
        returns something that cannot be sent, the stream goes on: ``process_error``
        keeps the reason in words, the widget shows it, and that frame passes through
        unprocessed.
        ``process_ms`` is its median time per frame.
        """
        self._set_process(fn, format)

    def as_source(self) -> CameraSource:
        """What this camera sends, as a source others can show: ``fn``'s results while
        ``process(fn)`` is set, the camera's own frames otherwise. For
        ``VideoView(cam)`` in other cells and tabs (sent by the kernel) and
        ``janus.broadcast(cam)`` (sent once, through Janus). The same object every time.
        Frames flow while this camera is live in a page."""
        if self._source is None:
            self._source = CameraSource(self._processor, f"Camera {self.model_id}")
        return self._source

    def _publish_processing(self, processing: bool, error: str) -> None:
        if self.comm is None:
            return
        with self.hold_sync():
            self.processing = processing
            self.process_error = error

    # --- media loop side ------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The display hook (main thread): with ``nbrtc.config.kernel_offer`` the kernel
        makes its offer for the view now, so it reaches the page with the display."""
        offer_ahead([self])
        return super()._repr_mimebundle_(**kwargs)

    def _kernel_offers(self) -> bool:
        """Whether this widget's next view answers a kernel offer: WebRTC may be used, and
        the page's peer needs nothing from the kernel first (no TURN logins to ask for, no
        relay-only policy, which the page's answer would have to wait for)."""
        rtc = self.rtc_config
        return (
            config.kernel_offer
            and not _under_voila()
            and not self._closed
            and self.transport_mode != "comm"
            and rtc.get("credentials") != "ask"
            and rtc.get("iceTransportPolicy", "all") == "all"
        )

    def _offer_request(self) -> tuple[KernelOffers, tuple[StreamOwner, bool]] | None:
        """What ``offer_ahead`` needs to offer for this camera's next view: its manager's
        offers and (its port, whether it has sound); None when it cannot take one."""
        owner = self._port.stream_owner
        if owner is None or not self._kernel_offers():
            return None
        return self._manager.offers, (owner, bool(self.audio))

    def _kernel_offer_done(self, stream_id: str) -> None:
        """Forget the taken or dropped offer, so that a view rendered later (a reloaded
        page) does not wait for it (media loop)."""
        if self._kernel_offer == stream_id:
            self._kernel_offer = ""

    def _tracks_for(self, stream: Any) -> list[Any]:
        return [self._processor.track_for(stream.id)]

    def _on_frame(self, stream: Any, frame: Any) -> None:
        super()._on_frame(stream, frame)
        self._processor.feed(stream.id, frame)

    def _set_devices(self, devices: list[dict[str, str]]) -> None:
        self.devices = [dict(d) for d in devices]

    # --- the view's device picker (stream_widget.py, device_pick.py) --------------------------
    def _pickable(self) -> frozenset[str]:
        return frozenset({"video", "audio"} if self.audio else {"video"})

    def _take_device(self, kind: str, device_id: str) -> None:
        if kind == "video":
            self.constraints = with_device(self.constraints, device_id)
        else:
            self.audio = with_audio_device(self.audio, device_id)

    def _closed_cleanup(self) -> None:
        super()._closed_cleanup()
        self._processor.close()

    def __repr__(self) -> str:
        extra = f" processing={self._processor.active}" if self._processor.active else ""
        return (
            f"<nbrtc.{type(self).__name__} state={self.state!r} frames={self.frame_count} "
            f"fps={self.fps:.1f} streams={len(self._streams)}{extra}>"
        )


class ScreenShare(Camera):
    """The browser's screen (getDisplayMedia) -> kernel; the same API as :class:`Camera`.

    Displaying it asks the browser which screen, window or tab to share. Stopping the
    share in the browser closes the stream (state ``new`` until shown again).
    """

    _kind = "screen"

    def _pickable(self) -> frozenset[str]:
        return frozenset()  # the browser's own share picker chooses the screen

    def __init__(
        self,
        *,
        width: int | None = None,
        height: int | None = None,
        frame_rate: float | None = None,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            width=width, height=height, frame_rate=frame_rate, ice_servers=ice_servers, **kwargs
        )
