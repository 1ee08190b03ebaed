"""``ConnectionMethods``: look inside a widget's connection and change it, live.

Mixed into every peer-backed widget (Camera, ScreenShare, Microphone, VideoView,
AudioView). What it offers a learner or an engineer:

- ``stats()``, ``stats_log()``: both sides' getStats, newest and as a per-second series;
- ``history()``: every signaling message and state change of both sides, time-stamped;
- ``sdp``: the offer and answer, parsed and annotated;
- ``set_network()``, ``set_codec()``, ``set_max_bitrate()``, ``restart_ice()``: teaching
  controls, each logged in the history;
- ``inspect()``: the Inspector widget for this connection.

Threads: every public method runs on the caller's thread and never blocks on the
browser. Controls validate their arguments at once (ValueError naming the argument), then
hand the change to the media loop; a renegotiation happens when the browser's reoffer
arrives, i.e. after the current cell ends (the comm delivers it then).
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any

from .._signaling import renegotiate as _renegotiate
from ..errors import NbrtcError, NotDisplayedError
from .history import History

if TYPE_CHECKING:
    from .._signaling.stream import KernelStream
    from . import sdp as _sdp
    from .netem import NetworkConditions


def _sdp_module() -> Any:
    from . import sdp as module  # imported on use: parsing is needed only when asked

    return module


#: closed streams whose history and stats a widget keeps (for a lesson's "what happened")
KEEP_STREAMS = 8


class SDPView:
    """The offer and answer of one stream, parsed (``cam.sdp``).

    From the kernel's point of view: ``local`` is the kernel's SDP (its answer as the
    browser received it, or its own offer with ``nbrtc.config.kernel_offer``), ``remote``
    the browser's; ``offer`` and ``answer`` are whichever side made them (``offerer``).
    ``rounds`` has every renegotiation.
    """

    def __init__(self, stream: KernelStream) -> None:
        self.stream_id = stream.id
        self._rounds = [dict(r) for r in stream.sdp_rounds]
        if not self._rounds:
            raise NotDisplayedError(
                "this stream has not been negotiated yet (no answer sent): call again "
                "once the widget is connecting or live"
            )

    @property
    def offerer(self) -> str:
        """Who made the newest offer: "browser", or "kernel" (``config.kernel_offer``)."""
        return "kernel" if self._rounds[-1].get("offerer") == "kernel" else "browser"

    @property
    def remote(self) -> _sdp.ParsedSDP:
        """The browser's newest SDP (its offer, or its answer to the kernel's offer)."""
        side = "answer" if self.offerer == "kernel" else "offer"
        return _sdp_module().parse(_renegotiate.page_sdp(self._rounds[-1]), side)

    @property
    def local(self) -> _sdp.ParsedSDP:
        """The kernel's newest SDP (its answer, or its own offer)."""
        side = "offer" if self.offerer == "kernel" else "answer"
        return _sdp_module().parse(_renegotiate.kernel_sdp(self._rounds[-1]), side)

    @property
    def offer(self) -> _sdp.ParsedSDP:
        """The newest offer, whoever made it."""
        return _sdp_module().parse(self._rounds[-1]["offer"], "offer")

    @property
    def answer(self) -> _sdp.ParsedSDP:
        """The newest answer, whoever made it."""
        return _sdp_module().parse(self._rounds[-1]["answer"], "answer")

    @property
    def rounds(self) -> list[dict[str, Any]]:
        """Every offer/answer exchange: round, reason, offer and answer (ParsedSDP), t."""
        return [
            {
                "round": r["round"],
                "reason": r["reason"],
                "t": r["t"],
                "offerer": r.get("offerer", "browser"),
                "offer": _sdp_module().parse(r["offer"], "offer"),
                "answer": _sdp_module().parse(r["answer"], "answer"),
            }
            for r in self._rounds
        ]

    def annotate(self, side: str = "offer") -> list[dict[str, Any]]:
        """Every line of the newest offer (or answer) explained in plain words."""
        if side not in ("offer", "answer"):
            raise ValueError(f"side must be 'offer' or 'answer', got {side!r}")
        return _sdp_module().annotate(self._rounds[-1][side], side)

    def diff(self) -> dict[str, Any]:
        """What the answer kept, changed or dropped of the offer (see ``_sdp.diff``)."""
        return _sdp_module().diff(self._rounds[-1]["offer"], self._rounds[-1]["answer"])

    def __repr__(self) -> str:
        return (
            f"<SDPView stream {self.stream_id}: {len(self._rounds)} round(s); "
            f"remote={self.remote!r} local={self.local!r}>"
        )


