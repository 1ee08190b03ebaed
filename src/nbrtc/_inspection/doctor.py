"""``nbrtc.doctor()``: which paths from this page to this kernel work, and what to do.

``d = nbrtc.doctor()`` (or ``cam.doctor()`` for a widget's own ICE servers) returns a
``Doctor`` widget. Displayed, its page probes every path (``_doctor_paths``) with a real
peer connection negotiated through the kernel's router like any stream (kind
``probe``: an offer with only a data channel; the kernel's end is a ``KernelStream``
that the manager owns and tears down like any other), measures the round trip (a data
channel echo through the kernel; for the comm, an ``ice-servers`` ask and its answer),
and reports a row per path (``doctor`` message, ``_doctor_protocol``). The kernel
checks each row against what it saw itself (its peer echoed on the path, it answered
the comm), adds its own TURN failures, and publishes the table and the advice
(``_doctor_advice``) as kernel-owned traits. Every probe stream is closed on both sides
when its row is in, and whatever is still open when the doctor finishes or closes.

Threads: the constructor, ``wait``, ``rows``, ``close`` on the caller's thread;
``_own_message``, ``_on_datachannel``, ``_stream_*`` on the media loop (called by the
manager and the streams).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import traitlets

from .._config import IceServerSpec
from .._signaling.protocol import Message, ProtocolError
from .._transport.channel import close_quietly
from .._widgets import stream_widget as _widget
from .._widgets.stream_widget import StreamWidget
from ..errors import NotDisplayedError, StreamClosedError, StreamError, StreamTimeoutError
from . import doctor_advice as _doctor_advice
from .doctor_paths import Path, plan, servers_for

if TYPE_CHECKING:
    from .._signaling.stream import KernelStream

log = logging.getLogger("nbrtc")

#: the data channel a probe echoes on (the page measures its round trip with it)
ECHO_LABEL = "doctor"
#: echoes per probe stream at most, and their size (a page cannot make the kernel a
#: free relay)
MAX_ECHOES = 16
MAX_ECHO_CHARS = 64
#: ``ice-servers`` asks the comm probe may make (its round-trip samples)
MAX_COMM_ASKS = 5
#: how long after the first probe the kernel waits for every row; what is missing by
#: then is reported as such (the page gives each probe 8 s, three at a time)
RUN_TIMEOUT = 45.0
DOCTOR_STATES = ("new", "running", "done", "closed")


@dataclass
class _Facts:
    """What the kernel saw of one probe stream itself (media loop)."""

    path: Path
    echoes: int = 0
    asks: int = 0
    live: bool = False
    turn_errors: list[str] = field(default_factory=list)
    error: str = ""


class Doctor(StreamWidget):
    """Tries every path from the page to this kernel and says which work (see module doc).

    ``rows``: one dict per path (path, url, result, rtt_ms, via, why); ``advice``: what to
    do, in words; ``wait()`` / ``await wait_async()`` until every row is in; ``print(d)``
    for a plain-text table.
    """

    _kind = "probe"
    #: the paths the page probes: id, label, url (no credential), kind, transport, policy
    paths: traitlets.List[Any] = traitlets.List(
        help="The paths the page probes: id, label, URL (no credential), transport, policy."
    ).tag(sync=True)
    #: the table, kernel-checked (see ``rows``)
    table_rows: traitlets.List[Any] = traitlets.List(
        help="One row per path, checked by the kernel: what connected, how fast, why not."
    ).tag(sync=True)
    advice: traitlets.List[Any] = traitlets.List(
        help="What to do, in words, from the rows (e.g. configure TURN over TCP)."
    ).tag(sync=True)

    def __init__(
        self,
        *,
        ice_servers: list[IceServerSpec] | None = None,
        ice_transport_policy: str | None = None,
    ) -> None:
        super().__init__(ice_servers=ice_servers, ice_transport_policy=ice_transport_policy)
        # the page's `doctor` messages (probe bindings, rows) are the Doctor's own
        self._register_handler("doctor", self._own_message)
        self.stats_interval = 0.0  # a probe lives seconds: no getStats series
        paths, left_out = plan(self._servers, self._ice_policy)
        self._paths: dict[str, Path] = {p.id: p for p in paths}
        self._left_out = left_out
        self._facts: dict[str, _Facts] = {}  # probe stream id -> facts
        self._by_path: dict[str, str] = {}  # path id -> its probe stream id
        #: path id -> the page's row for it (checked against the facts when published)
        self._reports: dict[str, dict[str, Any]] = {}
        #: path id -> why it has no report at the end ("" while it may still come)
        self._missing: dict[str, str] = {}
        self._rows_in = False  # every path has its report: finishing once probes closed
        self._owner: str | None = None  # the key of the page running the probes
        self._remote_page = False
        self._timer: asyncio.TimerHandle | None = None
        self.paths = [p.public() for p in paths]
        self._publish()

    # --- public ---------------------------------------------------------------------------
    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per path, in probe order: ``path``, ``url``, ``result`` ("ok",
        "failed", "pending"), ``rtt_ms``, ``via`` (selected candidate pair), ``why``."""
        return [
            {k: v for k, v in row.items() if k not in ("problems", "kind", "id")}
            for row in self.table_rows
        ]

    def wait(self, timeout: float = 60.0) -> list[dict[str, Any]]:  # type: ignore[override]
        """Block until every path has its row; return ``rows``.

        Raises NotDisplayedError when called in the cell that made the doctor (the page
        probes only once that cell has ended; use ``await d.wait_async()`` there, or call
        this from the next cell), StreamTimeoutError after ``timeout`` s, and
        StreamClosedError once closed.
        """
        deadline = time.monotonic() + timeout
        with self._state_event:
            while self.state != "done":
                self._raise_if_cannot_finish()
                if self._manager.busy and threading.current_thread() is threading.main_thread():
                    raise NotDisplayedError(
                        "the doctor's page probes only after this cell has ended (its "
                        "messages cannot arrive while the cell runs): display it, then call "
                        "d.wait() from the next cell, or use `await d.wait_async()` here."
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamTimeoutError(self._timeout_words(timeout))
                self._state_event.wait(min(left, 0.1))
        return self.rows

    async def wait_async(self, timeout: float = 60.0) -> list[dict[str, Any]]:  # type: ignore[override]
        """Awaitable twin of :meth:`wait` (a cell that awaits lets the page's rows in)."""
        deadline = time.monotonic() + timeout
        while self.state != "done":
            self._raise_if_cannot_finish()
            if time.monotonic() > deadline:
                raise StreamTimeoutError(self._timeout_words(timeout))
            await asyncio.sleep(0.05)
        return self.rows

    #: the name before the ``*_async`` rule (kept)
    await_done = wait_async

    def __str__(self) -> str:
        return _doctor_advice.table(self.table_rows, list(self.advice), self.state)

    __repr__ = __str__

    # --- waiting helpers ------------------------------------------------------------------
    def _raise_if_cannot_finish(self) -> None:
        if self._closed:
            raise StreamClosedError("the doctor is closed; run nbrtc.doctor() again.")

    def _timeout_words(self, timeout: float) -> str:
        if self.state == "new":
            return (
                f"the doctor did not start within {timeout} s: no page has shown it. Display "
                "it (make it the last expression of a cell) in a notebook page."
            )
        return f"the doctor did not finish within {timeout} s:\n{self}"

    def _update_state(self) -> None:
        """The doctor's state is its own ("new", "running", "done", "closed"); the probe
        streams' states are facts about rows, not about the widget."""
        if self._closed and self.state != "closed":
            log.info("doctor %s: %s -> closed", self.model_id, self.state)
            self.state = "closed"
        with self._state_event:
            self._state_event.notify_all()

    def _set_doctor_state(self, new: str) -> None:
        """The one place the doctor's state moves: new -> running -> done (media loop;
        "closed" is set by close() through _update_state)."""
        old = self.state
        if (old, new) not in (("new", "running"), ("running", "done")):
            return
        log.info("doctor %s: %s -> %s", self.model_id, old, new)
        self.state = new
        with self._state_event:
            self._state_event.notify_all()

    # --- per-probe ICE configuration (manager and streams, media loop) ----------------------
    def _path_of(self, stream_id: str) -> Path | None:
        facts = self._facts.get(stream_id)
        return facts.path if facts is not None else None

    def _ice_servers(self, tag: str = "kernel") -> list[dict[str, Any]]:
        """Only the probed path's server, for the kernel's peer and the page's ask; a
        stream that no ``probe`` message bound to a path gets nothing."""
        path = self._path_of(tag)
        if path is None or path.kind == "comm":
            raise StreamError(f"stream {tag!r} is not one of this doctor's WebRTC probes")
        return servers_for(self._servers, path, tag)

    def _ice_policy_for(self, stream_id: str) -> str:
        path = self._path_of(stream_id)
        return path.kernel_policy if path is not None else self._ice_policy

    def _answer_ice_servers(self, stream_id: str) -> None:
        facts = self._facts.get(stream_id)
        refusal = None
        if facts is None:
            refusal = "send doctor {op: 'probe'} for this stream first"
        elif facts.path.kind == "comm":
            if facts.asks >= MAX_COMM_ASKS:
                refusal = f"the comm probe takes at most {MAX_COMM_ASKS} round trips"
            else:
                facts.asks += 1  # the comm answered: the comm row's kernel fact
                self._send_ice_servers(stream_id, [])
                return
        if refusal is not None:
            code = "limit" if facts is not None else "out-of-order"
            self._port.reply_error(ProtocolError(code, refusal, stream_id, "ice-servers"))
            return
        super()._answer_ice_servers(stream_id)

    def _send_ice_servers(self, stream_id: str, servers: list[dict[str, Any]]) -> None:
        from .._signaling.protocol import make_message

        self._send_protocol(make_message("ice-servers", stream_id, {"iceServers": servers}))

    # --- kernel facts (media loop) ----------------------------------------------------------
    def _on_datachannel(self, stream: KernelStream, dc: Any) -> None:
        """The probe's echo channel: every short text is sent back (the page times it);
        anything else is closed."""
        facts = self._facts.get(stream.id)
        if dc.label != ECHO_LABEL or facts is None:
            close_quietly(dc)
            return

        def on_message(message: Any) -> None:
            if (
                isinstance(message, str)
                and len(message) <= MAX_ECHO_CHARS
                and facts.echoes < MAX_ECHOES
            ):
                facts.echoes += 1
                try:
                    dc.send(message)
                except Exception:  # closing: the row will say what the page saw
                    log.debug("doctor: echo failed", exc_info=True)

        dc.on("message", on_message)

    def _stream_state_changed(self, stream: KernelStream) -> None:
        facts = self._facts.get(stream.id)
        if facts is not None and stream.state == "live":
            facts.live = True

    def _stream_closed(self, stream: KernelStream) -> None:
        facts = self._facts.get(stream.id)
        if facts is not None:
            self._note_stream(facts, stream)
        super()._stream_closed(stream)
        if facts is not None and self.state == "running":
            self._publish()
            self._maybe_finish()

    @staticmethod
    def _note_stream(facts: _Facts, stream: KernelStream) -> None:
        facts.turn_errors = list(stream.turn_errors)
        if stream.error is not None:
            facts.error = str(stream.error)

    # --- the page's messages (media loop, from the manager's _dispatch) ----------------------
    def _own_message(self, msg: Message) -> None:
        """A validated ``doctor`` message (see _doctor_protocol). Only the page that sent
        the first one may run the probes; rows are taken once per path."""
        payload = msg.payload
        refusal = self._refusal(msg)
        if refusal is not None:
            self._port.reply_error(ProtocolError(refusal[0], refusal[1], msg.stream, "doctor"))
            return
        path = self._paths[payload["path"]]
        if payload["op"] == "probe":
            self._owner = msg.key
            self._by_path[path.id] = msg.stream
            self._facts[msg.stream] = _Facts(path)
            self._remote_page = self._remote_page or bool(payload.get("remote"))
            if self.state == "new":
                self._timer = asyncio.get_running_loop().call_later(
                    RUN_TIMEOUT, self._finish, "timeout"
                )
                self._set_doctor_state("running")
            self._publish()
            return
        self._reports[path.id] = payload
        self._publish()
        if len(self._reports) == len(self._paths):
            self._rows_in = True
            # the page says bye after its row; what is still open closes now, and the
            # verdict waits for the teardowns (the kernel's TURN errors come with them)
            self._close_probes("doctor-done")
            self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._rows_in and not self._open_probes():
            self._finish("done")

    def _refusal(self, msg: Message) -> tuple[str, str] | None:
        payload = msg.payload
        if self._closed or self.state in ("done", "closed"):
            return ("closed", "this doctor has finished; run nbrtc.doctor() again")
        if self._owner is not None and msg.key != self._owner:
            return ("unknown-stream", "another page is running this doctor")
        path = self._paths.get(payload["path"])
        if path is None:
            return ("bad-message", f"this doctor has no path {payload['path']!r}")
        if payload["op"] == "probe":
            if path.id in self._by_path or msg.stream in self._facts:
                return ("out-of-order", "this path or stream is already being probed")
            if not self._manager.claim(msg.stream, msg.key):
                return ("unknown-stream", "this stream id belongs to another page")
            return None
        if self._by_path.get(path.id) != msg.stream:
            return ("out-of-order", "no probe of this path was started on this stream")
        if path.id in self._reports:
            return ("out-of-order", "this path already has its row")
        return None

    def _checked_row(self, path: Path, stream_id: str, report: dict[str, Any]) -> dict[str, Any]:
        """The page's row for ``path``, checked against the kernel's own facts."""
        facts = self._facts[stream_id]
        with self._stream_lock:
            stream = self._streams.get(stream_id)
        if stream is not None:
            self._note_stream(facts, stream)
        kernel_saw = facts.asks > 0 if path.kind == "comm" else facts.echoes > 0
        page_ok = report["result"] == "ok"
        why = " ".join(str(report.get("why", "")).split())
        if page_ok and not kernel_saw:
            why = "the page reported success, but the kernel saw nothing on this path"
        elif not page_ok and facts.error and facts.error not in why:
            why = f"{why}; kernel: {facts.error}" if why else f"kernel: {facts.error}"
        problems: set[str] = set()
        for err in report.get("errors", []):
            found = _doctor_advice.classify(int(err.get("code", 0)), str(err.get("text", "")))
            if found:
                problems.add(found)
        for words in facts.turn_errors:
            found = _doctor_advice.classify(0, words)
            if found:
                problems.add(found)
            if not page_ok and words not in why:
                why = f"{why}; {words}" if why else words
        ok = page_ok and kernel_saw
        via = ""
        if report.get("local") or report.get("remote"):
            proto = f"/{report['protocol']}" if report.get("protocol") else ""
            via = f"{report.get('local', '?')}{proto} -> {report.get('remote', '?')}"
        if path.kind == "comm":
            via = "comm"
        rtt = report.get("rtt_ms")
        return {
            **self._pending_row(path),
            "result": "ok" if ok else "failed",
            "rtt_ms": round(float(rtt), 1) if ok and rtt is not None else None,
            "via": via if ok else "",
            "why": "" if ok else why[:600],
            "problems": sorted(problems),
        }

    @staticmethod
    def _pending_row(path: Path) -> dict[str, Any]:
        return {
            "id": path.id,
            "path": path.label,
            "url": path.url,
            "kind": path.kind,
            "result": "pending",
            "rtt_ms": None,
            "via": "",
            "why": "",
            "problems": [],
        }

    def _row(self, path: Path) -> dict[str, Any]:
        report = self._reports.get(path.id)
        if report is not None:
            return self._checked_row(path, self._by_path[path.id], report)
        why = self._missing.get(path.id, "probing..." if path.id in self._by_path else "")
        row = self._pending_row(path)
        return (
            {**row, "result": "failed", "why": why}
            if path.id in self._missing
            else {
                **row,
                "why": why,
            }
        )

    def _publish(self, final: bool = False) -> None:
        """Publish the rows (each page report checked against the kernel's facts as they
        are now); with the advice once ``final`` (advice on a partial table would be
        wrong: a pending path is not a failed one)."""
        rows = [self._row(p) for p in self._paths.values()]
        advice: list[str] = []
        if final:
            advice = _doctor_advice.advise(
                rows,
                servers_configured=bool(self._servers),
                remote_page=self._remote_page,
                policy=self._ice_policy,
            )
        if final and self._left_out:
            advice.append(
                f"{self._left_out} more server URL(s) were not probed (at most 10 per doctor)."
            )
        with self.hold_sync():
            self.table_rows = rows
            self.advice = advice

    def _finish(self, reason: str) -> None:
        """Every row is in (or the run timed out): publish the verdict and close every
        probe stream still open (media loop)."""
        if self.state != "running":
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for path_id in self._paths:
            if path_id not in self._reports:
                self._missing[path_id] = (
                    f"the page did not report this path within {RUN_TIMEOUT:.0f} s"
                    if path_id in self._by_path
                    else "the page did not probe this path"
                )
        self._close_probes(f"doctor-{reason}")
        self._publish(final=True)
        self._set_doctor_state("done")
        log.info("doctor %s: %s", self.model_id, "; ".join(self.advice) or "no advice")

    def _open_probes(self) -> list[KernelStream]:
        """Probe streams not torn down yet (a stream leaves ``_streams`` at the end of
        its teardown, after its last facts were noted)."""
        with self._stream_lock:
            return list(self._streams.values())

    def _close_probes(self, reason: str) -> None:
        live = self._open_probes()
        if live:
            self._manager.close_streams(live, reason)

    def _closed_cleanup(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            try:
                self._manager.media.call_soon(timer.cancel)
            except Exception:  # the media loop is gone (shutdown): so is the timer
                log.debug("doctor: could not cancel its timer", exc_info=True)


def doctor(
    ice_servers: list[IceServerSpec] | None = None, ice_transport_policy: str | None = None
) -> Doctor:
    """Try every path from this page to this kernel and say which work, and what to do.

    Make it the last expression of a cell: the page then probes its host candidates,
    each configured STUN/TURN URL (UDP, TCP, TLS) and the notebook's own connection, and
    shows a table (path, result, round trip, why not) with advice; ``print(d)`` shows the
    same in text once done (``d.wait()`` from the next cell). ``ice_servers`` /
    ``ice_transport_policy`` default to ``nbrtc.config``'s. Every probe is closed on
    both sides when the doctor finishes.
    """
    return Doctor(ice_servers=ice_servers, ice_transport_policy=ice_transport_policy)


def _for_widget(ice_servers: list[Any], policy: str) -> Doctor:
    """``StreamWidget.doctor()``: a Doctor for one widget's servers and policy."""
    return Doctor(ice_servers=ice_servers, ice_transport_policy=policy)


_widget.register_doctor(_for_widget)
