"""The core of a kernel stream: its fields, its one state machine, how it talks to the
page and runs its tasks (``StreamCore``).

``KernelStream`` (stream.py: negotiation, media, liveness, teardown) is this core with
three parts, each a mixin over it in a module of its own: ICE candidates and TURN
(stream_ice.py), the comm transport (stream_comm.py) and inspection (stream_inspect.py).
Every method runs on the media loop unless its docstring says otherwise. State changes
go through ``_set_state`` only, which logs ``old -> new`` and tells the widget.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from .._inspection.stats_carry import CarriedReports
from .._transport.comm_audio import CommAudioReceiver, CommAudioSender
from .._transport.comm_media import CommReceiver, CommSender
from .._transport.reconnect import Reconnect
from ..errors import StreamError
from .control import ControlChannel
from .stream_base import StreamBase

if TYPE_CHECKING:
    from .owner import SignalingHost, StreamOwner

log = logging.getLogger("nbrtc")

#: kinds whose stream carries media from the browser: live at the first received frame
SENDING_KINDS = frozenset({"camera", "screen", "microphone"})


class StreamCore(StreamBase):
    """The kernel's end of one browser peer of one widget view: fields and state.

    Exists only as the base of ``KernelStream``. Where a part hands ``self`` to the widget
    (which takes a ``KernelStream``) its line says ``# type: ignore[arg-type]  # a
    KernelStream``: ``self`` always is one, but naming that class here, even for the type
    checker only, would make an import cycle.
    """

    def __init__(
        self,
        manager: SignalingHost,
        widget: StreamOwner,
        stream_id: str,
        kind: str,
        page: str,
        view: str,
        key: str = "",
    ) -> None:
        super().__init__(manager, widget, stream_id, kind, page, view, key)
        self.frames = 0
        self.frame_size: tuple[int, int] | None = None
        self.audio_frames = 0
        #: kernel pings through the comm that asked this stream's page to answer there
        #: (it had been silent for liveness.ASK_AFTER: its media path lost its messages)
        self.asked = 0
        #: the page's pings that asked for the kernel's through the comm (it had not heard
        #: the kernel for 1.25 s: the media path towards it lost the kernel's pings)
        self.page_asked = 0
        self._pc: RTCPeerConnection | None = None
        self._remote_set = False
        self._end_pending = False
        self._pending: list[dict[str, Any] | None] = []
        #: remote candidates taken in the current ICE generation (MAX_REMOTE_CANDIDATES)
        self._candidates_taken = 0
        #: renegotiations the kernel asked for and the browser has not answered yet: a
        #: reoffer nobody asked for is refused (it would cost an SDP round each)
        self._reoffers_expected = 0
        #: of those, the ones asking for a new peer connection (``fresh``, reconnection)
        self._fresh_expected = 0
        self._last_browser_stats = 0.0
        #: the page's newest whole stats sample (its unchanged reports come by id only)
        self._browser_reports = CarriedReports()
        self.stats_dropped = 0
        #: TURN failures of either side, in words (kernel: from aioice; browser: its
        #: icecandidateerror events), newest last, at most MAX_TURN_ERRORS
        self.turn_errors: list[str] = []
        self._auth_watch = False  # _turn_auth_watch started
        # Candidates must reach aiortc in the order the browser sent them (end-of-
        # candidates last); each message is its own task, so a FIFO lock orders them.
        self._candidate_lock = asyncio.Lock()
        self._tracks: list[MediaStreamTrack] = []
        self._answer_task: asyncio.Task[Any] | None = None
        from .._inspection.stats import StatsSeries

        self.stats = StatsSeries()
        #: whether someone reads ``stats`` (its stats loop's view: None before its first
        #: look): both sides sample every stats_interval while True, else less often
        self.stats_read: bool | None = None
        #: every offer/answer exchange: {"round", "reason", "offer", "answer", "t"}
        self.sdp_rounds: list[dict[str, Any]] = []
        self.impairment: Any = None  # nbrtc._inspection.netem.Impairment, made on first set_network
        self._reoffer_lock = asyncio.Lock()
        self._kernel_pc_states: dict[str, str] = {}
        self._codec: str | None = None  # the codec preference of the first answer
        self.max_bitrate: int | None = None
        #: how the media travels: "" (not yet), "direct", "relay" or "comm"
        #: (_set_transport is the one place that changes it)
        self.transport = ""
        #: "direct"/"relay" once the WebRTC path connected ("" before, or when dropped)
        self._webrtc_path = ""
        self._comm_in: CommReceiver | None = None
        self._comm_out: CommSender | None = None
        #: sound over the comm, each way (_comm_audio.py)
        self._comm_audio_in: CommAudioReceiver | None = None
        self._comm_audio_out: CommAudioSender | None = None
        #: the page moved back to WebRTC before the kernel's peer connected: why
        self._webrtc_wanted = ""
        #: why WebRTC cannot connect, when the comm took over instead of failing
        self._webrtc_doomed: list[str] = []
        #: ICE restarts, then new peers, when a live stream's path is lost (reconnect.py)
        self.reconnect = Reconnect(self)  # type: ignore[arg-type]  # a KernelStream
        #: the page's control channel: its periodic reports and the kernel's pings
        self.control = ControlChannel(self)  # type: ignore[arg-type]  # a KernelStream

    # --- what the parts ask of each other ---------------------------------------------------
    # Declared for the type checker only: this class comes last in KernelStream's method
    # resolution order, so the real definitions (a part's, or KernelStream's) come first.
    async def fail(self, error: StreamError) -> None:
        """Record ``error``, go to state error, and tear down (stream.py)."""
        raise NotImplementedError

    def _deliver(self, frame: Any, video: bool) -> None:
        """One decoded frame from the browser, whichever transport brought it (stream.py)."""
        raise NotImplementedError

    async def _ping_loop(self) -> None:
        """The page's liveness (stream.py)."""
        raise NotImplementedError

    async def _stats_loop(self, interval: float, idle: float) -> None:
        """Sample the kernel peer's stats (stream_inspect.py)."""
        raise NotImplementedError

    def _set_transport(self, new: str, why: str) -> None:
        """The one place the transport changes (stream_comm.py)."""
        raise NotImplementedError

    def _comm_takes_over(self, words: str) -> bool:
        """Whether the comm carries the stream instead of failing it (stream_comm.py)."""
        raise NotImplementedError

    def _webrtc_lost(self, words: str) -> bool:
        """Drop the peer connection while the comm carries the stream (stream_comm.py)."""
        raise NotImplementedError

    def comm_stats(self) -> list[dict[str, Any]]:
        """The comm transport's counters as stats reports (stream_comm.py)."""
        raise NotImplementedError
