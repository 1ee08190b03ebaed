"""``Inspector``: a live panel that shows what one connection is doing, both sides.

``nbrtc.Inspector(cam)`` (or ``cam.inspect()``) shows, for the widget's newest stream:
the signaling log (each message, each direction, time and size), the offer and answer
with every line explained and their differences marked, both sides' ICE candidates and
selected pair, a timeline of both peers' states, and charts of bitrate, frame rate,
resolution, round trip, jitter, loss, dropped frames and codec time from the browser's
and aiortc's getStats. Its controls call the target's teaching methods (``set_network``,
``set_codec``, ``set_max_bitrate``, ``restart_ice``). For a ``Room`` it shows the members,
their browser-to-browser links, and how little the kernel relays.

Threads: the panel is refreshed every ``interval`` seconds by a timer on the media loop
(trait writes from there reach the browser while a cell runs); control messages arrive
on the kernel's main thread. The Inspector holds its target weakly, so it never keeps a
closed widget alive, and it closes like any nbrtc widget (``close()``, re-running its
cell, kernel shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Protocol, cast

import anywidget
import traitlets

from .._bundle import css, esm
from .._checks import is_one_of
from .._signaling.manager import manager
from .._upstream import route_comm_by_header
from .._version import __version__
from .._widgets.base import SignalingWidget, WidgetPort, port_of
from .._widgets.bundle_traits import BundleTraits
from .._widgets.kernel_owned import KernelOwnedTraits
from .._widgets.own_layout import close_own_layout, own_layout

if TYPE_CHECKING:
    from .._signaling.stream import KernelStream

log = logging.getLogger("nbrtc")

MAX_LOG_ROWS = 400
#: timeline lanes, in display order
_LANES = (
    ("browser", "signaling"),
    ("browser", "gathering"),
    ("browser", "ice"),
    ("browser", "connection"),
    ("kernel", "stream"),
    ("kernel", "signaling"),
    ("kernel", "gathering"),
    ("kernel", "ice"),
    ("kernel", "connection"),
)
_CONTROL_ACTIONS = frozenset(
    {"set_network", "clear_network", "set_codec", "set_max_bitrate", "restart_ice"}
)


class _Inspected(Protocol):
    """What the Inspector reads of a peer widget's port (``StreamPort``): it cannot name
    that class (stream_widget.py imports the teaching controls, which make Inspectors)."""

    @property
    def kind(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def newest_stream(self) -> KernelStream | None: ...

    def live_streams(self) -> list[KernelStream]: ...


class _InspectedRoom(Protocol):
    """What the Inspector reads of a Room's port (``room.RoomPort``)."""

    def inspect_data(self) -> dict[str, Any]: ...


