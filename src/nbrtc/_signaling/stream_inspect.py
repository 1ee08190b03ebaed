"""A kernel stream's inspection part (``InspectMixin``, a part of ``KernelStream``): both
peers' states for the history, the browser's and the kernel's stats samples, and the
kernel's candidates. Media loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiortc import RTCPeerConnection

from ..errors import StreamError
from . import renegotiate as _renegotiate
from .stream_core import StreamCore

log = logging.getLogger("nbrtc")

#: the browser's state message fields kept (the history and the Inspector use the same names)
_BROWSER_STATE_KEYS = frozenset({"signaling", "gathering", "ice", "connection"})
#: browser stats samples closer together than this are dropped (counted in
#: ``stats_dropped``): the page samples once a second; a flood must not cost the media loop
MIN_BROWSER_STATS_GAP = 0.2


class InspectMixin(StreamCore):
    """States, stats and candidates of one stream, for the history and the Inspector."""

    def _watch_pc_states(self, pc: RTCPeerConnection) -> None:
        """Record the kernel peer's four RTCPeerConnection states in the history."""
        for event, what, attr in (
            ("signalingstatechange", "signaling", "signalingState"),
            ("icegatheringstatechange", "gathering", "iceGatheringState"),
            ("iceconnectionstatechange", "ice", "iceConnectionState"),
            ("connectionstatechange", "connection", "connectionState"),
        ):

            def record(what: str = what, attr: str = attr) -> None:
                value = str(getattr(pc, attr, ""))
                if self._kernel_pc_states.get(what) != value:
                    self._kernel_pc_states[what] = value
                    self.history.state("kernel", what, value)

            pc.on(event, record)
            record()

    def browser_state(self, payload: dict[str, Any]) -> None:
        """The browser peer's states changed (media loop). Only the four known fields are
        kept: the page chooses the keys, and ``browser`` must not grow with them."""
        for key, value in payload.items():
            if key not in _BROWSER_STATE_KEYS:
                continue
            value = str(value)
            if self.browser.get(key) != value:
                self.history.state("browser", key, value)
            self.browser[key] = value
        widget = self.owner
        if (
            self.browser.get("gathering") == "complete"
            and self._candidates_taken == 0
            and widget is not None
            and widget.ice_policy == "relay"
            and not self.closed
            and "live" not in self.timings
        ):
            # the page gathered and has nothing to offer: ICE cannot start (do not wait
            # 15 s for the ICE watchdog to say something vaguer)
            why = f": {'; '.join(self.turn_errors)}" if self.turn_errors else ""
            words = (
                "The browser has no relay candidate (ice_transport_policy='relay'), "
                f"so ICE cannot start{why or ': its TURN server gave it no allocation'}."
            )
            if not self._comm_takes_over(words):
                self.spawn(self.fail(StreamError(words)))
        self.reconnect.browser_states(self.browser)

    def browser_stats(self, payload: dict[str, Any]) -> None:
        """The browser's getStats sample (media loop); a sample that comes sooner than
        MIN_BROWSER_STATS_GAP after the previous one is dropped and counted. Its
        unchanged reports come by id (``same``): they are carried over first, so a
        dropped sample's reports still count for the next one's."""
        reports = self._browser_reports.take(payload)
        now = time.monotonic()
        if now - self._last_browser_stats < MIN_BROWSER_STATS_GAP:
            self.stats_dropped += 1
            return
        self._last_browser_stats = now
        self.stats.add("browser", time.time(), reports)

    async def _stats_loop(self, interval: float, idle: float) -> None:
        """Sample the kernel peer's stats every ``interval`` seconds while someone reads
        them (``StatsSeries.read_within(READ_HOLD)``), else every ``idle`` seconds, and
        tell the widget when that changes, so that the page keeps the same pace (media
        loop). The loop ticks every ``interval`` either way: a read takes effect within
        one tick, and the bitrate cap is applied to an encoder made since the last one."""
        from .._inspection.stats import READ_HOLD, flatten_aiortc

        sampled = -math.inf  # when the last sample was taken (time.monotonic())
        while not self.closed:
            read = self.stats.read_within(READ_HOLD)
            if read != self.stats_read:
                self.stats_read = read
                widget = self.owner
                if widget is not None:
                    widget.stats_read(self, read)  # type: ignore[arg-type]  # a KernelStream
            # half a tick of slack: a tick that comes a little early must not wait another
            due = read or time.monotonic() - sampled >= idle - interval / 2
            pc = self._pc
            if pc is not None and pc.connectionState == "connected":
                # the kernel's encoder exists only from its first frame on
                _renegotiate.cap_sender_bitrate(pc, self.max_bitrate)
                if due:
                    try:
                        report = await pc.getStats()
                    except Exception as exc:  # a closing transport: try again next tick
                        log.debug("stream %s: getStats: %s", self.id, exc)
                    else:
                        sampled = time.monotonic()
                        extra = self._kernel_extra_stats(pc)
                        reports = flatten_aiortc(report)
                        _renegotiate.fix_inbound_reports(pc, reports)
                        self._add_frame_counts(reports)
                        self.stats.add("kernel", time.time(), reports + extra + self.comm_stats())
            elif self.transport == "comm" and due:
                sampled = time.monotonic()
                self.stats.add("kernel", time.time(), self.comm_stats())
            await asyncio.sleep(interval)

    def _add_frame_counts(self, reports: list[dict[str, Any]]) -> None:
        """aiortc's inbound-rtp has no frame counters: add ours (decoded frames handed to
        the widget, their size), under the browser's names, so fps_in is computed alike."""
        for r in reports:
            if r.get("type") == "inbound-rtp" and r.get("kind") == "video":
                r["framesDecoded"] = self.frames
                if self.frame_size is not None:
                    r["frameWidth"], r["frameHeight"] = self.frame_size

    def _kernel_extra_stats(self, pc: RTCPeerConnection) -> list[dict[str, Any]]:
        """What aiortc's getStats lacks, in the browser's report shape: the selected
        candidate pair and frames received per second (from our own counters)."""
        out = _renegotiate.selected_pair_reports(pc)
        out.append(
            {
                "id": "nbrtc-frames",
                "type": "nbrtc-frames",
                "framesReceived": self.frames,
                "audioFramesReceived": self.audio_frames,
            }
        )
        if self.impairment is not None:
            net = self.impairment.stats()
            row: dict[str, Any] = {"id": "nbrtc-netem", "type": "nbrtc-netem"}
            for direction in ("send", "recv"):
                for key, value in (net.get(direction) or {}).items():
                    if isinstance(value, (int, float)):
                        row[f"{direction}_{key}"] = value
            out.append(row)
        return out

    def kernel_candidates(self) -> dict[str, Any]:
        """The kernel peer's local and remote ICE candidates and its selected pair."""
        return _renegotiate.kernel_candidates(self._pc)
