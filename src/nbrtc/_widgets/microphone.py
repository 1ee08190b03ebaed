"""``Microphone``: the browser's microphone, streamed to the kernel as numpy audio."""

from __future__ import annotations

from typing import Any

import traitlets

from .._config import IceServerSpec
from .._media.receiver import AudioMethods, ReceiverWidget
from .camera import check_audio
from .device_pick import with_audio_device


class Microphone(AudioMethods, ReceiverWidget):
    """The browser's microphone -> kernel, with a level meter in the cell.

    ``Microphone(device_id=None, echo_cancellation=None, noise_suppression=None,
    auto_gain_control=None)`` (None = the browser's default). From the next cell:
    ``mic.capture_audio(2)`` (float32 ``(channels, samples)`` with ``.sample_rate``),
    ``mic.latest_audio(1)``, ``mic.level`` (dBFS), ``mic.record("voice.webm", 5)``,
    ``mic.close()``. For sound with video use ``Camera(audio=True)``.
    """

    _kind = "microphone"
    audio = traitlets.Union(
        [traitlets.Bool(), traitlets.Dict()],
        default_value=True,
        help="The microphone's constraints: True, or a dict of device_id, "
        "echo_cancellation, noise_suppression, auto_gain_control.",
    ).tag(sync=True)
    devices: traitlets.List[Any] = traitlets.List(
        help="The page's microphones and cameras ({kind, deviceId, label}), filled once the "
        "page may list them; pass a deviceId as device_id= to choose one."
    ).tag(sync=True)

    def __init__(
        self,
        *,
        device_id: str | None = None,
        echo_cancellation: bool | None = None,
        noise_suppression: bool | None = None,
        auto_gain_control: bool | None = None,
        ice_servers: list[IceServerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        audio = check_audio(
            {
                "device_id": device_id,
                "echo_cancellation": echo_cancellation,
                "noise_suppression": noise_suppression,
                "auto_gain_control": auto_gain_control,
            }
        )
        super().__init__(ice_servers=ice_servers, audio=audio, **kwargs)

    @traitlets.validate("audio")
    def _valid_audio(self, proposal: Any) -> Any:
        try:
            value = check_audio(proposal["value"])
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(str(exc)) from None
        if value is False:
            raise traitlets.TraitError("a Microphone needs audio; close it instead")
        return value

    def _has_audio(self) -> bool:
        return True

    def _set_devices(self, devices: list[dict[str, str]]) -> None:
        self.devices = [dict(d) for d in devices]

    # --- the view's device picker (stream_widget.py, device_pick.py) --------------------------
    def _pickable(self) -> frozenset[str]:
        return frozenset({"audio"})

    def _take_device(self, kind: str, device_id: str) -> None:
        self.audio = with_audio_device(self.audio, device_id)

    def __repr__(self) -> str:
        level = self.level
        shown = f"{level:.1f} dBFS" if level != float("-inf") else "silent"
        return (
            f"<nbrtc.Microphone state={self.state!r} {self.sample_rate or '?'} Hz "
            f"{self._audio_buf.layout or '?'} level={shown} streams={len(self._streams)}>"
        )
