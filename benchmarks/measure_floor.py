"""The floor's figures: the same measurements as ``measure_nbrtc`` on a bare aiortc peer.

The floor page (``floor/page.html``) runs in the same browser context as the notebook,
with the same canvas camera and flags; its peer is ``floor/server.py`` (own process).

* TTFF Python: page clock from ``start()`` being called (the page is already loaded) to
  the server's first received frame (``time.time()``, converted to the page clock with
  :func:`_stack.clock_base`).
* TTFF Python from page load (issue 14's floor for the first frame): a new page opened
  at ``/?auto=ID`` starts a 640x480 receive session as its script runs; from the
  navigation's start (``performance.timeOrigin``: page clock 0) to the server's first
  received frame.
* Its split: offer taken -> answer made (the server's ``answer_epoch``), and answer made
  -> first frame (the page applies the answer, ICE, DTLS, the first frame decoded).
* TTFF browser: page clock from ``start()`` to the first ``requestVideoFrameCallback``
  of a receive-only session showing the server's 640x480 pattern.
* Delivery: frames the server received per second vs ``framesSent`` per second.
* Rendered: frames the page presented per second (``getVideoPlaybackQuality``) of the
  server's pattern.
* Latency: one-way = server receive time minus the frame's page stamp (clock offset
  applied); round trip = the echoed frame's stamp decoded in the page when presented.
* Cost: server process CPU s/s and RSS with N receive sessions at 320x240.
* Processing: one 640x480 echo session without stamp decoding on the server: server CPU
  s/s (minus idle), echoed frames presented per s and the round trip (both in the page).
  The echo returns every frame it decodes: it skips none by construction.
"""

from __future__ import annotations

import itertools
from typing import Any

from benchmarks import _js
from benchmarks._common import (
    TTFF_POLL,
    cost_windows,
    echo_window,
    latency_stats,
    rate_windows,
)
from benchmarks._lab import harness as h
from benchmarks._stack import Stack, clock_base, cpu_rate
from benchmarks._stamp import one_way_ms

_ids = itertools.count()


