"""``Camera``: the browser's camera, previewed in the cell and streamed to the kernel."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import numpy as np
import traitlets

from ._checks import dimension, rate
from ._frames import FrameSlot, check_format, to_ndarray
from ._widget import StreamWidget
from .errors import StreamClosedError, StreamError, StreamTimeoutError

_CONSTRAINT_KEYS = ("width", "height", "frame_rate", "device_id")


def _check_constraints(value: Any) -> dict[str, Any]:
    """Validated camera constraints (every key present, None = browser's choice)."""
    if not isinstance(value, dict):
        raise TypeError(f"constraints must be a dict with keys {_CONSTRAINT_KEYS}, got {value!r}")
    unknown = set(value) - set(_CONSTRAINT_KEYS)
    if unknown:
        raise ValueError(f"unknown constraint(s) {sorted(unknown)}; use {_CONSTRAINT_KEYS}")
    device_id = value.get("device_id")
    if device_id is not None and (not isinstance(device_id, str) or not device_id):
        raise ValueError(f"device_id must be a non-empty string (or None), got {device_id!r}")
    return {
        "width": dimension("width", value.get("width"), optional=True),
        "height": dimension("height", value.get("height"), optional=True),
        "frame_rate": rate("frame_rate", value.get("frame_rate"), optional=True),
        "device_id": device_id,
    }


class Camera(StreamWidget):
    """The browser's camera: a live preview in the cell, every frame also in Python.

    ``Camera(width=640, height=480, frame_rate=30, device_id=None)`` asks the browser for
    those (``device_id`` is applied as an exact match; pick one from ``cam.devices``).
    Assigning ``cam.constraints = {...}`` later restarts each view's stream with them.
    Display it, then from the next cell: ``cam.snapshot()`` (numpy, RGB), ``cam.fps``,
    ``cam.frame_count``, ``cam.close()``. Frames are delivered newest-frame-wins: a slow
    reader never makes the stream lag.
    """

    _kind = "camera"
    constraints = traitlets.Dict().tag(sync=True)
    devices = traitlets.List().tag(sync=True)

    def __init__(
        self,
        *,
        width: int | None = None,
        height: int | None = None,
        frame_rate: float | None = None,
        device_id: str | None = None,
        ice_servers: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        constraints = _check_constraints(
            {"width": width, "height": height, "frame_rate": frame_rate, "device_id": device_id}
        )
        self._slot = FrameSlot()
        super().__init__(ice_servers=ice_servers, constraints=constraints, **kwargs)

    @traitlets.validate("constraints")
    def _valid_constraints(self, proposal: Any) -> dict[str, Any]:
        """``cam.constraints = {"width": 320, ...}`` restarts the camera with them."""
        try:
            return _check_constraints(proposal["value"])
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(str(exc)) from None

    # --- media loop side ------------------------------------------------------------------
    def _on_frame(self, stream: Any, frame: Any) -> None:
        self._slot.put(frame)

    def _set_devices(self, devices: list[dict[str, str]]) -> None:
        self.devices = [dict(d) for d in devices]

    def _on_error(self, err: str) -> None:
        self._slot.fail_waiters(self._current_error() or StreamError(err))

    def _closed_cleanup(self) -> None:
        self._slot.fail_waiters(StreamClosedError("the camera was closed"))

    # --- frames -------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Frames received from the browser since the camera was created."""
        return self._slot.count

    @property
    def fps(self) -> float:
        """Frames per second received over the last two seconds."""
        return self._slot.fps()

    @property
    def latest_frame(self) -> np.ndarray | None:
        """The newest frame as an (H, W, 3) RGB uint8 array, or None before the first."""
        frame = self._slot.frame
        return None if frame is None else to_ndarray(frame, "rgb24")

    @property
    def latest_video_frame(self) -> Any:
        """The newest frame as an ``av.VideoFrame`` (None before the first)."""
        return self._slot.frame

    def _frame_future(
        self, call: str, acall: str, blocking: bool
    ) -> concurrent.futures.Future[Any]:
        self._raise_if_unusable()
        fut = self._slot.next_frame()
        if not fut.done() and blocking and self._blocking_would_deadlock():
            self._slot.discard(fut)
            raise self._no_stream_error(call, acall)
        return fut

    def _timeout_error(self, timeout: float) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"no frame arrived within {timeout} s (state is {self.state!r}{self._detail()}"
            f"{'; error: ' + self.error if self.error else ''})"
        )

    def snapshot(self, timeout: float = 10.0, format: str = "rgb24") -> np.ndarray:
        """The newest frame as numpy (``rgb24`` (H, W, 3) default, ``bgr24``, ``gray``).

        Blocks up to ``timeout`` s for the first frame. Raises ``NotDisplayedError`` at once
        when waiting cannot succeed (no stream, called inside the cell that displays the
        camera), ``CameraError`` when the browser refused the camera, ``StreamClosedError``
        after ``close()``, ``StreamTimeoutError`` when nothing arrived in time.
        """
        check_format(format)
        fut = self._frame_future("snapshot()", "cam.asnapshot()", blocking=True)
        try:
            frame = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            self._slot.discard(fut)
            raise self._timeout_error(timeout) from None
        return to_ndarray(frame, format)

    async def asnapshot(self, timeout: float = 10.0, format: str = "rgb24") -> np.ndarray:
        """Awaitable twin of :meth:`snapshot`."""
        check_format(format)
        fut = self._frame_future("snapshot()", "cam.asnapshot()", blocking=False)
        try:
            frame = await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            self._slot.discard(fut)
            raise self._timeout_error(timeout) from None
        return to_ndarray(frame, format)

    def __repr__(self) -> str:
        return (
            f"<nbrtc.Camera state={self.state!r} frames={self.frame_count} "
            f"fps={self.fps:.1f} streams={len(self._streams)}>"
        )
