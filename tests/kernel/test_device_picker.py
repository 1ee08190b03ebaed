"""The view's device picker, kernel side: a page's ``device`` message (docs/protocol.md).

The page lists its devices (``devices``), the user picks one in the widget, the page sends
``device {kind, deviceId}``. The kernel takes it only from the page that owns the stream,
only for a kind the widget captures and a deviceId that page listed with that kind; then
the widget's own settings change (which restarts each view's stream with the device: the
real page does that, tests/e2e/test_device_picker.py) and ``history()`` says so. Anything
else gets an ``error`` reply in words and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nbrtc

from ._browser import FakeBrowser, assert_holds, live, make, wait_for

DEVICES = [
    {"deviceId": "cam-front", "kind": "videoinput", "label": "Front camera", "groupId": "g1"},
    {"deviceId": "cam-back", "kind": "videoinput", "label": "Back camera", "groupId": "g2"},
    {"deviceId": "mic-a", "kind": "audioinput", "label": "Mic A", "groupId": "g1"},
    {"deviceId": "mic-b", "kind": "audioinput", "label": "", "groupId": "g3"},
    {"deviceId": "spk", "kind": "audiooutput", "label": "Speaker", "groupId": "g1"},
]


@pytest.fixture
def attacker(browser: FakeBrowser) -> Iterator[FakeBrowser]:
    """A second page of the same kernel (its own key)."""
    page = FakeBrowser()
    yield page
    page.close()


def _listed(browser: FakeBrowser, widget: Any, sid: str) -> None:
    """The page reports its devices, as js/peer/device.js does after getUserMedia."""
    browser.send(widget, "devices", sid, DEVICES)
    wait_for(lambda: len(widget.devices) == len(DEVICES), 5, what="devices reported")


def _errors(page: FakeBrowser, sid: str) -> list[tuple[str, str]]:
    return [
        (m["payload"]["code"], m["payload"]["message"])
        for m in page.of_type("error", sid)
        if m["payload"]["ref"]["type"] == "device"
    ]


def _notes(widget: Any) -> list[str]:
    return [e["summary"] for e in widget.history() if e["event"] == "note"]


def test_picking_a_listed_camera_sets_the_constraints(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera(width=320, frame_rate=15))
    _listed(browser, cam, sid)
    browser.send(cam, "device", sid, {"kind": "video", "deviceId": "cam-back"})
    wait_for(lambda: cam.constraints["device_id"] == "cam-back", 5, what="constraints changed")
    # the other settings are kept; the microphone is not touched
    assert cam.constraints["width"] == 320 and cam.constraints["frame_rate"] == 15
    assert cam.audio is False
    browser.barrier(cam)
    assert _errors(browser, sid) == []
    assert any("picked the camera 'Back camera'" in n for n in _notes(cam)), _notes(cam)
    assert any(e.get("type") == "device" and e.get("dir") == "in" for e in cam.history())


def test_unknown_or_wrong_kind_ids_are_refused_in_words(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    _listed(browser, cam, sid)
    picks = [
        {"kind": "video", "deviceId": "not-listed"},
        {"kind": "video", "deviceId": "mic-a"},  # a microphone's id as a camera
        {"kind": "audio", "deviceId": "mic-a"},  # audio=False: no microphone to pick
    ]
    for pick in picks:
        browser.send(cam, "device", sid, pick)
    browser.barrier(cam)
    got = _errors(browser, sid)
    assert [code for code, _ in got] == ["bad-message", "wrong-kind", "wrong-kind"], got
    assert "listed no camera with that deviceId" in got[0][1]
    assert "is a microphone, not a camera" in got[1][1]
    assert "audio=False" in got[2][1]
    assert cam.constraints["device_id"] is None and cam.audio is False
    assert cam.state == "live"


def test_malformed_and_oversized_picks_are_refused(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    long_id = "d" * 513
    _listed(browser, cam, sid)
    bad = [
        {"kind": "video", "deviceId": long_id},
        {"kind": "video", "deviceId": ""},
        {"kind": "videoinput", "deviceId": "cam-back"},
        {"kind": "video"},
        ["video", "cam-back"],
        None,
    ]
    for payload in bad:
        browser.send(cam, "device", sid, payload)
    browser.barrier(cam)
    got = _errors(browser, sid)
    assert [code for code, _ in got] == ["bad-message"] * len(bad), got
    assert "1 to 512 characters" in got[0][1]
    assert cam.constraints["device_id"] is None


def test_another_page_cannot_pick_for_a_stream(
    browser: FakeBrowser, attacker: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    _listed(browser, cam, sid)
    pick = {"kind": "video", "deviceId": "cam-back"}
    attacker.send(cam, "device", sid, pick)
    # a keyless sender is another page too
    cam._manager.handle_message(
        cam._port, {"v": 1, "type": "device", "stream": sid, "payload": pick}
    )
    browser.send(cam, "device", "never-seen-1", pick)
    browser.barrier(cam)
    assert [c for c, _ in _errors(browser, sid)] == ["unknown-stream", "unknown-stream"]
    assert [c for c, _ in _errors(browser, "never-seen-1")] == ["unknown-stream"]
    assert_holds(lambda: cam.constraints["device_id"] is None, 0.3, what="constraints untouched")


def test_a_late_pick_for_a_closed_stream_is_dropped(
    browser: FakeBrowser, widgets: list[Any]
) -> None:
    cam, sid = live(browser, widgets, nbrtc.Camera())
    _listed(browser, cam, sid)
    browser.bye(sid)
    wait_for(lambda: cam.state == "new", 5, what="the stream closed")
    browser.send(cam, "device", sid, {"kind": "video", "deviceId": "cam-back"})
    browser.barrier(cam)
    assert _errors(browser, sid) == []
    assert cam.constraints["device_id"] is None


def test_microphone_and_camera_audio_picks(browser: FakeBrowser, widgets: list[Any]) -> None:
    mic, msid = live(browser, widgets, nbrtc.Microphone(echo_cancellation=False))
    _listed(browser, mic, msid)
    browser.send(mic, "device", msid, {"kind": "video", "deviceId": "cam-back"})
    browser.send(mic, "device", msid, {"kind": "audio", "deviceId": "mic-b"})
    wait_for(lambda: mic.audio["device_id"] == "mic-b", 5, what="the microphone's device")
    assert mic.audio["echo_cancellation"] is False  # the other settings kept
    browser.barrier(mic)
    assert [c for c, _ in _errors(browser, msid)] == ["wrong-kind"]
    assert any("picked the microphone '(no label)'" in n for n in _notes(mic)), _notes(mic)

    cam, csid = live(browser, widgets, nbrtc.Camera(audio=True))
    _listed(browser, cam, csid)
    browser.send(cam, "device", csid, {"kind": "audio", "deviceId": "mic-a"})
    wait_for(lambda: isinstance(cam.audio, dict), 5, what="the camera's microphone")
    assert cam.audio == {
        "device_id": "mic-a",
        "echo_cancellation": None,
        "noise_suppression": None,
        "auto_gain_control": None,
    }
    assert cam.constraints["device_id"] is None


def test_widgets_without_a_picker_refuse(browser: FakeBrowser, widgets: list[Any]) -> None:
    view = make(widgets, browser, nbrtc.VideoView())
    sid = browser.start(view)
    view.wait("live", timeout=10)
    browser.send(view, "device", sid, {"kind": "video", "deviceId": "cam-back"})
    browser.barrier(view)
    [(code, words)] = _errors(browser, sid)
    assert code == "wrong-kind" and "a view widget has no device to pick" in words
