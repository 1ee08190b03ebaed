"""Video helpers shared by the end-to-end test modules: open and run cells as a person
would, read what a ``<video>`` shows (state, playback, a small RGB thumbnail), and talk
to the kernel (JSON results, closing every widget at the end of a test)."""

from __future__ import annotations

import contextlib
import json

from . import jupyter as h

# Draw a video element into a small canvas and return what a person would see: its
# playback state and a GRID_W x GRID_H RGB thumbnail (row-major, 3 numbers per pixel).
GRID_W, GRID_H = 32, 24
_GRAB_JS = f"""
(video) => {{
  const w = {GRID_W}, h = {GRID_H};
  const out = {{
    readyState: video.readyState,
    currentTime: video.currentTime,
    paused: video.paused,
    width: video.videoWidth,
    height: video.videoHeight,
    pixels: null,
  }};
  if (video.readyState >= 2 && video.videoWidth > 0) {{
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const ctx = c.getContext('2d', {{willReadFrequently: true}});
    ctx.drawImage(video, 0, 0, w, h);
    const d = ctx.getImageData(0, 0, w, h).data;
    const px = [];
    for (let i = 0; i < d.length; i += 4) px.push(d[i], d[i + 1], d[i + 2]);
    out.pixels = px;
  }}
  return out;
}}
"""


def _open(page, server, name: str, cells: list[str], ui: h.UI = "lab") -> str:
    path = h.write_notebook(server, name, cells)
    h.open_notebook(page, server, path, ui=ui)
    return path


def _remove(server, *names: str) -> None:
    for n in names:
        with contextlib.suppress(OSError):
            (server.root_dir / n).unlink()


def _cell(page, index: int):
    return page.locator(h.CELLS).nth(index)


def _root(page, cell: int, n: int = 0):
    """The n-th nbrtc view inside cell ``cell``."""
    return _cell(page, cell).locator(".nbrtc-root").nth(n)


def _state(root) -> str | None:
    return root.get_attribute("data-state") if root.count() else None


def _wait_state(root, state: str, timeout: float = 20.0) -> float:
    return h.wait_for(
        lambda: _state(root) == state,
        timeout=timeout,
        message=f"view data-state == {state!r}",
    )


_SETTLED_JS = """
() => [...document.querySelectorAll('.nbrtc-root')].every((r) =>
  ['error', 'closed'].includes(r.dataset.state)
  || !r.querySelector('video.nbrtc-video')
  || (r.dataset.media === 'yes' && r.querySelector('video.nbrtc-video').videoWidth > 0))
"""


def _run(page, index: int, timeout: float = 60.0, wait: bool = True) -> None:
    """Run cell ``index`` once the page has stopped moving, as a person would.

    A view that gets its media is laid out at 300x150 until the video knows its size,
    then jumps back to its real size (see test_video_view_test_pattern_moves); a click on
    a prompt below it during that jump lands on the wrong cell. So: wait until every
    view shows its media at its size (or ended), and the prompt stays put.
    """
    h.wait_for(
        lambda: page.evaluate(_SETTLED_JS),
        timeout=20,
        message="every nbrtc view shows its media (or ended)",
    )
    seen: list = []

    def still() -> bool:
        box = _cell(page, index).locator(h.PROMPT).first.bounding_box()
        seen.append(None if box is None else (round(box["x"]), round(box["y"])))
        return len(seen) >= 3 and seen[-1] is not None and seen[-1] == seen[-2] == seen[-3]

    h.wait_for(still, timeout=10, interval=0.1, message=f"cell {index} stays put")
    h.run_cell(page, index, timeout=timeout, wait=wait)


def _status(root) -> str:
    return root.locator(".nbrtc-status").inner_text().strip()


def _grab(root) -> dict:
    return root.locator("video.nbrtc-video").evaluate(_GRAB_JS)