class Inspector(KernelOwnedTraits, BundleTraits, anywidget.AnyWidget):
    """A live view inside one widget's connection (see the module docstring).

    ``target``: a Camera, ScreenShare, Microphone, VideoView, AudioView or Room.
    ``interval``: seconds between refreshes (0.2 to 10).
    """

    _esm = esm("inspector.js")
    _css = css("inspector.css")
    _bundle_name = "inspector.js"
    _version = traitlets.Unicode(__version__).tag(sync=True)
    title = traitlets.Unicode("", help="What is inspected, in a line.").tag(sync=True)
    status = traitlets.Dict(help="Both sides' states and the transport, now.").tag(sync=True)
    log: traitlets.List[Any] = traitlets.List(
        help="The signaling timeline (the Signaling tab): one row per message or event."
    ).tag(sync=True)
    sdp = traitlets.Dict(help="Offer and answer, annotated line by line (the SDP tab).").tag(
        sync=True
    )
    candidates = traitlets.Dict(
        help="Both sides' ICE candidates and pairs, the selected one marked (the ICE tab)."
    ).tag(sync=True)
    timeline = traitlets.Dict(help="Both peers' state changes over time (the States tab).").tag(
        sync=True
    )
    charts: traitlets.List[Any] = traitlets.List(
        help="Per-second rows from both sides' getStats (the Charts tab)."
    ).tag(sync=True)
    controls = traitlets.Dict(
        help="What the Controls tab shows: network impairment, codec, bitrate cap."
    ).tag(sync=True)
    room = traitlets.Dict(
        allow_none=True, default_value=None, help="A Room's members and links (the Room tab)."
    ).tag(sync=True)
    error = traitlets.Unicode("", help="Why inspection failed, in words; '' when it did not.").tag(
        sync=True
    )

    def __init__(self, target: Any, *, interval: float = 1.0, **kwargs: Any) -> None:
        port = port_of(target) if isinstance(target, SignalingWidget) else None
        # a Room's port (kind "room") has inspect_data(); a peer widget's, stream_owner
        is_room = port is not None and port.kind == "room"
        if not is_room and (port is None or port.stream_owner is None):
            raise TypeError(
                "target must be an nbrtc widget with a connection (Camera, ScreenShare, "
                f"Microphone, VideoView, AudioView) or a Room, got {type(target).__name__}"
            )
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number of seconds, got {interval!r}")
        if not 0.2 <= interval <= 10:
            raise ValueError(f"interval must be between 0.2 and 10 seconds, got {interval!r}")
        if port is not None and port.closed:
            raise ValueError(f"{type(target).__name__} is closed: there is nothing to inspect")
        self._closed = False
        self._closed_by_shutdown = False
        self._cell_id: str | None = None
        self._target = weakref.ref(target)
        self._is_room = is_room
        self._interval = float(interval)
        self._lock = threading.Lock()
        self._handle: Any = None
        self._stream_id: str | None = None
        self._sdp_key: tuple[str, int] | None = None
        super().__init__(**kwargs)
        self._own_layout = own_layout(self, kwargs)
        self._manager = manager()
        self._port = WidgetPort(self)
        self._manager.register(self._port)  # re-running the cell closes it, like any widget
        self.on_msg(self._on_control)
        route_comm_by_header(self.comm)
        self.refresh()
        self._manager.media.call_soon(self._tick)

    # --- refresh (media loop timer; refresh() itself is safe from any thread) -------------
    def _tick(self) -> None:
        if self._closed:
            return
        self.refresh()
        if not self._closed:
            ref = weakref.ref(self)
            self._handle = self._manager.media.loop.call_later(self._interval, _tick_ref, ref)

    def refresh(self) -> None:
        """Recompute every panel from the target now (any thread; cheap when unchanged)."""
        with self._lock:
            try:
                self._refresh()
            except Exception as exc:  # a panel must never break the stream or the timer
                log.warning("Inspector refresh failed: %s", exc, exc_info=True)
                self.error = f"inspector: {exc}"

    def _refresh(self) -> None:
        target = self._target()
        if target is None:
            self._set(status={"state": "closed", "detail": "the widget is gone", "kind": ""})
            return
        if self._is_room:
            self._refresh_room(target, cast(_InspectedRoom, port_of(target)))
            return
        # a peer widget's port (checked at construction); typed by what is used here
        port = cast(_Inspected, port_of(target).stream_owner)
        stream = port.newest_stream()
        kind = port.kind
        if stream is None:
            self._set(
                title=f"{type(target).__name__} {target.model_id[:8]}: no stream yet",
                status={
                    "state": "closed" if port.closed else "no-stream",
                    "detail": "display the widget to start a stream",
                    "kind": kind,
                },
                controls=self._controls(target, port),
            )
            return
        if stream.id != self._stream_id:  # a new view connected: start afresh
            self._stream_id = stream.id
            self._sdp_key = None
        events = stream.history.events()  # one copy serves the log and the timeline
        changes: dict[str, Any] = {
            "title": f"{type(target).__name__} {target.model_id[:8]} · stream {stream.id}",
            "status": {
                "state": stream.state,
                "detail": str(stream.error) if stream.error else "",
                "kind": kind,
                # how the media travels: "direct", "relay" or "comm" ("" before)
                "transport": stream.transport,
            },
            "log": _log_rows(events),
            "timeline": _timeline(events),
            "charts": stream.stats.chart_data(120),
            "candidates": _candidates(stream),
            "controls": self._controls(target, port),
        }
        # the newest round's number, not the count: the list is bounded (MAX_SDP_ROUNDS)
        key = (stream.id, stream.sdp_rounds[-1]["round"] if stream.sdp_rounds else -1)
        if key != self._sdp_key and stream.sdp_rounds:
            changes["sdp"] = _sdp_panel(stream.sdp_rounds)
            self._sdp_key = key
        self._set(**changes)

    def _refresh_room(self, room: Any, port: _InspectedRoom) -> None:
        data = port.inspect_data()
        rows = [_event_row(e) for e in room.history()]
        self._set(
            title=f"Room {data.get('name', '')!s} · {len(data.get('members') or [])} members",
            status={
                "state": room.state,
                "detail": room.error,
                "kind": "room",
            },
            room=data,
            log=[r for r in rows if r is not None][-MAX_LOG_ROWS:],
            controls={"enabled": False, "codecs": [], "can_restart_ice": False, "network": {}},
        )

    def _controls(self, target: Any, port: _Inspected) -> dict[str, Any]:
        live = [s for s in port.live_streams() if "answer" in s.timings]
        return {
            "network": target.network,
            "codec": target.codec or "",
            "max_bitrate": target.max_bitrate,
            "codecs": ["VP8", "H264"],
            "can_restart_ice": bool(live),
            "enabled": not port.closed,
        }

    def _set(self, **values: Any) -> None:
        """Write only the traits that changed (each write is a comm message)."""
        with self.hold_sync():
            for name, value in values.items():
                if getattr(self, name) != value:
                    setattr(self, name, value)

    # --- controls (kernel main thread) -----------------------------------------------------
    def _on_control(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """A control request from the panel. Never raises: errors go to ``error``."""
        if self._bundle_message(content):
            return
        try:
            if not isinstance(content, dict) or content.get("type") != "control":
                return
            action = content.get("action")
            args = content.get("args") or {}
            if not is_one_of(action, _CONTROL_ACTIONS):
                self.error = f"unknown control {action!r}"
                return
            if not isinstance(args, dict):
                self.error = f"control {action!r}: args must be an object"
                return
            target = self._target()
            if target is None or self._is_room:
                self.error = "this target has no controls"
                return
            if action == "set_network":
                allowed = {"loss", "delay_ms", "rate_kbps", "jitter_ms", "direction"}
                target.set_network(**{k: v for k, v in args.items() if k in allowed})
            elif action == "clear_network":
                target.clear_network()
            elif action == "set_codec":
                target.set_codec(args.get("codec") or None)
            elif action == "set_max_bitrate":
                target.set_max_bitrate(args.get("bps"))
            else:
                target.restart_ice()
            self.error = ""
        except Exception as exc:  # bad input from the panel: say what was wrong
            self.error = str(exc)
        self.refresh()

    # --- lifecycle ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        target = self._target()
        what = "a closed widget" if target is None else repr(target)
        state = "closed" if self._closed else "open"
        return f"<nbrtc.Inspector of {what} ({state}, every {self._interval:g} s)>"

    def close(self) -> None:
        """Stop refreshing and remove the panel (idempotent, any thread)."""
        if self._closed:
            return
        self._closed = True
        handle, self._handle = self._handle, None
        if handle is not None and self._manager.media.running():
            self._manager.media.call_soon(handle.cancel)
        try:
            super().close()
        except Exception:
            log.debug("inspector comm close failed", exc_info=True)
        close_own_layout(self, getattr(self, "_own_layout", None))

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tick_ref(ref: weakref.ref[Inspector]) -> None:
    inspector = ref()
    if inspector is not None:
        inspector._tick()


def _event_row(event: dict[str, Any]) -> dict[str, Any] | None:
    """A history event as a signaling-log row (messages, actions and notes)."""
    kind = event.get("event")
    if kind == "message":
        return {
            "t": event["rel"],
            "dir": event["dir"],
            "type": event["type"],
            "size": event["size"],
            "summary": event["summary"],
        }
    if kind == "action":
        args = ", ".join(f"{k}={v!r}" for k, v in event.get("args", {}).items())
        return {
            "t": event["rel"],
            "dir": "note",
            "type": "action",
            "size": 0,
            "summary": f"{event['action']}({args})"
            + (f": {event['result']}" if event.get("result") else ""),
        }
    if kind == "note":
        return {
            "t": event["rel"],
            "dir": "note",
            "type": "note",
            "size": 0,
            "summary": event["summary"],
        }
    return None


def _log_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for r in (_event_row(e) for e in events) if r is not None]
    return rows[-MAX_LOG_ROWS:]