class ConnectionMethods:
    """Inspection and teaching controls (see the module docstring)."""

    _kind: str
    _closed: bool
    _last_stream: KernelStream | None
    _streams: dict[str, KernelStream]
    _stream_lock: threading.RLock
    _manager: Any

    def _init_teaching(self) -> None:
        self._codec_pref: str | None = None
        self._max_bitrate: int | None = None
        self._network: NetworkConditions | None = None
        self._past_streams: collections.deque[KernelStream] = collections.deque(maxlen=KEEP_STREAMS)
        self._widget_history = History("-")

    def _teaching_prefs(self) -> dict[str, Any]:
        """What a new (or renegotiating) stream applies: codec, max_bitrate, network."""
        return {
            "codec": self._codec_pref,
            "max_bitrate": self._max_bitrate,
            "network": self._network,
        }

    def _remember_stream(self, stream: KernelStream) -> None:
        """Keep a closed stream's history and stats for a while (media loop)."""
        self._past_streams.append(stream)

    def _live_streams(self) -> list[KernelStream]:
        with self._stream_lock:
            return [s for s in self._streams.values() if not s.closed]

    def _no_kernel_peer(self) -> str | None:
        """Why this widget's streams have no kernel peer to measure or change, or None
        (they have one). A VideoView of a ``Broadcast`` says why: its pages receive the
        video from Janus. Any thread."""
        return None

    def _need_kernel_peer(self, call: str) -> None:
        """Raise ``NbrtcError`` in words when ``call`` has no kernel peer to act on."""
        why = self._no_kernel_peer()
        if why is not None:
            raise NbrtcError(f"{type(self).__name__}.{call}: {why}")

    def _inspected_stream(self) -> KernelStream:
        """The newest stream (live, else the newest closed one), for stats and sdp."""
        stream = self._last_stream or (self._past_streams[-1] if self._past_streams else None)
        if stream is None:
            name = type(self).__name__
            raise NotDisplayedError(
                f"{name} has no stream yet: display it, then ask again from the next cell "
                "(the browser's offer arrives once this cell has finished)"
            )
        return stream

    # --- looking inside --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The newest getStats of both sides, as plain data.

        ``{"stream", "t", "browser": [reports], "kernel": [reports], "summary": {"browser":
        row, "kernel": row}}``; reports are flat dicts (``id``, ``type`` and scalar fields,
        the browser's names); ``summary`` rows are what ``stats_log()`` returns per second.
        Both sides sample once a second (``nbrtc.config.stats_interval``) while someone
        reads the stats and for 30 s after; a stream nobody read for longer samples every
        5 s (``stats_idle_interval``), and a call brings it back to once a second within
        two seconds. So a stream younger than a second has ``None``, and after a long
        pause the newest sample may be up to 5 s old (its ``t`` says when).
        """
        self._need_kernel_peer("stats()")
        stream = self._inspected_stream()
        rows = stream.stats.rows()
        summary: dict[str, Any] = {"browser": None, "kernel": None}
        for row in rows:
            summary[row["side"]] = row
        return {
            "stream": stream.id,
            "t": rows[-1]["t"] if rows else None,
            "browser": stream.stats.latest("browser"),
            "kernel": stream.stats.latest("kernel"),
            "summary": summary,
        }

    def stats_log(self) -> list[dict[str, Any]]:
        """One row per side per second (bitrate, fps, resolution, rtt, jitter, loss,
        frames dropped, decode/encode time, codec...) for the newest stream; put it in a
        DataFrame: ``pandas.DataFrame(cam.stats_log())``. Rows from a time nobody read
        the stats are 5 s apart (their rates are 5 s averages; see ``stats()``)."""
        self._need_kernel_peer("stats_log()")
        return self._inspected_stream().stats.rows()

    def history(self, chatter: bool = False) -> list[dict[str, Any]]:
        """Every signaling message (both directions, with size), state change (both
        sides: stream, signaling, gathering, ice, connection) and teaching action of this
        widget's streams, oldest first. ``chatter=True`` adds the newest pings and stats
        messages (kept in a short ring of their own)."""
        with self._stream_lock:
            streams = list(self._past_streams) + [
                s for s in self._streams.values() if s not in self._past_streams
            ]
        events = self._widget_history.events()
        for stream in streams:
            events.extend(stream.history.events(chatter))
        events.sort(key=lambda e: e["t"])
        return events

    @property
    def sdp(self) -> SDPView:
        """The newest stream's offer and answer, parsed (``.remote`` = the browser's SDP,
        ``.local`` = the kernel's, ``.offerer`` = who offered; ``.annotate()``,
        ``.diff()``)."""
        self._need_kernel_peer("sdp")
        return SDPView(self._inspected_stream())

    def inspect(self, **kwargs: Any) -> Any:
        """An Inspector widget for this connection (display it beside the stream)."""
        self._need_kernel_peer("inspect()")
        from .inspector import Inspector

        return Inspector(self, **kwargs)

    # --- teaching controls -----------------------------------------------------------------
    @property
    def network(self) -> dict[str, Any]:
        """The impairment applied to this widget's streams (see ``set_network``)."""
        return self._network.to_dict() if self._network is not None else {}

    def set_network(
        self,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        rate_kbps: float | None = None,
        *,
        jitter_ms: float = 0.0,
        direction: str = "both",
    ) -> None:
        """Impair the kernel side of the connection: drop ``loss`` of the media packets,
        add ``delay_ms`` (+ up to ``jitter_ms``) to every RTP/RTCP packet, and limit the
        rate to ``rate_kbps``. ``direction``: "both", "send" (kernel -> browser) or
        "recv" (browser -> kernel). Applies at once to live streams and to later ones;
        ``set_network()`` with no arguments (or ``clear_network()``) removes it."""
        self._need_kernel_peer("set_network()")
        from .netem import check_conditions

        conditions = check_conditions(
            loss=loss,
            delay_ms=delay_ms,
            rate_kbps=rate_kbps,
            jitter_ms=jitter_ms,
            direction=direction,
        )
        self._network = conditions
        self._log_action("set_network", conditions.to_dict())
        for stream in self._live_streams():
            self._manager.media.call_soon(stream.set_network, conditions)

    def clear_network(self) -> None:
        """Remove any impairment (the network as it really is)."""
        self._need_kernel_peer("clear_network()")
        self.set_network()

    @property
    def codec(self) -> str | None:
        """The preferred video codec (None: aiortc's default order, VP8 first)."""
        return self._codec_pref

    def set_codec(self, codec: str | None) -> None:
        """Prefer ``codec`` ("VP8" or "H264"; None = default) for video.

        A live stream whose browser sends video (camera, screen) renegotiates: the
        kernel's answer keeps only that codec, so the browser switches encoder. A stream
        the kernel encodes (VideoView) keeps its codec until it reconnects (aiortc cannot
        switch a running encoder); the history says so."""
        self._need_kernel_peer("set_codec()")
        name = _renegotiate.check_codec(codec)
        self._codec_pref = name
        self._log_action("set_codec", {"codec": name})
        for stream in self._live_streams():
            if stream.kind in ("camera", "screen"):
                self._manager.media.call_soon(stream.renegotiate, f"set_codec({name or 'default'})")
            else:
                stream.history.note(
                    f"set_codec({name}) applies to this {stream.kind}'s next connection: "
                    "the kernel encodes this video, and aiortc cannot switch a running encoder"
                )

    @property
    def max_bitrate(self) -> int | None:
        """The video bitrate cap in bit/s (None: no cap)."""
        return self._max_bitrate

    def set_max_bitrate(self, bps: int | None) -> None:
        """Cap video at ``bps`` bit/s (None lifts the cap): the renegotiated answer carries
        ``b=AS``/``b=TIAS`` (the browser's encoder obeys them) and the kernel's own video
        encoder is clamped too."""
        self._need_kernel_peer("set_max_bitrate()")
        value = _renegotiate.check_bitrate(bps)
        self._max_bitrate = value
        self._log_action("set_max_bitrate", {"bps": value})
        for stream in self._live_streams():
            self._manager.media.call_soon(
                stream.renegotiate, f"set_max_bitrate({value if value else 'None'})"
            )

    def restart_ice(self) -> None:
        """Restart ICE on every live stream: the browser gathers new candidates with new
        credentials, the kernel answers with new credentials too, and the media moves to
        the newly selected pair without a gap (DTLS and the stream stay up)."""
        self._need_kernel_peer("restart_ice()")
        live = [s for s in self._live_streams() if "answer" in s.timings]
        if not live:
            raise NotDisplayedError(
                f"{type(self).__name__} has no negotiated stream to restart: display it and "
                "wait until it is live"
            )
        self._log_action("restart_ice", {})
        for stream in live:
            self._manager.media.call_soon(stream.renegotiate, "restart_ice()", True)

    def _log_action(self, action: str, args: dict[str, Any]) -> None:
        live = self._live_streams()
        for stream in live:
            stream.history.action(action, args)
        if not live:
            self._widget_history.action(action, args, "no live stream: applies to the next")