class Floor:
    """The floor page and helpers to start, read and stop its sessions."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.page = stack.new_page()
        self.page.goto(stack.floor_url, wait_until="load")
        self.base, self.base_err = clock_base(self.page)
        self.pid = stack.floor_proc.pid

    def start(
        self, mode: str, w: int = 640, h_: int = 480, stamps: bool = False
    ) -> tuple[str, float]:
        sid = f"s{next(_ids)}"
        t0 = self.page.evaluate(
            "(o) => start(o)", {"id": sid, "mode": mode, "w": w, "h": h_, "stamps": stamps}
        )
        return sid, t0

    def result(self, sid: str) -> dict[str, Any]:
        return self.stack.floor_get(f"result?id={sid}")

    def stop(self, sid: str) -> None:
        self.page.evaluate("(id) => stop(id)", sid)

    def video(self, sid: str) -> Any:
        return self.page.locator(f"#v-{sid}")

    def sent(self) -> int:
        return self.page.evaluate(_js.SENT_FRAMES_JS)

    def _aligned(self, sids: list[str]) -> tuple[float, float]:
        """(frames the server received, framesSent averaged just before and after)."""
        s0 = self.sent()
        got = sum(self.result(s)["frames"] for s in sids)
        return got, (s0 + self.sent()) / 2

    def wait_frames(
        self, sid: str, n: int = 1, timeout: float = 20, interval: float = 0.05
    ) -> None:
        h.wait_for(
            lambda: self.result(sid)["frames"] >= n,
            timeout,
            interval=interval,
            message=f"floor {sid} frames",
        )

    # ------------------------------------------------------------------ measurements
    def ttff(self) -> dict[str, float | None]:
        """One repetition: TTFF to Python (recv) and to the page (view), seconds."""
        out: dict[str, Any] = {"python": None, "browser": None}
        sid, t0 = self.start("recv")
        try:
            self.wait_frames(sid, interval=TTFF_POLL)
            r = self.result(sid)
            out["python"] = (r["first_frame_epoch"] * 1000 - self.base - t0) / 1000
            out["offer_at"] = (r["created_epoch"] * 1000 - self.base - t0) / 1000
            out["offer_to_answer"] = r["answer_epoch"] - r["created_epoch"]
            out["answer_to_frame"] = r["first_frame_epoch"] - r["answer_epoch"]
        finally:
            self.stop(sid)
        out.update(self.ttff_load())
        sid, t0 = self.start("view")
        try:
            h.wait_for(
                lambda: self.page.evaluate(f"window.sessions['{sid}'].firstFrameAt"),
                20,
                message="floor view frame",
            )
            out["browser"] = (
                self.page.evaluate(f"window.sessions['{sid}'].firstFrameAt") - t0
            ) / 1000
        finally:
            self.stop(sid)
        return out

    def ttff_load(self) -> dict[str, float | None]:
        """One repetition: a fresh page's load -> the server's first frame, seconds."""
        sid = f"s{next(_ids)}"
        page = self.stack.new_page()
        try:
            page.goto(f"{self.stack.floor_url}?auto={sid}", wait_until="load")
            base, _err = clock_base(page)  # epoch ms at the page's time origin
            h.wait_for(
                lambda: sid in self.stack.floor_get("sessions")["open"],
                20,
                interval=TTFF_POLL,
                message="floor page sent its offer",
            )
            self.wait_frames(sid, interval=TTFF_POLL)
            r = self.result(sid)
            return {"python_load": (r["first_frame_epoch"] * 1000 - base) / 1000}
        finally:
            page.evaluate("(id) => stop(id)", sid)
            page.close()

    def delivery(self, w: int, h_: int, windows: int, seconds: float, warm: float) -> list[dict]:
        """Frames received by the server per s vs frames sent per s, ``windows`` times."""
        sid, _ = self.start("recv", w, h_)
        try:
            self.wait_frames(sid)
            h.sample_for(lambda: None, warm, 0.25)  # ramp-up excluded on purpose
            return rate_windows(lambda: self._aligned([sid]), windows, seconds)
        finally:
            self.stop(sid)

    def rendered(self, w: int, h_: int, windows: int, seconds: float, warm: float) -> list[dict]:
        """Frames the page presented per s of the server's ``w x h`` pattern."""
        sid, _ = self.start("view", w, h_)
        try:
            v = self.video(sid)
            h.wait_for(
                lambda: v.evaluate(_js.RENDERED_FRAMES_JS) > 0, 20, message="floor view renders"
            )
            h.sample_for(lambda: None, warm, 0.25)
            return rate_windows(lambda: (v.evaluate(_js.RENDERED_FRAMES_JS), 1.0), windows, seconds)
        finally:
            self.stop(sid)

    def latency(self, windows: int, seconds: float, warm: float) -> list[dict]:
        """Echo session at 640x480: per window, one-way (server) and round trip (page)."""
        sid, _ = self.start("echo", 640, 480, stamps=True)
        try:
            v = self.video(sid)
            h.wait_for(
                lambda: v.evaluate("(v) => v.videoWidth") > 0, 20, message="floor echo shown"
            )
            h.sample_for(lambda: None, warm, 0.25)
            out = []
            for _ in range(windows):
                base, err = clock_base(self.page)
                self.result(sid)  # drop stamps collected before this window
                rt = self.page.evaluate(_js.READ_STAMPS_JS, [v.element_handle(), seconds * 1000])
                stamps = self.result(sid)["stamps"]
                ow = [one_way_ms(t, s, base) for t, s in stamps]
                out.append(
                    {
                        "round_trip": latency_stats(rt),
                        "one_way": latency_stats(ow),
                        "clock_err_ms": err,
                    }
                )
            return out
        finally:
            self.stop(sid)

    def cost(self, n: int, windows: int, seconds: float, warm: float) -> list[dict]:
        """Server CPU s/s and RSS with ``n`` receive sessions at 320x240 (idle first)."""
        idle = cpu_rate(self.pid, min(2.0, seconds))
        sids = [self.start("recv", 320, 240)[0] for _ in range(n)]
        try:
            for sid in sids:
                self.wait_frames(sid)
            h.sample_for(lambda: None, warm, 0.25)
            return cost_windows(
                lambda: self._aligned(sids),
                self.pid,
                n,
                idle,
                windows,
                seconds,
                lambda: self.page.evaluate(_js.PACKETS_SENT_JS),
            )
        finally:
            for sid in sids:
                self.stop(sid)

    def processing(self, seconds: float, warm: float) -> dict[str, Any]:
        """One repetition of the processing row: a fresh 640x480 echo session, warmed up,
        then one window of :func:`_common.echo_window` (server CPU minus its idle rate)."""
        idle = cpu_rate(self.pid, min(2.0, seconds))
        sid, _ = self.start("echo", 640, 480)
        try:
            v = self.video(sid)
            h.wait_for(
                lambda: v.evaluate("(v) => v.videoWidth") > 0, 20, message="floor echo shown"
            )
            h.sample_for(lambda: None, warm, 0.25)  # ramp-up excluded on purpose
            f0 = self.result(sid)["frames"]
            out = echo_window(self.page, v, self.pid, seconds)
            f1 = self.result(sid)["frames"]
            out.update(
                cpu_idle=idle,
                cpu=out["cpu_busy"] - idle,
                received_fps=(f1 - f0) / out["span_s"],
                skipped_per_s=0.0,
                shape=[v.evaluate("(v) => v.videoHeight"), v.evaluate("(v) => v.videoWidth")],
            )
            return out
        finally:
            self.stop(sid)
