"""Voilà serves ``notebooks/camera_dashboard.ipynb``: an analyst's camera dashboard.

Voilà runs every cell of the notebook in a fresh kernel *before* the browser renders the
page, then shows only the widgets. These tests run the real ``voila`` (the one next to
this Python) on 127.0.0.1 and open it in Debian Chromium with the fake camera, as an
analyst would, and check what a person sees and what the kernel holds:

* the camera widget's state text reaches live, the readout written by the ``process()``
  function changes (its frame count rises), the preview plays the processed video (the
  moving pixels painted red), and the page holds exactly one peer and one camera track;
* closing the tab as a person does (``beforeunload`` runs): nbrtc closes the page's
  stream within the contract's 5 s (CONTRACT.md §4, "tab closed"), and the kernel ends.
  Voilà's page beacons a kernel shutdown on ``beforeunload``, but Voilà 0.5 rejects it
  here ("'_xsrf' argument missing from POST": the page has no ``_xsrf`` cookie,
  voila-dashboards/voila#1458), so the kernel would live on; the server runs with
  Voilà's documented kernel culling (``MappingKernelManager.cull_*``), which ends it;
* the tab's renderer crashes (no ``beforeunload``, no ``pagehide``): nbrtc's watchdog
  closes the stream within 5 s ("tab crashed").

Voilà writes kernel connection files under ``$TMPDIR/voila_*/``; the server gets a private
``TMPDIR`` so the tests can find the page's kernel and ask it (a silent
``user_expression``, which fires no cell hooks) what nbrtc holds. Figures go to
``test-artifacts/voila-figures.json``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab import jupyter as h
from lab import video as v

NOTEBOOK = h.REPO_ROOT / "notebooks" / "camera_dashboard.ipynb"
FIGURES = h.ARTIFACTS_DIR / "voila-figures.json"
LOG = h.ARTIFACTS_DIR / "voila-server.log"
#: Voilà's kernel culling in these tests: a kernel with no page connected and no message
#: for CULL_IDLE_S seconds is shut down (checked every second). While a page is connected
#: its kernel is never culled.
CULL_IDLE_S = 6

#: What the kernel holds: nbrtc's streams and aiortc resources, and the kernel's PID.
KSTATE_EXPR = (
    "__import__('json').dumps((lambda m: {'streams': m.streams(), 'res': m.resources(),"
    " 'pid': __import__('os').getpid()})(__import__('nbrtc').manager()))"
)

# Share of a video's pixels that are pure-ish red (the dashboard paints moving pixels
# red), counted at the video's own size so thin moving edges are not averaged away.
RED_SHARE_JS = """
(video) => {
  if (video.readyState < 2 || !video.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = video.videoWidth; c.height = video.videoHeight;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let red = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] > 170 && d[i + 1] < 90 && d[i + 2] < 90) red++;
  }
  return red / (d.length / 4);
}
"""

KERNEL_ID_JS = """
() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId
"""


@dataclass
class Voila:
    """A running ``voila NOTEBOOK`` (the dashboard) and where it keeps its files."""

    url: str  # the dashboard's page, ends with "/"
    tmp_dir: Path  # the server's TMPDIR: connection files land in tmp_dir/voila_*/
    process: subprocess.Popen = field(repr=False)

    def connection_file(self, kernel_id: str) -> Path | None:
        found = sorted(self.tmp_dir.glob(f"voila_*/kernel-{kernel_id}.json"))
        return found[0] if found else None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(LOG.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (Voilà shuts its kernels down), then SIGKILL its process group."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # start_new_session=True: the group holds only Voilà and its kernels.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _start_voila(base: Path) -> Voila:
    """``python -m voila camera_dashboard.ipynb`` on a free port; waits until it answers.

    Readiness is any answer to a URL that is not the dashboard (a 403 will do): a GET of
    the dashboard itself would start a kernel.
    """
    root, runtime, tmp = base / "root", base / "runtime", base / "tmp"
    for d in (root, runtime, tmp):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), TMPDIR=str(tmp))
    env["PYTHONUNBUFFERED"] = "1"
    LOG.parent.mkdir(parents=True, exist_ok=True)
    last = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = h._free_port()
        cmd = [
            sys.executable,
            "-m",
            "voila",
            NOTEBOOK.name,
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.port_retries=0",
            "--MappingKernelManager.cull_interval=1",
            f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}",
        ]
        with open(LOG, "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Voila(url=f"http://127.0.0.1:{port}/", tmp_dir=tmp, process=proc)

        def answers(server: Voila = server) -> bool:
            if server.process.poll() is not None:
                raise h.HarnessError(f"voila exited with {server.process.returncode}")
            try:
                with urllib.request.urlopen(server.url + "api/status", timeout=2) as resp:
                    return resp.status == 200
            except urllib.error.HTTPError as exc:  # it answers (e.g. 403/404): it is up
                return exc.code < 500
            except OSError:
                return False

        try:
            h.wait_for(answers, timeout=60, interval=0.1, message="voila answers")
            return server
        except (h.HarnessError, TimeoutError) as exc:
            last = f"{exc}\n--- voila log ---\n{server.log_tail()}"
            server.stop(timeout=5)
    raise h.HarnessError(f"could not start voila: {last}")


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    server = _start_voila(tmp_path_factory.mktemp("voila"))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Dashboard:
    """One tab showing the dashboard, and a second client of its kernel."""

    page: object
    kernel_id: str
    probe: h.KernelProbe
    t0: float  # monotonic time the page was asked for
    rendered_s: float  # until Voilà had run every cell and sent the page

    def kstate(self) -> dict:
        """{'streams': [...], 'res': resources(), 'pid': kernel PID} (a silent query)."""
        return json.loads(ast.literal_eval(self.probe.query(KSTATE_EXPR, timeout=10)))


@pytest.fixture
def dashboard(browser, voila, request):
    """A fresh context (camera+mic granted, counters.js) with the dashboard open."""
    context = h.capture_context(browser, voila.url)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    probe: h.KernelProbe | None = None
    try:
        t0 = time.monotonic()
        page.goto(voila.url)  # returns once Voilà has run every cell and sent the page
        rendered = time.monotonic() - t0
        kernel_id = page.evaluate(KERNEL_ID_JS)
        h.wait_for(
            lambda: voila.connection_file(kernel_id), 10, message="the kernel's connection file"
        )
        probe = h.KernelProbe(voila.connection_file(kernel_id), ready_timeout=20)
        yield Dashboard(page, kernel_id, probe, t0=t0, rendered_s=rendered)
    finally:
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            stem = h.artifact_name(request.node.nodeid)
            h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            (h.ARTIFACTS_DIR / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
            if not page.is_closed():
                with contextlib.suppress(Exception):
                    h.screenshot(page, f"{stem}.failure")
        if probe is not None:
            with contextlib.suppress(Exception):
                probe.client.shutdown()  # a kernel the test left running (no-op if gone)
            probe.close()
        context.close()


def _root(page):
    return page.locator(".nbrtc-root").first


def _readout(page) -> str:
    html = page.locator(".widget-html")
    return html.first.inner_text() if html.count() else ""


def _frames_analysed(text: str) -> int | None:
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word == "analysed" and words[i + 1].isdigit():
            return int(words[i + 1])
    return None


def _readout_moves(page) -> list[str]:
    """The process() result a person reads changes over time and keeps counting frames;
    returns the texts seen."""
    seen: list[str] = []

    def moves() -> bool:
        text = _readout(page)
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        counts = [n for n in map(_frames_analysed, seen) if n is not None]
        return len(counts) >= 4 and counts[-1] > counts[0] + 10

    h.wait_for(moves, 15, message=f"the readout changes (seen {seen[-3:]})")
    assert "Brightness" in seen[-1] and "Motion" in seen[-1], seen[-1]
    return seen


def _preview_is_processed(root) -> tuple[float, float, float]:
    """The preview plays what process() returns: moving pixels painted red, which the
    plain camera (the hidden local video) does not have. Returns (share of thumbnail
    pixels that changed, red share shown, red share of the camera)."""
    h.wait_for(lambda: root.get_attribute("data-showing") == "processed", 15)
    v._assert_playing(root)
    moved = v._wait_pixels_change(root, min_fraction=0.02)
    shown = root.locator("video.nbrtc-video")
    red: dict[str, float] = {"max": 0.0}

    def red_shows() -> bool:
        share = shown.evaluate(RED_SHARE_JS) or 0.0
        red["max"] = max(red["max"], share)
        return red["max"] >= 0.003

    h.wait_for(red_shows, 10, message=f"red moving pixels in the preview ({red})")
    plain = root.locator("video.nbrtc-local").evaluate(RED_SHARE_JS) or 0.0
    assert plain < red["max"] / 3, (plain, red)
    return moved, red["max"], plain


def _go_live(board: Dashboard) -> dict:
    """The camera goes live, the readout moves, the processed video plays; returns figures."""
    page = board.page
    root = _root(page)
    h.wait_for(lambda: root.count() == 1, 20, message="the camera widget rendered")
    v._wait_state(root, "live", timeout=25)
    live_s = time.monotonic() - board.t0
    status = v._status(root)
    assert "Live" in status, status

    seen = _readout_moves(page)
    moved, red, plain = _preview_is_processed(root)
    c = h.counters(page)
    assert (c["peersLive"], c["tracksLive"]) == (1, 1), c
    st = board.kstate()
    assert [s["state"] for s in st["streams"]] == ["live"], st
    assert st["res"]["peers"] == 1, st
    return {
        "page_rendered_s": round(board.rendered_s, 2),
        "live_s": round(live_s, 2),
        "readout_updates_seen": len(seen),
        "preview_pixels_changed": round(moved, 3),
        "red_share_processed": round(red, 4),
        "red_share_camera": round(plain, 4),
        "pid": st["pid"],
    }


def _gone(pid: int) -> bool:
    """The process has exited (gone, or a zombie its parent Voilà has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # the state field follows "(comm)"


def _wait_stream_closed(board: Dashboard, timeout: float = 15.0) -> float:
    """Seconds until the kernel holds no nbrtc stream and no aiortc peer (polled)."""
    last: dict = {}

    def kernel_clean() -> bool:
        last.update(board.kstate())
        return not last["streams"] and last["res"]["peers"] == 0

    try:
        return h.wait_for(kernel_clean, timeout, interval=0.05, message="stream closed")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; kernel holds {last}") from None


def test_dashboard_goes_live_and_ends_with_the_tab(dashboard, voila):
    """The dashboard works as served; closing the tab as a person does closes the camera's
    stream at once and, with culling, ends the kernel."""
    fig = _go_live(dashboard)
    pid = fig.pop("pid")
    log_before = voila.log_tail(10_000)
    page = dashboard.page
    t0 = time.monotonic()
    page.close(run_before_unload=True)  # returns at once; pump events until it closed
    if not page.is_closed():
        page.wait_for_event("close", timeout=10_000)
    closed_s = _wait_stream_closed(dashboard)
    fig["stream_closed_after_tab_close_s"] = round(time.monotonic() - t0, 2)
    try:
        h.wait_for(lambda: _gone(pid), CULL_IDLE_S + 15, interval=0.1, message="kernel exits")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- voila log ---\n{voila.log_tail()}") from None
    fig["kernel_exit_after_tab_close_s"] = round(time.monotonic() - t0, 2)
    fig["cull_idle_timeout_s"] = CULL_IDLE_S
    new_log = voila.log_tail(10_000)[len(log_before) :]
    fig["voila_shutdown_beacon_rejected"] = "_xsrf' argument missing" in new_log
    h.record_figure(FIGURES, "dashboard_tab_closed", fig, echo=True)
    assert closed_s <= 5.0, fig  # CONTRACT §4: tab closed -> streams closed within 5 s


def test_tab_crash_closes_the_stream(dashboard):
    """The tab's renderer crashes (no ``beforeunload``, no ``pagehide``: no bye from the
    page, no Voilà beacon): nbrtc's watchdog closes its stream within 5 s (CONTRACT §4)."""
    fig = _go_live(dashboard)
    fig.pop("pid")
    page = dashboard.page
    t0 = time.monotonic()
    h.crash_renderer(page)
    _wait_stream_closed(dashboard)
    closed_s = time.monotonic() - t0
    fig["stream_closed_after_crash_s"] = round(closed_s, 2)
    h.record_figure(FIGURES, "dashboard_tab_crashed", fig, echo=True)
    assert closed_s <= 5.0, fig


def test_dashboard_runs_in_jupyterlab(page, jupyter_server, kernel_eval):
    """The same notebook with Run All in JupyterLab: no cell waits for the camera, no
    error, the camera goes live with the processed preview and the readout moving."""
    name = f"dashboard_{secrets.token_hex(3)}.ipynb"
    shutil.copy(NOTEBOOK, jupyter_server.root_dir / name)
    try:
        h.open_notebook(page, jupyter_server, name)
        run_s = h.run_all(page, timeout=60)
        errors = page.locator(h.CELLS).locator(f"{h.OUTPUT}[data-mime-type*='error']")
        assert errors.count() == 0, errors.first.inner_text()[:400]
        root = _root(page)
        live_s = v._wait_state(root, "live", timeout=25)
        _readout_moves(page)
        _preview_is_processed(root)
        fig = {"run_all_s": round(run_s, 2), "live_after_run_all_s": round(live_s, 2)}
        h.record_figure(FIGURES, "dashboard_jupyterlab", fig, echo=True)
        assert run_s < 20, fig  # nothing blocks: Voilà needs every cell to finish
        kernel_eval("cam.close()")  # what the notebook's last cell tells Lab users to do
        h.wait_for(lambda: v._live_counters_zero(page), 5, message="camera off after close()")
    finally:
        v._close_all(kernel_eval)
        with contextlib.suppress(OSError):
            (jupyter_server.root_dir / name).unlink()