def _timeline(events: list[dict[str, Any]]) -> dict[str, Any]:
    lanes: dict[tuple[str, str], list[dict[str, Any]]] = {lane: [] for lane in _LANES}
    for event in events:
        if event.get("event") != "state":
            continue
        lane = (event["side"], event["what"])
        if lane in lanes:
            lanes[lane].append({"t": event["rel"], "state": event["state"]})
    now = events[-1]["rel"] if events else 0.0
    if events:  # "now" is the stream's age, not the last event's time
        now = max(now, time.time() - (events[-1]["t"] - events[-1]["rel"]))
    return {
        "t0": 0,
        "now": round(now, 3),
        "rows": [
            {"side": side, "what": what, "events": lanes[(side, what)]}
            for side, what in _LANES
            if lanes[(side, what)]
        ],
    }


def _sdp_panel(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    from . import sdp as _sdp

    newest = rounds[-1]
    offer, answer = newest["offer"], newest["answer"]
    diff = _sdp.diff(offer, answer)
    panel: dict[str, Any] = {
        "round": len(rounds) - 1,
        "reason": newest["reason"],
        # who offered: the browser, or the kernel (nbrtc.config.kernel_offer)
        "offerer": "kernel" if newest.get("offerer") == "kernel" else "browser",
    }
    for side, text in (("offer", offer), ("answer", answer)):
        lines = _sdp.annotate(text, side)
        statuses = diff.get(side) or []
        for i, line in enumerate(lines):
            line["status"] = statuses[i] if i < len(statuses) else "same"
        panel[side] = {"lines": lines}
    panel["summary"] = list(diff.get("summary") or [])
    return panel


def _browser_candidates(reports: list[dict[str, Any]] | None) -> tuple[list, dict | None]:
    """Candidates and the selected pair from the browser's newest stats sample."""
    if not reports:
        return [], None
    by_id = {r.get("id"): r for r in reports}
    cands = [
        _cand(r, r["type"].split("-")[0])
        for r in reports
        if r.get("type") in ("local-candidate", "remote-candidate")
    ]
    pair = None
    for r in reports:
        if r.get("type") == "transport" and r.get("selectedCandidatePairId") in by_id:
            pair = by_id[r["selectedCandidatePairId"]]
            break
    if pair is None:
        for r in reports:
            if (
                r.get("type") == "candidate-pair"
                and r.get("nominated")
                and r.get("state") == "succeeded"
            ):
                pair = r
                break
    selected = None
    if pair is not None:
        local, remote = (
            by_id.get(pair.get("localCandidateId")),
            by_id.get(pair.get("remoteCandidateId")),
        )
        rtt = pair.get("currentRoundTripTime")
        selected = {
            "local": _cand(local, "local") if local else None,
            "remote": _cand(remote, "remote") if remote else None,
            "state": pair.get("state"),
            "rtt_ms": round(rtt * 1000, 1) if isinstance(rtt, (int, float)) else None,
            "bytes_sent": pair.get("bytesSent"),
            "bytes_received": pair.get("bytesReceived"),
        }
    return cands, selected


def _cand(r: dict[str, Any], side: str) -> dict[str, Any]:
    return {
        "id": r.get("id"),
        "side": side,
        "type": r.get("candidateType"),
        "protocol": r.get("protocol"),
        "address": r.get("address") or r.get("ip"),
        "port": r.get("port"),
        "priority": r.get("priority"),
        "related_address": r.get("relatedAddress"),
        "related_port": r.get("relatedPort"),
    }


def _candidates(stream: Any) -> dict[str, Any]:
    browser, browser_sel = _browser_candidates(stream.stats.latest("browser"))
    kernel = stream.kernel_candidates()
    kernel_list = [_cand(c, "local") for c in kernel["local"]] + [
        _cand(c, "remote") for c in kernel["remote"]
    ]
    kernel_sel = None
    if kernel["selected"] is not None:
        kernel_sel = {
            "local": _cand(kernel["selected"]["local"], "local"),
            "remote": _cand(kernel["selected"]["remote"], "remote"),
            "state": "succeeded",
            "rtt_ms": None,
            "bytes_sent": None,
            "bytes_received": None,
        }
    return {
        "browser": browser,
        "kernel": kernel_list,
        "selected": {"browser": browser_sel, "kernel": kernel_sel},
    }
