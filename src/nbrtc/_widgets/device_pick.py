"""The view's device picker, kernel side (pure, no I/O).

A capture widget's view shows a ``<select>`` of the page's cameras (and microphones) when
it has two or more (js/peer/picker.js). Choosing one sends a ``device`` message
(``{"kind": "video" | "audio", "deviceId": str}``, docs/protocol.md), never a trait write:
everything from a page is untrusted, and synced traits are the kernel's
(kernel_owned.py). ``StreamWidget`` checks that the message comes from the page that owns
the stream; this module says whether the pick is one the widget can take (the kind is one
it captures, the deviceId one the page listed in ``devices`` with that kind) and builds the
widget's new settings, which go through the same validation as a user's
``cam.constraints = {...}`` and restart each view's stream with that device.
"""

from __future__ import annotations

from typing import Any

from .._signaling.protocol import DEVICE_KINDS

#: what a user calls each kind of device in words
_WORDS = {"video": "camera", "audio": "microphone"}
_INPUT_WORDS = {"videoinput": "camera", "audioinput": "microphone", "audiooutput": "speaker"}


def refusal(
    widget_kind: str, pickable: frozenset[str], devices: list[dict[str, Any]], pick: dict[str, Any]
) -> tuple[str, str] | None:
    """``(error code, words)`` why ``pick`` (a validated ``device`` payload) cannot be
    taken by a widget of ``widget_kind`` that can switch the kinds in ``pickable`` and
    whose page listed ``devices``; None when it can. Any thread."""
    kind = pick["kind"]
    if kind not in pickable:
        if not pickable:
            return "wrong-kind", f"a {widget_kind} widget has no device to pick"
        if widget_kind == "camera" and kind == "audio":
            return (
                "wrong-kind",
                "this camera captures no sound (audio=False), so it has no microphone to pick",
            )
        return "wrong-kind", f"a {widget_kind} widget has no {_WORDS[kind]} to pick"
    listed = [d for d in devices if d.get("deviceId") == pick["deviceId"]]
    if not listed:
        return (
            "bad-message",
            f"the page listed no {_WORDS[kind]} with that deviceId: pick one of the "
            f"{_WORDS[kind]}s in the widget's devices",
        )
    if not any(d.get("kind") == DEVICE_KINDS[kind] for d in listed):
        other = _INPUT_WORDS.get(str(listed[0].get("kind")), "device of another kind")
        return "wrong-kind", f"that deviceId is a {other}, not a {_WORDS[kind]}"
    return None


def label(devices: list[dict[str, Any]], kind: str, device_id: str) -> str:
    """The device's label for a history line ("" when the page gave none). Any thread."""
    for d in devices:
        if d.get("deviceId") == device_id and d.get("kind") == DEVICE_KINDS.get(kind):
            return str(d.get("label") or "")
    return ""


def with_device(constraints: dict[str, Any], device_id: str) -> dict[str, Any]:
    """A camera's ``constraints`` with ``device_id`` (the other keys kept)."""
    return {**constraints, "device_id": device_id}


def with_audio_device(audio: bool | dict[str, Any], device_id: str) -> dict[str, Any]:
    """An ``audio`` setting (True, or a dict of microphone settings) with ``device_id``:
    True becomes the dict of browser defaults (None) with that device."""
    base = dict(audio) if isinstance(audio, dict) else {}
    return {**base, "device_id": device_id}
