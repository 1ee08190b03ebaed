"""End to end: the camera view's device picker in JupyterLab and Chromium.

Chromium's fake capture lists several cameras when asked
(``--use-fake-device-for-media-stream=device-count=N``), so this module runs its own
Chromium with that flag (the session's browser lists one). A person picks another
camera in the widget's ``<select>``; then Python's ``cam.constraints["device_id"]`` is
that camera, the stream goes live again on it (the select shows the device the new track
runs on), the video plays, and the page holds exactly one live peer and one live camera
track (counted by counters.js, independently of nbrtc).

Chromium's fake cameras are not alike: the first sends I420, the second Y16 (a depth
camera: its WebRTC track delivers no frames, so a stream on it never goes live), the
third MJPEG. The test picks the third, a colour camera like the first.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from lab import jupyter as h
from lab.video import _assert_playing, _kjson, _open, _remove, _root, _run, _wait_state

pytestmark = pytest.mark.e2e

#: fake cameras Chromium lists in this module's browser (I420, Y16, MJPEG)
CAMERAS = 3
_FAKE = "--use-fake-device-for-media-stream"
_CAMERAS_JS = """async () => (await navigator.mediaDevices.enumerateDevices())
  .filter((d) => d.kind === 'videoinput').map((d) => ({id: d.deviceId, label: d.label}))"""


@pytest.fixture
def picker_page(browser, jupyter_server, request):
    """A page of a second Chromium (from the session's Playwright) with CAMERAS fake
    cameras; closed, with its kernels' sessions, at the end."""
    args = [a for a in h.CHROMIUM_ARGS if not a.startswith(_FAKE)]
    args.append(f"{_FAKE}=device-count={CAMERAS}")
    own = browser.browser_type.launch(executable_path=h.CHROMIUM, headless=True, args=args)
    context = h.capture_context(own, jupyter_server.url)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    try:
        yield pg
    finally:
        failed = any(
            getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            stem = h.artifact_name(request.node.nodeid)
            (h.ARTIFACTS_DIR / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
            with contextlib.suppress(Exception):
                h.screenshot(pg, f"{stem}.failure")
        h.forget_page(pg)
        context.close()
        own.close()
        jupyter_server.shutdown_sessions()


def test_pick_another_camera_in_the_widget(picker_page, jupyter_server):
    page = picker_page

    def kernel_eval(code: str, timeout: float = 30.0) -> str:
        return h.kernel_eval(page, code, timeout=timeout)

    name = "device_picker.ipynb"
    _open(page, jupyter_server, name, ["import json\nimport nbrtc\ncam = nbrtc.Camera()\ncam"])
    try:
        _run(page, 0)
        root = _root(page, 0)
        _wait_state(root, "live")
        cameras = page.evaluate(_CAMERAS_JS)
        assert len(cameras) == CAMERAS and all(c["id"] for c in cameras), cameras

        select = root.locator("select.nbrtc-device[data-kind='video']")
        h.wait_for(
            lambda: select.is_visible() and select.is_enabled(),
            timeout=10,
            message="the camera picker is shown and usable",
        )
        assert select.get_attribute("aria-label") == "Camera"
        options = select.locator("option")
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
            c["id"] for c in cameras
        ]
        assert [options.nth(i).inner_text() for i in range(options.count())] == [
            c["label"] or f"Camera {i + 1}" for i, c in enumerate(cameras)
        ]
        before = select.input_value()
        assert before == cameras[0]["id"], "the stream runs on the first camera"
        first_stream = _kjson(kernel_eval, "print(json.dumps([s['id'] for s in cam.streams]))")
        assert len(first_stream) == 1 and h.counters(page)["tracksLive"] == 1

        target = cameras[2]["id"]  # not the second: a Y16 depth camera (see above)
        select.select_option(value=target)  # as a person does: mouse or keyboard

        h.wait_for(
            lambda: (
                json.loads(kernel_eval("print(json.dumps(cam.constraints['device_id']))").strip())
                == target
            ),
            timeout=10,
            message="cam.constraints['device_id'] is the picked camera",
        )

        seen: dict = {}

        def live_again() -> bool:
            seen.update(
                _kjson(
                    kernel_eval,
                    "print(json.dumps({'state': cam.state, 'error': cam.error,"
                    " 'ids': [s['id'] for s in cam.streams]}))",
                )
            )
            return seen["state"] == "live" and len(seen["ids"]) == 1 and seen["ids"] != first_stream

        try:
            h.wait_for(live_again, timeout=20, message="one new stream, live")
        except TimeoutError as exc:
            # what the new stream went through, for the reader of the failure
            events = kernel_eval(
                "print([(e['event'], e.get('type') or e.get('what'), e.get('summary') or "
                "e.get('state')) for e in cam.history()][-20:])"
            )
            raise AssertionError(f"{exc}; the kernel says {seen}; history {events}") from None
        _wait_state(root, "live")
        # the new track runs on the picked camera: the select shows the device in use
        h.wait_for(
            lambda: select.input_value() == target and select.is_enabled(),
            timeout=10,
            message="the picker shows the picked camera, usable again",
        )
        _assert_playing(root)
        h.wait_for(
            lambda: h.counters(page)["peersLive"] == 1 and h.counters(page)["tracksLive"] == 1,
            timeout=10,
            message="one live peer and one live camera track",
        )
        picked = _kjson(
            kernel_eval,
            "print(json.dumps([e['summary'] for e in cam.history() if e['event'] == 'note'"
            " and 'picked the camera' in e['summary']]))",
        )
        assert len(picked) == 1, picked

        kernel_eval("cam.close()")
        h.wait_for(
            lambda: h.counters(page)["peersLive"] == 0 and h.counters(page)["tracksLive"] == 0,
            timeout=5,
            message="nothing live after close()",
        )
    finally:
        with contextlib.suppress(Exception):
            kernel_eval("cam.close()", timeout=10)
        _remove(jupyter_server, name)
