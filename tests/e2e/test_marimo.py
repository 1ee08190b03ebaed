"""nbrtc in marimo: ``marimo edit`` and ``marimo run`` in Debian Chromium with the fake camera.

marimo has no IPython shell: nbrtc learns "a cell runs" from marimo's runtime context and
"this cell runs again" from marimo's cell lifecycle registry (``_signaling/cells.py``).
The notebook is a marimo ``.py`` file written to a temp dir; the test starts the real
``marimo`` (the one next to this Python) on 127.0.0.1 in its own process group and stops
that group by the PID it started. What a person sees is checked in the page (the state
text, the video's clock moving, a cell output naming the frame's shape) and the page's
peers and tracks are counted by ``tests/lab/counters.js``, independently of nbrtc. The
kernel is a separate marimo process with no connection file, so the notebook itself
writes what nbrtc's manager holds to a file every 0.1 s (a daemon thread, test only).

* re-running the camera's cell (a marimo button it depends on) closes the previous
  run's stream before the new one starts: one live peer and one live camera track, not two
  (CONTRACT.md §4, "the cell that made the widget runs again");
* a cell that runs longer than the watchdog's grace does not get the page taken for dead;
* closing the tab closes the stream: the kernel holds none within 5 s (§4, "tab closed").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import jupyter as h

#: a cell this long outlasts nbrtc's BROWSER_TIMEOUT (3.5 s of silence) almost twice
LONG_CELL_S = 6.0

NOTEBOOK = """
import marimo

app = marimo.App()


@app.cell
def _():
    import json
    import threading
    import time

    import marimo as mo
    import nbrtc

    def _report():  # test only: what the kernel holds, for the test to read
        while True:
            _m = nbrtc.manager()
            _tmp = STATE_PATH + ".tmp"
            with open(_tmp, "w") as _fh:
                json.dump({"streams": len(_m.streams()), "kept": [c.state for c in kept]}, _fh)
            __import__("os").replace(_tmp, STATE_PATH)
            time.sleep(0.1)  # pace of the test's state reporter

    kept = []
    threading.Thread(target=_report, daemon=True).start()
    again = mo.ui.button(value=0, on_click=lambda v: v + 1, label="new camera")
    again
    return again, kept, mo, nbrtc


@app.cell
def _(again, kept, nbrtc):
    runs = again.value  # this cell runs again whenever the button is clicked
    cam = nbrtc.Camera()
    kept.append(cam)  # a reference the user keeps: garbage collection cannot close it
    cam
    return (cam,)


@app.cell
def _(mo):
    grab = mo.ui.run_button(label="grab a frame")
    grab
    return (grab,)


@app.cell
def _(cam, grab, mo):
    mo.stop(not grab.value)
    frame = cam.snapshot(timeout=10)
    mo.md(f"FRAME {frame.shape[0]}x{frame.shape[1]}x{frame.shape[2]} {frame.dtype}")
    return


@app.cell
def _(mo):
    think = mo.ui.run_button(label="think")
    think
    return (think,)


@app.cell
def _(mo, think):
    mo.stop(not think.value)
    import time as _time

    _time.sleep(LONG_CELL_S)  # scenario: a long computation: the page's messages queue behind it
    mo.md("THOUGHT")
    return


if __name__ == "__main__":
    app.run()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Marimo:
    """A ``marimo edit|run`` server this test started (its own process group)."""

    def __init__(self, mode: str, base: Path) -> None:
        self.state = base / "kernel-state.json"
        nb = base / "camera_marimo.py"
        text = NOTEBOOK.replace("STATE_PATH", repr(str(self.state)))
        nb.write_text(text.replace("LONG_CELL_S", repr(LONG_CELL_S)))
        # edit mode runs the notebook on open only with auto_instantiate (off by default)
        config = "[runtime]\nauto_instantiate = true\n"
        (base / "config" / "marimo").mkdir(parents=True)
        (base / "config" / "marimo" / "marimo.toml").write_text(config)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        self.log = (h.ARTIFACTS_DIR / f"marimo-{mode}.log").open("w")
        env = {**os.environ, "XDG_CONFIG_HOME": str(base / "config"), "HOME": str(base)}
        args = [sys.executable, "-m", "marimo", mode, str(nb), "--headless", "--port"]
        args += [str(self.port), "--host", "127.0.0.1", "--no-token"]
        if mode == "edit":  # `marimo run` has no such flag
            args.append("--skip-update-check")
        self.process = subprocess.Popen(
            args,
            cwd=base,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the group holds only marimo and its kernels
        )
        h.wait_for(self._up, 60, message=f"marimo {mode} answers on {self.url}")

    def _up(self) -> bool:
        assert self.process.poll() is None, f"marimo exited: see {self.log.name}"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def kernel_state(self) -> dict:
        """What the notebook's kernel last wrote: ``streams`` (nbrtc's live streams) and
        ``kept`` (the state of every camera the notebook made, oldest first)."""
        try:
            return dict(json.loads(self.state.read_text()))
        except (OSError, ValueError):
            return {}

    def kernel_streams(self) -> int | None:
        return self.kernel_state().get("streams")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