def _grab_pixels(root, timeout: float = 15.0) -> dict:
    """A grab with pixels (waits until the video has a frame to draw)."""
    got: dict = {}

    def ready() -> bool:
        got.update(_grab(root))
        return got["pixels"] is not None

    h.wait_for(ready, timeout=timeout, message="video has a frame to draw")
    return got


def _mean_rgb(pixels: list[int], rows: range | None = None) -> tuple[float, float, float]:
    rows = rows if rows is not None else range(GRID_H)
    sums = [0.0, 0.0, 0.0]
    n = 0
    for y in rows:
        for x in range(GRID_W):
            i = (y * GRID_W + x) * 3
            for c in range(3):
                sums[c] += pixels[i + c]
            n += 1
    return (sums[0] / n, sums[1] / n, sums[2] / n)


def _changed_fraction(a: list[int], b: list[int], threshold: int = 24) -> float:
    """Fraction of thumbnail pixels whose colour moved by more than ``threshold``."""
    changed = 0
    for i in range(0, len(a), 3):
        if max(abs(a[i + c] - b[i + c]) for c in range(3)) > threshold:
            changed += 1
    return changed / (len(a) // 3)


def _assert_playing(root, timeout: float = 10.0) -> dict:
    """readyState >= 2 (a frame to show) and currentTime advancing; returns a grab."""
    first: dict = {}

    def ready() -> bool:
        first.clear()
        first.update(_grab(root))
        return first["readyState"] >= 2

    h.wait_for(ready, timeout=timeout, message="video has a frame to show (readyState >= 2)")

    def advanced() -> bool:
        now = _grab(root)
        return now["readyState"] >= 2 and now["currentTime"] > first["currentTime"] + 0.2

    h.wait_for(advanced, timeout=timeout, message="video currentTime advancing")
    return first


def _wait_pixels_change(root, min_fraction: float, timeout: float = 10.0) -> float:
    """Poll until the video's thumbnail differs from the first one; return the fraction."""
    first = _grab_pixels(root)["pixels"]
    best = {"f": 0.0}

    def changed() -> bool:
        now = _grab(root)["pixels"]
        if now is None:
            return False
        best["f"] = max(best["f"], _changed_fraction(first, now))
        return best["f"] >= min_fraction

    h.wait_for(changed, timeout=timeout, message=f"video pixels change (best {best})")
    return best["f"]


def _wait_colour(root, rgb: tuple[int, int, int], tol: float, rows=None, timeout=15.0):
    last: dict = {}

    def close_enough() -> bool:
        g = _grab(root)
        if g["pixels"] is None:
            return False
        last["mean"] = _mean_rgb(g["pixels"], rows)
        return all(abs(m - c) <= tol for m, c in zip(last["mean"], rgb, strict=True))

    try:
        h.wait_for(close_enough, timeout=timeout, message=f"video colour ~ {rgb}")
    except TimeoutError as exc:
        raise AssertionError(f"video colour {last.get('mean')} is not ~{rgb} (±{tol})") from exc
    return last["mean"]


def _kjson(kernel_eval, code: str, timeout: float = 30.0):
    """Run ``code`` whose last line prints JSON in the kernel; return it decoded."""
    out = kernel_eval(code, timeout=timeout)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise AssertionError(f"kernel printed no JSON: {out!r}") from exc


def _live_counters_zero(page) -> bool:
    c = h.counters(page)
    return c["peersLive"] == 0 and c["tracksLive"] == 0


def _close_all(kernel_eval) -> None:
    """Close every nbrtc widget the kernel holds (best effort, end of a test)."""
    with contextlib.suppress(Exception):
        kernel_eval(
            "import nbrtc as _n\nfor _w in list(_n.manager()._widgets):\n    _w.close()\n",
            timeout=10,
        )


# The canvas cameras paint until every track of theirs (clones included: the comm uplink
# clones the camera) is stopped. track.stop() fires no "ended", so painting is what polls:
# a page that opens cameras over a whole run (the benchmarks) would otherwise paint every
# one it ever opened, every 5 ms, and its main thread would starve the newest ones.
UNTIL_STOPPED_JS = """
  const untilStopped = (stream, paint, ms) => {
    const tracks = new Set();
    const watch = (track) => {
      tracks.add(track);
      const clone = track.clone.bind(track);
      track.clone = () => watch(clone());
      return track;
    };
    stream.getTracks().forEach(watch);
    const timer = setInterval(() => {
      if ([...tracks].every((t) => t.readyState === 'ended')) clearInterval(timer);
      else paint();
    }, ms);
    return stream;
  };
"""

# A camera whose picture we know: left half pure red, right half pure blue (a corner
# blinks so that the canvas keeps producing frames).
_RED_BLUE_CAMERA_JS = (
    """
(() => {
"""
    + UNTIL_STOPPED_JS
    + """
  const fake = async function () {
    const c = document.createElement('canvas');
    c.width = 640; c.height = 480;
    const ctx = c.getContext('2d');
    let n = 0;
    const paint = () => {
      ctx.fillStyle = '#ff0000'; ctx.fillRect(0, 0, 320, 480);
      ctx.fillStyle = '#0000ff'; ctx.fillRect(320, 0, 320, 480);
      ctx.fillStyle = (n++ % 2) ? '#ffffff' : '#000000'; ctx.fillRect(0, 0, 16, 16);
    };
    paint();
    return untilStopped(c.captureStream(30), paint, 33);
  };
  MediaDevices.prototype.getUserMedia = fake;
})();
"""
)


# A camera whose pixels carry the page clock: 16 black/white blocks (each w/16 wide)
# along the top encode performance.now() in ms (mod 65536); VP8 keeps blocks this large
# intact. Size from window.__benchCam = {w, h} (default 640x480). Add it BEFORE
# counters.js when its tracks must be counted. Shared with benchmarks/.
STAMP_CAMERA_JS = (
    """
(() => {
"""
    + UNTIL_STOPPED_JS
    + """
  MediaDevices.prototype.getUserMedia = async function () {
    const size = window.__benchCam || {w: 640, h: 480};
    const w = size.w, h = size.h, bw = Math.floor(w / 16);
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const ctx = c.getContext('2d');
    const paint = () => {
      ctx.fillStyle = '#808080'; ctx.fillRect(0, 0, w, h);
      const t = Math.round(performance.now()) & 0xffff;
      for (let i = 0; i < 16; i++) {
        ctx.fillStyle = ((t >> i) & 1) ? '#ffffff' : '#000000';
        ctx.fillRect(i * bw, 0, bw, bw);
      }
    };
    paint();
    return untilStopped(c.captureStream(30), paint, 5);
  };
})();
"""
)

# (video, ms) -> [now - stamp] for every frame the video presents during ms (page clock).
READ_STAMPS_JS = """
async ([v, ms]) => {
  const w = v.videoWidth, h = v.videoHeight, bw = Math.floor(w / 16);
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const out = [];
  const end = performance.now() + ms;
  await new Promise((resolve) => {
    const step = () => {
      const now = performance.now();
      ctx.drawImage(v, 0, 0, w, h);
      const row = ctx.getImageData(0, Math.floor(bw / 2), w, 1).data;
      let t = 0;
      for (let i = 0; i < 16; i++) {
        if (row[(i * bw + Math.floor(bw / 2)) * 4 + 1] > 128) t |= (1 << i);
      }
      out.push(((Math.round(now) & 0xffff) - t + 65536) % 65536);
      if (now < end) v.requestVideoFrameCallback(step); else resolve();
    };
    v.requestVideoFrameCallback(step);
  });
  return out;
}
"""

# framesSent of every outbound video RTP stream of the page's live peers.
SENT_FRAMES_JS = """
async () => (await window.__counters.stats())
  .filter((r) => r.type === 'outbound-rtp' && r.kind === 'video')
  .reduce((n, r) => n + (r.framesSent || 0), 0)
"""