@pytest.fixture(params=["edit", "run"])
def marimo(request, tmp_path):
    server = Marimo(request.param, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _video_time(page) -> float:
    return float(page.locator(".nbrtc-root video.nbrtc-local").first.evaluate("v => v.currentTime"))


def test_camera_in_marimo(browser, marimo):
    context = h.capture_context(browser, marimo.url)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    try:
        page.goto(marimo.url + "/")
        root = page.locator(".nbrtc-root")

        def live() -> bool:
            return root.count() == 1 and root.first.get_attribute("data-state") == "live"

        h.wait_for(live, 60, message="the camera widget goes live in marimo")
        assert "Live" in page.locator(".nbrtc-root .nbrtc-text").first.inner_text()
        t0 = _video_time(page)
        h.wait_for(lambda: _video_time(page) > t0 + 0.5, 10, message="the video plays")
        assert marimo.kernel_streams() == 1

        # a frame reaches Python: the cell's output names its shape
        page.get_by_role("button", name="grab a frame").click()
        h.wait_for(
            lambda: page.get_by_text("FRAME 480x640x3 uint8").count() > 0,
            30,
            message="the frame cell shows the frame's shape",
        )

        # a long cell: the page's pings wait behind it, and that is no sign of a dead page
        page.get_by_role("button", name="think").click()
        h.wait_for(lambda: marimo.kernel_streams() == 1, 5, message="kernel state")
        h.assert_holds(
            lambda: live() and marimo.kernel_streams() == 1,
            LONG_CELL_S,
            message="the stream stays live while a long marimo cell runs",
        )
        h.wait_for(lambda: page.get_by_text("THOUGHT").count() > 0, 10, message="the cell ends")

        # re-run the camera's cell: the old stream closes, one peer and one track stay
        before = h.counters(page)
        assert before["peersLive"] == 1 and before["tracksLive"] >= 1
        page.get_by_role("button", name="new camera").click()
        peak = {"peers": 0, "streams": 0}

        def new_camera_live() -> bool:
            # sampled through the whole switch: never two peers, never two kernel streams
            peak["peers"] = max(peak["peers"], h.counters(page)["peersLive"])
            peak["streams"] = max(peak["streams"], marimo.kernel_streams() or 0)
            # the previous run's camera object is closed in Python, not just its view
            return marimo.kernel_state().get("kept") == ["closed", "live"] and live()

        h.wait_for(new_camera_live, 30, message="the re-run cell's new camera goes live")
        assert h.counters(page)["peersCreated"] == before["peersCreated"] + 1
        assert peak == {"peers": 1, "streams": 1}, f"two cameras at once during the re-run: {peak}"
        seen: list[tuple[dict, dict]] = []

        def one_of_each() -> bool:
            seen.append((h.counters(page), marimo.kernel_state()))
            now, kernel = seen[-1]
            return (
                now["peersLive"] == 1
                and now["tracksLive"] == before["tracksLive"]
                and kernel.get("streams") == 1
            )

        try:
            h.assert_holds(one_of_each, 2.0, message="one peer and one camera, not two")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: before {before}, then {seen[-1]}") from None

        # closing the tab tears the stream down in the kernel
        page.close(run_before_unload=True)
        took = h.wait_for(
            lambda: marimo.kernel_streams() == 0, 5, message="the kernel closes the tab's stream"
        )
        print(f"marimo {marimo.process.args[3]}: stream closed {took:.2f} s after the tab")
    except Exception:
        h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        (h.ARTIFACTS_DIR / "marimo.console.txt").write_text("\n".join(console) + "\n")
        if not page.is_closed():
            h.screenshot(page, "marimo.failure")
        raise
    finally:
        context.close()
