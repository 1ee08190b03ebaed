"""The one place where nbrtc touches aiortc's and aioice's private internals (and ipykernel's).

aiortc and aioice offer no public API for several things nbrtc does: an ICE restart on
the answering side, network impairment under SRTP, a keyframe at once after a network
gap, loopback host candidates, TURN failures in words, kernel-side candidate and inbound
RTP figures, and decode errors of a ``MediaPlayer``. Each of those modules calls the small
named functions below instead of reaching in itself; each function's docstring names the
upstream private thing it uses and why. ``tests/unit/test_upstream.py`` keeps it so: no
other module of ``src/nbrtc`` may name an aiortc/aioice private.

:func:`check` runs once at ``import nbrtc``:

* the installed aiortc and aioice must be in :data:`TESTED` (the ranges ``pyproject.toml``
  declares), else ``ImportError`` naming the package, the installed version, the tested
  range and what to do. ``NBRTC_ALLOW_UNTESTED=1`` in the environment turns that into an
  :class:`UpstreamWarning` (the private internals are then still probed one by one);
* every private internal used must exist. A missing one that every stream needs (the
  candidate-gathering hooks the manager installs) raises ``ImportError``; one whose feature
  can degrade gives one :class:`UpstreamWarning` saying which feature is lost and what
  happens instead (see :data:`FEATURES`), and that feature's own check raises in words
  when it is used.

Threads: the probes build throwaway objects (no socket, no loop), so :func:`check` runs on
any thread; every accessor runs on the thread that owns its object (the media loop for a
peer connection's parts, the decoder thread's opener for a ``MediaPlayer``).
"""

from __future__ import annotations

import asyncio
import inspect
import linecache
import logging
import os
import re
import types
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, NamedTuple

log = logging.getLogger("nbrtc")

#: package -> (lowest tested version, first untested version); pyproject.toml says the same
TESTED: dict[str, tuple[str, str]] = {
    "aiortc": ("1.16", "1.17"),
    "aioice": ("0.13", "0.14"),
}
#: environment variable that turns an untested version from an error into a warning
ALLOW_UNTESTED = "NBRTC_ALLOW_UNTESTED"


class UpstreamWarning(UserWarning):
    """An aiortc/aioice internal is missing, or a version is untested: a feature degrades."""


# --- versions ---------------------------------------------------------------------------------
def installed_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"?"`` if it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _release(version: str) -> tuple[int, ...]:
    """``"1.16.0rc1"`` -> ``(1, 16, 0)``: the numeric release part (PEP 440, simplified)."""
    numbers = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):
            break  # a pre/post/dev suffix ends the release part
    return tuple(numbers)


def tested_range(dist: str) -> str:
    """The tested range of ``dist`` as a pip specifier, e.g. ``">=1.16,<1.17"``."""
    low, high = TESTED[dist]
    return f">={low},<{high}"


def version_problem(dist: str) -> str | None:
    """Why the installed ``dist`` is not a tested version, in words; None if it is."""
    version = installed_version(dist)
    low, high = TESTED[dist]
    release = _release(version)
    if release and _release(low) <= release < _release(high):
        return None
    spec = tested_range(dist)
    return (
        f"nbrtc was tested with {dist}{spec}, but {dist} {version} is installed; nbrtc "
        f"relies on {dist} internals that may differ in other versions. Install a tested "
        f"one (pip install '{dist}{spec}'), or set {ALLOW_UNTESTED}=1 to try this one anyway"
    )


# --- ipykernel: where a page's comm messages are handled --------------------------------------
def route_comm_by_header(comm: Any) -> bool:
    """Handle ``comm``'s incoming messages on the kernel subshell their sender named.

    JupyterLab 4.4+ sends a widget's comm messages on a kernel subshell of their own, so
    ipykernel 7 handles them on that subshell's thread while a cell runs (a blocking
    ``capture_audio()`` on a comm stream keeps receiving). But ipykernel 7's
    ``ipykernel.comm.Comm._reply_subshell_for`` (a private) routes every incoming message of
    a comm to the subshell of whatever request was current when the kernel last *sent* on
    that comm: a state update sent from a cell, or an ack sent from the media thread right
    after a cell started, sends all the page's later messages to the main shell, behind the
    running cell (measured: the comm microphone's sound stopped for the whole cell, 11 s).
    nbrtc's messages are not replies to requests, so the page's own choice is the right
    one. Returns False (nothing done) on an ipykernel without that routing, or no comm.
    Any thread; call once the widget's comm exists.
    """
    if comm is None or not callable(getattr(comm, "_reply_subshell_for", None)):
        return False
    comm._reply_subshell_for = _subshell_the_sender_named
    return True


def _subshell_the_sender_named(_data: Any, subshell_id: str | None) -> str | None:
    return subshell_id


# --- aioice: module-level hooks (installed once by the manager) -------------------------------
def patch_host_addresses(
    wrap: Callable[[Callable[..., list[str]]], Callable[..., list[str]]],
) -> None:
    """Replace ``aioice.ice.get_host_addresses`` by ``wrap(original)``.

    aioice looks that module global up at gathering time and leaves 127.0.0.1 out; there
    is no option to add it (``_ice.install_loopback_candidates``). Call once.
    """
    import aioice.ice

    original = aioice.ice.get_host_addresses
    wrapper = wrap(original)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = wrapper


def patch_relayed_candidate(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``aioice.ice.relayed_candidate`` (the relay-gathering coroutine function,
    looked up as a module global) by ``wrap(original)``: aioice drops its exception, so
    this is the only place a TURN failure can be seen (``_ice.install_turn_reports``)."""
    import aioice.ice

    original = aioice.ice.relayed_candidate
    wrapper = wrap(original)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    aioice.ice.relayed_candidate = wrapper


def patch_turn_udp_error_received(
    wrap: Callable[[Callable[..., None]], Callable[..., None]],
) -> None:
    """Replace ``aioice.turn.TurnClientUdpProtocol.error_received`` (the asyncio callback of
    the TURN client's UDP socket) by ``wrap(original)``: aioice ignores ICMP "port
    unreachable" and waits 5 s (``_ice._install_refused_allocations``)."""
    import aioice.turn

    cls = aioice.turn.TurnClientUdpProtocol
    original = cls.error_received
    wrapper = wrap(original)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    cls.error_received = wrapper  # type: ignore[method-assign]


def fail_transaction(transaction: Any, exc: BaseException) -> bool:
    """Fail a pending aioice STUN ``Transaction`` now with ``exc``; False if it cannot be.

    Uses the name-mangled ``Transaction.__future`` (aioice keeps it private): the only
    way to end a TURN allocation whose server port was refused before aioice's timeout.
    """
    future = getattr(transaction, "_Transaction__future", None)
    if isinstance(future, asyncio.Future) and not future.done():
        future.set_exception(exc)
        return True
    return False


# --- aiortc/aioice: the ICE connection of a peer connection -----------------------------------
def ice_transport_connection(transport: Any) -> Any:
    """The aioice ``Connection`` of an aiortc ``RTCIceTransport`` (its private
    ``_connection``): aiortc exposes neither its candidates pairs nor its credentials."""
    return transport._connection


def gatherer_connection(gatherer: Any) -> Any:
    """The aioice ``Connection`` of an aiortc ``RTCIceGatherer`` (private ``_connection``),
    or None if it has none."""
    return getattr(gatherer, "_connection", None)


def nominated_pairs(conn: Any) -> dict[int, Any]:
    """aioice ``Connection._nominated``: component -> the nominated ``CandidatePair`` (the
    data path). The live dict: read it, do not change it. Empty if the internal is gone."""
    nominated = getattr(conn, "_nominated", None)
    return nominated if isinstance(nominated, dict) else {}


def check_list(conn: Any) -> list[Any]:
    """aioice ``Connection._check_list``: every ``CandidatePair`` of the connection."""
    return list(conn._check_list)


def is_closing(conn: Any) -> bool:
    """aioice ``Connection._closing``: True once the connection is closing or closed."""
    return bool(conn._closing)


def set_local_credentials(conn: Any, ufrag: str, pwd: str) -> None:
    """Give an aioice ``Connection`` new local credentials (``_local_username`` and
    ``_local_password``; the public ``local_*`` properties are read-only): an ICE restart
    answers with new credentials, which aioice cannot change itself."""
    conn._local_username = ufrag
    conn._local_password = pwd


def reopen_remote_candidates(transport: Any) -> None:
    """Accept remote candidates again after end-of-candidates (aioice ``Connection.
    _remote_candidates_end`` and aiortc ``RTCIceGatherer._remote_candidates_end``): the new
    generation of an ICE restart trickles candidates after the old one's end."""
    transport._connection._remote_candidates_end = False
    transport.iceGatherer._remote_candidates_end = False


def consent_task(conn: Any) -> asyncio.Task[None] | None:
    """aioice ``Connection._query_consent_task``: the consent-freshness loop, if running."""
    task: asyncio.Task[None] | None = conn._query_consent_task
    return task


def pause_consent(conn: Any) -> asyncio.Task[None] | None:
    """Cancel the consent loop (``_query_consent_task``); return the cancelled task to wait
    for, or None if none ran. During an ICE restart its checks would carry the new
    credentials to the old pair and close the connection."""
    task = consent_task(conn)
    if task is None or task.done():
        return None
    task.cancel()
    conn._query_consent_task = None
    return task


def resume_consent(conn: Any) -> None:
    """Start aioice's consent loop (``query_consent``) again unless it runs or the
    connection is closing. Call on the connection's loop."""
    task = consent_task(conn)
    if not is_closing(conn) and (task is None or task.done()):
        conn._query_consent_task = asyncio.get_running_loop().create_task(conn.query_consent())


def wrap_connection_callbacks(
    conn: Any,
    request_received: Callable[[Callable[..., None]], Callable[..., None]],
    check_complete: Callable[[Callable[..., None]], Callable[..., None]],
) -> None:
    """Shadow one aioice ``Connection``'s ``request_received`` and ``check_complete`` with
    instance attributes ``request_received(original)`` / ``check_complete(original)``.

    aioice calls both as ``self.xxx()`` (the ``StunProtocol`` calls
    ``receiver.request_received``), so instance attributes take over for this connection
    only: an ICE restart answers the old generation's checks and notices its new pair.
    """
    conn.request_received = request_received(conn.request_received)
    conn.check_complete = check_complete(conn.check_complete)


# --- aiortc: DTLS transport packet path (network impairment) ----------------------------------
#: marks a packet method the transport instance did not shadow before (class's own)
MISSING = object()
#: the private ``RTCDtlsTransport`` coroutine methods netem shadows, in
#: :class:`DtlsPacketMethods` order
DTLS_PACKET_METHODS = ("_send_rtp", "_handle_rtp_data", "_handle_rtcp_data")


class DtlsPacketMethods(NamedTuple):
    """The packet path of an aiortc ``RTCDtlsTransport`` (private coroutine methods)."""

    #: ``_send_rtp(data)``: plaintext RTP/RTCP out, SRTP-protected inside
    send_rtp: Callable[..., Awaitable[None]]
    #: ``_handle_rtp_data(data, arrival_time_ms)``: plaintext RTP in, after SRTP unprotect
    handle_rtp_data: Callable[..., Awaitable[None]]
    #: ``_handle_rtcp_data(data)``: plaintext RTCP in
    handle_rtcp_data: Callable[..., Awaitable[None]]


def dtls_packet_methods(transport: Any) -> DtlsPacketMethods:
    """The packet methods of an aiortc ``RTCDtlsTransport`` as they resolve now (bound: the
    class's, or an earlier instance wrapper)."""
    return DtlsPacketMethods(*(getattr(transport, name) for name in DTLS_PACKET_METHODS))


def shadow_dtls_packet_methods(transport: Any, wrappers: DtlsPacketMethods) -> dict[str, object]:
    """Set ``wrappers`` as instance attributes of ``transport``, shadowing its private
    packet methods; return what the instance had before (name -> value, or
    :data:`MISSING`) for :func:`restore_dtls_packet_methods`."""
    saved = {name: transport.__dict__.get(name, MISSING) for name in DTLS_PACKET_METHODS}
    for name, fn in zip(DTLS_PACKET_METHODS, wrappers, strict=True):
        setattr(transport, name, fn)
    return saved


def restore_dtls_packet_methods(
    transport: Any, saved: dict[str, object], ours: DtlsPacketMethods
) -> None:
    """Undo :func:`shadow_dtls_packet_methods`, name by name, where ``ours`` is still the
    one in place (someone who wrapped on top keeps theirs)."""
    for name, mine in zip(DTLS_PACKET_METHODS, ours, strict=True):
        if transport.__dict__.get(name) is not mine:
            continue
        old = saved[name]
        if old is MISSING:
            delattr(transport, name)
        else:
            setattr(transport, name, old)


def arrival_clock_ms() -> int:
    """``aiortc.clock.current_ms()``: the clock aiortc stamps received RTP with."""
    from aiortc import clock

    return int(clock.current_ms())


# --- aiortc: RTP sender and receiver ----------------------------------------------------------
def sender_encoder(sender: Any) -> Any:
    """The video encoder of an aiortc ``RTCRtpSender`` (name-mangled ``__encoder``, made at
    its first frame), or None: a bitrate cap must clamp it, aiortc raises its target on
    every REMB."""
    return getattr(sender, "_RTCRtpSender__encoder", None)


def receiver_inbound_streams(receiver: Any) -> list[tuple[int, Any]]:
    """``(ssrc, StreamStatistics)`` of an aiortc ``RTCRtpReceiver``'s media (not RTX)
    streams, from its name-mangled ``__remote_streams`` and ``__rtx_ssrc``: aiortc reports
    the RTX stream's figures under the media stream's id. [] if unknown."""
    streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", None)
    rtx = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", None)
    if not streams or rtx is None:
        return []
    return [(ssrc, s) for ssrc, s in list(streams.items()) if ssrc not in rtx]


def stream_clockrate(stats: Any) -> int:
    """The RTP clock rate of an aiortc ``StreamStatistics`` (private ``_clockrate``; its
    ``jitter`` is in those units), or 0 if unknown."""
    return int(getattr(stats, "_clockrate", 0) or 0)


def patch_video_receiver(
    on_media_packet: Callable[[Any, Any, str], Awaitable[None] | None],
    on_pli: Callable[[Any], None],
) -> None:
    """Wrap aiortc's ``RTCRtpReceiver`` once, class-wide (before any peer exists).

    ``on_media_packet(receiver, packet, codec_name)`` (awaited when it returns an awaitable:
    a plain call per packet, a coroutine only when there is something to wait for; no
    object made per packet) runs before aiortc's private
    ``_handle_rtp_packet`` for each media (not RTX) packet of an enabled video receiver
    (its private ``_enabled``, name-mangled ``__kind``, ``__codecs`` and ``__rtx_ssrc``);
    ``on_pli(receiver)`` runs before each PLI it sends (private ``_send_rtcp_pli``).
    Used by ``_rtp_recovery``: aiortc asks for a keyframe only after 512 packets.
    """
    from aiortc.codecs import is_rtx
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    original_handle = RTCRtpReceiver._handle_rtp_packet
    original_pli = RTCRtpReceiver._send_rtcp_pli

    async def _handle_rtp_packet(self: Any, packet: Any, arrival_time_ms: int) -> None:
        if self._enabled and self._RTCRtpReceiver__kind == "video":
            codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
            if (
                codec is not None
                and not is_rtx(codec)
                and packet.ssrc not in self._RTCRtpReceiver__rtx_ssrc
            ):
                pending = on_media_packet(self, packet, codec.name)
                if pending is not None:
                    await pending
        await original_handle(self, packet, arrival_time_ms)

    async def _send_rtcp_pli(self: Any, media_ssrc: int) -> None:
        on_pli(self)
        await original_pli(self, media_ssrc)

    RTCRtpReceiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]
    RTCRtpReceiver._send_rtcp_pli = _send_rtcp_pli  # type: ignore[method-assign]


async def send_pli(receiver: Any, media_ssrc: int) -> None:
    """Ask the sender of ``media_ssrc`` for a keyframe (``RTCRtpReceiver._send_rtcp_pli``)."""
    await receiver._send_rtcp_pli(media_ssrc)


def filter_jitter_buffer(
    receiver: Any, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    """Shadow the ``add`` of a receiver's jitter buffer (name-mangled ``__jitter_buffer``)
    with ``wrap(original_add)``: frames assembled after a gap can be held back."""
    jb = receiver._RTCRtpReceiver__jitter_buffer
    jb.add = wrap(jb.add)  # the instance attribute shadows the class's method


def complete_frames_on_marker(receiver: Any) -> None:
    """Shadow the ``add`` of a video receiver's jitter buffer so a frame leaves it with its
    last packet (the one with the RTP marker bit, RFC 3550/7741) instead of when the first
    packet of the next frame arrives: aiortc's ``JitterBuffer._remove_frame`` only knows a
    frame is complete when the timestamp changes, which holds every frame one frame
    interval (33 ms at 30 fps) before decoding, the first one included.

    Uses the buffer's private ``_origin``, ``_capacity``, ``_packets`` and ``remove(n)``,
    each packet's ``marker``, ``timestamp`` and ``_data`` (the depayloaded bytes aiortc's
    receiver sets before ``add``) and ``JitterFrame``. Call before
    :func:`filter_jitter_buffer` so that filter sees these frames too. Media loop.
    """
    from aiortc.jitterbuffer import JitterFrame

    jb = receiver._RTCRtpReceiver__jitter_buffer
    original_add = jb.add
    cap = jb._capacity
    slots = jb._packets

    def add(packet: Any) -> tuple[bool, Any]:
        pli, frame = original_add(packet)
        if frame is not None:
            return pli, frame
        # only a marked packet, or a late one that filled a hole before later packets,
        # can complete the frame at the origin
        if not packet.marker and slots[(packet.sequence_number + 1) % cap] is None:
            return pli, None
        origin = jb._origin
        if origin is None:
            return pli, None
        first = slots[origin % cap]
        if first is None:
            return pli, None
        ts = first.timestamp
        parts = []
        for count in range(cap):
            p = slots[(origin + count) % cap]
            if p is None or p.timestamp != ts:
                return pli, None  # a hole, or the marked packet is not this frame's
            parts.append(p._data)
            if p.marker:
                jb.remove(count + 1)
                return pli, JitterFrame(data=b"".join(parts), timestamp=ts)
        return pli, None

    jb.add = add  # the instance attribute shadows the class's method


def decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: Any,
    output_q: asyncio.Queue[Any],
    decode_error: Any,
) -> None:
    """A receiver's decoder thread (what aiortc's ``rtcrtpreceiver.decoder_worker`` does,
    with a cheaper hand-off): decode each ``(codec, JitterFrame)`` of ``input_q`` until
    ``None``, give every decoded frame to the track's queue ``output_q`` on ``loop``, and
    ``None`` after the last one (the track ends).

    aiortc hands each frame over with ``run_coroutine_threadsafe(output_q.put(frame))``: a
    coroutine, a Task and two chained futures per frame, all run on the media loop. Here it
    is one ``call_soon_threadsafe(output_q.put_nowait, frame)``: the queue is unbounded, so
    ``put`` never waits and the order is the same (and a loop closed under a running
    decoder ends the thread quietly instead of with a traceback). A frame that fails to
    decode is logged by aiortc's receiver logger (same words) and sets ``decode_error``; the
    decoder keeps its state (resetting it would fail every frame until the next keyframe)."""
    import av
    from aiortc.codecs import get_decoder

    put = output_q.put_nowait

    def deliver(item: Any) -> bool:
        try:
            loop.call_soon_threadsafe(put, item)
        except RuntimeError:  # the loop is closed (the kernel is exiting): nobody reads
            return False
        return True

    decoder: Any = None
    codec_name = None
    seq = 0  # encoded frames taken, failed ones included (a gap tells passthrough.py one was lost)
    while True:
        task = input_q.get()
        if task is None:
            deliver(None)
            return
        codec, encoded_frame = task
        if codec.name != codec_name:
            decoder, codec_name = get_decoder(codec), codec.name
        seq += 1
        try:
            frames = decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            logging.getLogger("aiortc.rtcrtpreceiver").warning(
                "RTCRtpReceiver(%s) failed to decode %s frame: %s",
                codec.mimeType.split("/")[0],
                codec.name,
                exc,
            )
            decode_error.set()
            continue
        for frame in frames:
            if codec_name == "VP8":
                # the bytes this picture came in, for _media/passthrough.py: sent on as they
                # are when processing leaves the picture unchanged
                frame.opaque = ENCODED_TAG, seq, encoded_frame.data
            if not deliver(frame):
                return


#: ``frame.opaque`` of a VP8 frame that :func:`decoder_worker` decoded is
#: ``(ENCODED_TAG, seq, data)``: the encoded frame's number on its receiver and its bytes
ENCODED_TAG = "nbrtc:vp8"

_aiortc_decoder_worker: Any = None


def patch_decoder_handoff(on: bool = True) -> None:
    """Make every receiver started from now on decode in :func:`decoder_worker` (or, with
    ``on=False``, in aiortc's own again): aiortc's ``RTCRtpReceiver.receive`` looks up the
    module-level ``rtcrtpreceiver.decoder_worker`` when it starts the decoder thread
    (``(loop, input_q, output_q, decode_error)``, the track's private ``_queue`` as
    ``output_q``). Idempotent; receivers already started keep theirs. Any thread."""
    global _aiortc_decoder_worker
    from aiortc import rtcrtpreceiver

    if _aiortc_decoder_worker is None:
        _aiortc_decoder_worker = rtcrtpreceiver.decoder_worker
    rtcrtpreceiver.decoder_worker = decoder_worker if on else _aiortc_decoder_worker


def decoder_handoff_problems() -> list[str]:
    """What :func:`patch_decoder_handoff` needs of aiortc, in words ([] = all there)."""
    from aiortc import codecs, rtcrtpreceiver

    problems = []
    original = getattr(rtcrtpreceiver, "decoder_worker", None)
    if original is None:
        problems.append("aiortc.rtcrtpreceiver.decoder_worker")
    elif original is not decoder_worker:
        params = list(inspect.signature(original).parameters)
        if params != ["loop", "input_q", "output_q", "decode_error"]:
            problems.append(f"aiortc decoder_worker{tuple(params)}")
    receive = getattr(rtcrtpreceiver.RTCRtpReceiver, "receive", None)
    if "decoder_worker" not in getattr(getattr(receive, "__code__", None), "co_names", ()):
        problems.append("RTCRtpReceiver.receive starting decoder_worker")
    if not callable(getattr(codecs, "get_decoder", None)):
        problems.append("aiortc.codecs.get_decoder")
    return problems


# --- aiortc / aioice: the first peer's one-time costs (_transport/warmup.py) ------------------
def warm_peer_machinery() -> None:
    """Pay now what the process's first peer connection would pay once: a certificate and
    its DTLS context (the first use of cryptography's and OpenSSL's), a VP8 decoder
    (libvpx's first context) and aioice's host addresses. Uses aiortc's private
    ``RTCCertificate._create_ssl_context`` and ``rtcdtlstransport.SRTP_PROFILES``; raises
    whatever a changed aiortc raises (the caller logs it). Any thread; about 8 ms cold in a
    plain process (13-21 ms timed through a kernel request)."""
    import aioice.ice
    from aiortc.codecs import get_decoder
    from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    RTCCertificate.generateCertificate()._create_ssl_context(srtp_profiles=SRTP_PROFILES)
    get_decoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
    aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)


# --- aiortc: the receive-side bitrate estimate (_transport/bitrate.py) ------------------------
_aiortc_estimator: Any = None
#: (make_rate, the estimator class made for it) of the last patch: patching again is a no-op
_patched_estimator: tuple[Any, Any] | None = None


def patch_bitrate_estimator(make_rate: Callable[[int, int], Any] | None) -> None:
    """Make every video receiver made from now on estimate with ``make_rate(window_ms,
    scale)`` as its ``incoming_bitrate`` (aiortc's is ``RateCounter(1000, 8000)``) and a
    built-in ``min`` for its ``OveruseEstimator.update_min_frame_period``; ``None`` puts
    aiortc's own back. ``RTCRtpReceiver.__init__`` looks up the module-level
    ``rtcrtpreceiver.RemoteBitrateEstimator`` for each video receiver. Idempotent;
    receivers already made keep theirs. Any thread."""
    global _aiortc_estimator, _patched_estimator
    from aiortc import rate, rtcrtpreceiver

    if _aiortc_estimator is None:
        _aiortc_estimator = rtcrtpreceiver.RemoteBitrateEstimator
    if make_rate is None:
        rtcrtpreceiver.RemoteBitrateEstimator = _aiortc_estimator  # type: ignore[misc]
        return
    if _patched_estimator is not None and _patched_estimator[0] is make_rate:
        rtcrtpreceiver.RemoteBitrateEstimator = _patched_estimator[1]  # type: ignore[misc]
        return
    history = rate.MIN_FRAME_PERIOD_HISTORY_LENGTH
    # the window and scale aiortc's own estimator counts with
    aiortc_counter = _aiortc_estimator().incoming_bitrate
    window, scale = aiortc_counter._window_size, aiortc_counter._scale

    class OveruseEstimator(rate.OveruseEstimator):
        def update_min_frame_period(self, ts_delta: float) -> float:
            # aiortc: the smallest of the last ``history`` intervals and this one, found
            # with a Python loop per frame
            hist = self.ts_delta_hist
            if len(hist) >= history:
                del hist[0]
            smallest = min(hist, default=ts_delta)
            hist.append(ts_delta)
            return min(smallest, ts_delta)

    base: Any = _aiortc_estimator
    make: Callable[[int, int], Any] = make_rate

    class RemoteBitrateEstimator(base):
        def __init__(self) -> None:
            super().__init__()
            self.incoming_bitrate = make(window, scale)
            self.estimator = OveruseEstimator()

    _patched_estimator = (make_rate, RemoteBitrateEstimator)
    rtcrtpreceiver.RemoteBitrateEstimator = RemoteBitrateEstimator  # type: ignore[misc]


def bitrate_estimator_problems() -> list[str]:
    """What :func:`patch_bitrate_estimator` needs of aiortc, in words ([] = all there)."""
    from aiortc import rate, rtcrtpreceiver

    problems = []
    if "= RemoteBitrateEstimator()" not in _source(rtcrtpreceiver.RTCRtpReceiver):
        problems.append("RTCRtpReceiver.__init__ making rtcrtpreceiver.RemoteBitrateEstimator")
    if not isinstance(getattr(rate, "MIN_FRAME_PERIOD_HISTORY_LENGTH", None), int):
        problems.append("aiortc.rate.MIN_FRAME_PERIOD_HISTORY_LENGTH")
    try:
        estimator = (_aiortc_estimator or rtcrtpreceiver.RemoteBitrateEstimator)()
        incoming = getattr(estimator, "incoming_bitrate", None)
        if type(incoming) is not rate.RateCounter:
            problems.append("aiortc RemoteBitrateEstimator.incoming_bitrate (a RateCounter)")
        elif not isinstance(getattr(incoming, "_window_size", None), int) or not isinstance(
            getattr(incoming, "_scale", None), int
        ):
            problems.append("aiortc RateCounter._window_size/_scale")
        overuse = getattr(estimator, "estimator", None)
        if type(overuse) is not rate.OveruseEstimator or not isinstance(
            getattr(overuse, "ts_delta_hist", None), list
        ):
            problems.append("aiortc RemoteBitrateEstimator.estimator (ts_delta_hist)")
        for cls, names in (
            (rate.RateCounter, ("add", "rate", "reset")),
            (rate.OveruseEstimator, ("update_min_frame_period",)),
        ):
            for name in names:
                if not callable(getattr(cls, name, None)):
                    problems.append(f"aiortc {cls.__name__}.{name}")
    except Exception as exc:  # a changed constructor signature and the like
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


# --- aioice: ICE that reports completion at once (_transport/ice_prompt.py) ---------------------
#: aiortc's own ``rtcicetransport.Connection`` (aioice's), kept when first patched
_aioice_connection: Any = None
_prompt_connection: Any = None


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Read a finished task's outcome (its error reached whoever waited, or nobody was
    waiting any more), so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _make_prompt_connection(base: Any) -> Any:
    class PromptConnection(base):
        """aioice's ``Connection`` whose ``connect()`` returns when ICE completes, not
        at the end of the current 20 ms pacing sleep (ice_prompt.py). Media loop."""

        _nbrtc_settled: asyncio.Future[None] | None = None
        _nbrtc_inner: asyncio.Task[None] | None = None

        async def connect(self) -> None:
            # (aiortc calls it once per connection: RTCIceTransport.start guards it)
            settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._nbrtc_settled = settled
            inner = asyncio.ensure_future(super().connect())
            inner.add_done_callback(_retrieve)
            self._nbrtc_inner = inner
            try:
                await asyncio.wait((inner, settled), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                inner.cancel()
                raise
            finally:
                self._nbrtc_settled = None
            if not inner.done() and settled.done():
                return  # completed: aioice's connect ends at its next pacing tick
            await inner  # it ended first: its result, or aioice's error

        def _check_list_maybe_complete(self) -> bool:
            completed: bool = super()._check_list_maybe_complete()
            settled = self._nbrtc_settled
            if completed and settled is not None and not settled.done():
                settled.set_result(None)
            return completed

        async def close(self) -> None:
            # a connect task still in its last pacing tick ends first, so it starts no
            # consent check on a closed connection
            inner = self._nbrtc_inner
            if inner is not None and not inner.done():
                inner.cancel()
                await asyncio.wait((inner,))
            await super().close()

    return PromptConnection


def _make_quiet_ice_transport(base: Any) -> Any:
    class RTCIceTransport(base):
        """aiortc's ``RTCIceTransport`` whose ``start()`` on a closed transport returns
        instead of raising. Its only caller, aiortc's ``RTCPeerConnection.__connect``,
        calls it again for each bundled section and for SCTP after the previous one's
        DTLS started; a peer closed meanwhile made that call raise ``InvalidStateError``
        in a task nobody reads ("Task exception was never retrieved", the traceback
        keeping the closed peer alive). The prompt ICE return (ice_prompt.py) makes a
        close land there more often: a widget closed just after ICE completed."""

        async def start(self, remoteParameters: Any) -> None:
            if self.state == "closed":
                return
            await super().start(remoteParameters)

    return RTCIceTransport


#: aiortc's own RTCIceTransport (as rtcpeerconnection uses it), kept when first patched
_aiortc_ice_transport: Any = None
_quiet_ice_transport: Any = None


def patch_ice_connection(on: bool) -> None:
    """Make aiortc's ``RTCIceGatherer`` create prompt ICE connections from now on (``on``)
    or aioice's own again, and its ``RTCPeerConnection`` ICE transports whose ``start()``
    is quiet once closed (see ``_make_quiet_ice_transport``). ``RTCIceGatherer.__init__``
    and ``RTCPeerConnection`` look up the module-level ``rtcicetransport.Connection`` and
    ``rtcpeerconnection.RTCIceTransport``. Idempotent; objects already made keep their
    class. Any thread."""
    global _aioice_connection, _prompt_connection, _aiortc_ice_transport, _quiet_ice_transport
    from aiortc import rtcicetransport, rtcpeerconnection

    if _aioice_connection is None:
        _aioice_connection = rtcicetransport.Connection
        _aiortc_ice_transport = rtcpeerconnection.RTCIceTransport
    if not on:
        rtcicetransport.Connection = _aioice_connection  # type: ignore[misc]
        rtcpeerconnection.RTCIceTransport = _aiortc_ice_transport  # type: ignore[misc]
        return
    if _prompt_connection is None:
        _prompt_connection = _make_prompt_connection(_aioice_connection)
        _quiet_ice_transport = _make_quiet_ice_transport(_aiortc_ice_transport)
    rtcicetransport.Connection = _prompt_connection  # type: ignore[misc]
    rtcpeerconnection.RTCIceTransport = _quiet_ice_transport  # type: ignore[misc]


def ice_connection_problems() -> list[str]:
    """What :func:`patch_ice_connection` needs of aioice/aiortc, in words ([] = all there)."""
    from aioice import ice
    from aiortc import rtcicetransport, rtcpeerconnection

    problems = []
    if "Connection(" not in _source(rtcicetransport.RTCIceGatherer.__init__):
        problems.append("aiortc RTCIceGatherer.__init__ making rtcicetransport.Connection")
    if "RTCIceTransport(" not in _source(rtcpeerconnection.RTCPeerConnection):
        problems.append("aiortc RTCPeerConnection making rtcpeerconnection.RTCIceTransport")
    transport: Any = _aiortc_ice_transport or getattr(rtcpeerconnection, "RTCIceTransport", None)
    if "raise InvalidStateError" not in _source(getattr(transport, "start", None)):
        problems.append("aiortc RTCIceTransport.start() (raises once closed)")
    base = _aioice_connection or getattr(rtcicetransport, "Connection", None)
    if not (isinstance(base, type) and issubclass(base, ice.Connection)):
        problems.append("aiortc rtcicetransport.Connection (aioice's Connection)")
        return problems
    for name in ("connect", "close"):
        if not inspect.iscoroutinefunction(getattr(base, name, None)):
            problems.append(f"aioice Connection.{name}() (a coroutine)")
    source = _source(ice.Connection._check_list_maybe_complete)
    if "ICE_COMPLETED" not in source or "-> bool" not in source:
        problems.append("aioice Connection._check_list_maybe_complete() -> bool (ICE_COMPLETED)")
    connect = _source(ice.Connection.connect)
    if "_check_list_state.get()" not in connect or "asyncio.sleep(" not in connect:
        problems.append("aioice Connection.connect() pacing and check-list outcome")
    return problems


# --- aiortc: sending a received encoded frame on (_media/passthrough.py) -----------------------
def transceiver_mime(transceiver: Any) -> str | None:
    """The negotiated codec a transceiver's sender uses (``_codecs[0]``, the codec aiortc's
    ``RTCRtpSender.send`` starts with), e.g. ``"video/VP8"``; None before negotiation."""
    codecs = getattr(transceiver, "_codecs", None)
    return str(codecs[0].mimeType) if codecs else None


def sender_wants_keyframe(sender: Any) -> bool:
    """Whether ``sender`` owes its page a keyframe (a PLI arrived: ``__force_keyframe``);
    aiortc clears it when it encodes the next frame, never when it packs one."""
    return bool(getattr(sender, "_RTCRtpSender__force_keyframe", False))


def force_keyframe(sender: Any) -> None:
    """Make ``sender`` encode its next frame as a keyframe (what a PLI does)."""
    sender._send_keyframe()


def passthrough_problems() -> list[str]:
    """What :mod:`nbrtc._media.passthrough` needs of aiortc, in words ([] = all there)."""
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver

    problems = decoder_handoff_problems()
    if "_codecs" not in RTCRtpTransceiver.__init__.__code__.co_names:
        problems.append("RTCRtpTransceiver._codecs")
    if not callable(getattr(RTCRtpSender, "_send_keyframe", None)):
        problems.append("RTCRtpSender._send_keyframe()")
    if "_RTCRtpSender__force_keyframe" not in RTCRtpSender.__init__.__code__.co_names:
        problems.append("RTCRtpSender.__force_keyframe")
    next_frame = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if "pack" not in getattr(getattr(next_frame, "__code__", None), "co_names", ()):
        problems.append("RTCRtpSender._next_encoded_frame() packing encoded packets")
    return problems


def jitter_buffer_hole(receiver: Any) -> int | None:
    """Where a video receiver's jitter buffer waits for a missing packet while it holds
    newer ones: the missing packet's offset from the buffer's origin, None when no held
    packet follows a hole. aiortc hands on no frame past such a hole until 512 newer
    packets overflow the buffer. Uses the buffer's private ``_origin``, ``_capacity`` and
    ``_packets`` (checked by :func:`video_receiver_problems`). Media loop."""
    jb = receiver._RTCRtpReceiver__jitter_buffer
    origin = jb._origin
    if origin is None:
        return None
    cap, slots = jb._capacity, jb._packets
    hole = None
    for count in range(cap):
        if slots[(origin + count) % cap] is None:
            if hole is None:
                hole = count
        elif hole is not None:
            return hole
    return None


def reset_jitter_buffer(receiver: Any) -> None:
    """Drop the partial frame state of a receiver's jitter buffer (``remove(capacity)``,
    ``_origin = None``: the next packet is the new origin) and make its NACK generator
    (``__nack_generator``: ``missing``, ``max_seq``) forget the packets lost in a gap."""
    jb = receiver._RTCRtpReceiver__jitter_buffer
    if jb._origin is not None:
        jb.remove(jb.capacity)
        jb._origin = None
    nack = receiver._RTCRtpReceiver__nack_generator
    if nack is not None:
        nack.missing.clear()
        nack.max_seq = None


# --- aiortc: MediaPlayer ----------------------------------------------------------------------
def player_container(player: Any) -> Any:
    """The PyAV container of an aiortc ``MediaPlayer`` (name-mangled ``__container``), or
    None: its decoder thread ends the track without a word when decoding fails."""
    return getattr(player, "_MediaPlayer__container", None)


def set_player_container(player: Any, container: Any) -> None:
    """Replace a ``MediaPlayer``'s container before its decoder thread starts (it starts
    with the first ``recv``), e.g. by one that remembers decode errors."""
    player._MediaPlayer__container = container


# --- probes: which internals exist --------------------------------------------------------------
def _coroutine_methods(cls: type, names: Iterable[str], label: str) -> list[str]:
    return [
        f"{label}.{name}()"
        for name in names
        if not inspect.iscoroutinefunction(getattr(cls, name, None))
    ]


def hook_problems() -> list[str]:
    """Internals of the candidate-gathering hooks every stream needs (see module doc)."""
    import aioice.ice
    import aioice.turn

    problems = [
        f"aioice.ice.{name}()"
        for name in ("get_host_addresses", "relayed_candidate")
        if not callable(getattr(aioice.ice, name, None))
    ]
    turn_udp = getattr(aioice.turn, "TurnClientUdpProtocol", None)
    if not callable(getattr(turn_udp, "error_received", None)):
        problems.append("aioice.turn.TurnClientUdpProtocol.error_received()")
    return problems


def refused_turn_problems() -> list[str]:
    """``Transaction.__future``, which :func:`fail_transaction` needs."""
    import aioice.stun

    source = _source(aioice.stun.Transaction)
    return [] if "self.__future" in source else ["aioice stun.Transaction.__future"]


def ice_restart_problems() -> list[str]:
    """What ``_ice_restart`` needs of aioice/aiortc and is missing or changed, in words."""
    from aioice import ice, stun
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

    problems: list[str] = []
    try:
        conn = ice.Connection(ice_controlling=False)
        for name in (
            "_local_username",
            "_local_password",
            "_remote_candidates_end",
            "_nominated",
            "_check_list",
            "_query_consent_task",
            "_closing",
            "remote_username",
            "remote_password",
        ):
            if not hasattr(conn, name):
                problems.append(f"aioice Connection.{name}")
        for name in (
            "request_received",
            "check_complete",
            "check_incoming",
            "query_consent",
            "build_request",
            "_valid_username",
        ):
            if not callable(getattr(ice.Connection, name, None)):
                problems.append(f"aioice Connection.{name}()")
        for name in ("CONSENT_INTERVAL", "CONSENT_FAILURES"):
            if not isinstance(getattr(ice, name, None), (int, float)):
                problems.append(f"aioice.ice.{name}")
        pair = ice.CandidatePair(None, None)  # type: ignore[arg-type]
        for name in ("task", "state", "nominated", "remote_nominated"):
            if not hasattr(pair, name):
                problems.append(f"aioice CandidatePair.{name}")
        if not hasattr(getattr(ice.CandidatePair, "State", None), "FROZEN"):
            problems.append("aioice CandidatePair.State.FROZEN")
        for name in ("check_message_integrity", "add_message_integrity"):
            if not callable(getattr(stun.Message, name, None)):
                problems.append(f"aioice stun.Message.{name}()")

        if not problems:
            # The read-only properties must read the private attributes we write, and
            # incoming USERNAMEs must be checked against remote_username.
            set_local_credentials(conn, "nbrtcTst", "nbrtcTestPassword0123456")
            if conn.local_username != "nbrtcTst" or conn.local_password != (
                "nbrtcTestPassword0123456"
            ):
                problems.append("aioice local_username/local_password properties")
            conn.remote_username = "rmte"
            if not conn._valid_username("nbrtcTst:rmte") or conn._valid_username("nbrtcTst:othr"):
                problems.append("aioice Connection._valid_username() semantics")

        gatherer = RTCIceGatherer(iceServers=[])
        if not hasattr(gatherer, "_remote_candidates_end"):
            problems.append("aiortc RTCIceGatherer._remote_candidates_end")
        gconn = gatherer_connection(gatherer)
        if gconn is None:
            problems.append("aiortc RTCIceGatherer._connection")
        else:
            gconn._local_username = "nbrtcGat"
            if gatherer.getLocalParameters().usernameFragment != "nbrtcGat":
                problems.append("aiortc RTCIceGatherer.getLocalParameters() source")
            if getattr(RTCIceTransport(gatherer), "_connection", None) is not gconn:
                problems.append("aiortc RTCIceTransport._connection")
    except Exception as exc:  # a changed constructor signature and the like
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def netem_problems() -> list[str]:
    """What ``_netem`` needs of aiortc's ``RTCDtlsTransport`` and clock, in words."""
    from aiortc import clock
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    problems = _coroutine_methods(RTCDtlsTransport, DTLS_PACKET_METHODS, "RTCDtlsTransport")
    handler = getattr(RTCDtlsTransport, "_handle_rtp_data", None)
    if handler is not None:
        try:
            params: Any = inspect.signature(handler).parameters
        except (TypeError, ValueError):
            params = {}
        if "arrival_time_ms" not in params:
            problems.append("the arrival_time_ms argument of RTCDtlsTransport._handle_rtp_data")
    if not callable(getattr(clock, "current_ms", None)):
        problems.append("aiortc.clock.current_ms")
    return problems


def video_receiver_problems() -> list[str]:
    """What ``_rtp_recovery`` needs of aiortc's video receiver, in words. Builds a
    throwaway receiver (no transport, no loop)."""
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtp import RtpPacket

    problems = _coroutine_methods(
        RTCRtpReceiver, ("_handle_rtp_packet", "_send_rtcp_pli"), "aiortc RTCRtpReceiver"
    )
    try:
        receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))  # type: ignore[arg-type]
        jb = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if not isinstance(jb, JitterBuffer):
            problems.append("aiortc RTCRtpReceiver.__jitter_buffer")
        else:
            if not hasattr(jb, "_origin") or not callable(getattr(jb, "remove", None)):
                problems.append("aiortc JitterBuffer._origin/remove()")
            if not isinstance(getattr(jb, "capacity", None), int):
                problems.append("aiortc JitterBuffer.capacity")
            if not isinstance(getattr(jb, "_capacity", None), int) or not isinstance(
                getattr(jb, "_packets", None), list
            ):
                problems.append("aiortc JitterBuffer._capacity/_packets")
        nack = getattr(receiver, "_RTCRtpReceiver__nack_generator", None)
        if (
            nack is None
            or not hasattr(nack, "max_seq")
            or not isinstance(getattr(nack, "missing", None), set)
        ):
            problems.append("aiortc RTCRtpReceiver.__nack_generator (max_seq, missing)")
        for name, kind in (
            ("_RTCRtpReceiver__kind", str),
            ("_RTCRtpReceiver__codecs", dict),
            ("_RTCRtpReceiver__rtx_ssrc", dict),
            ("_enabled", bool),
        ):
            if not isinstance(getattr(receiver, name, None), kind):
                problems.append(f"aiortc RTCRtpReceiver.{name.replace('_RTCRtpReceiver', '')}")
        if not {"data", "timestamp"} <= set(inspect.signature(JitterFrame).parameters):
            problems.append("aiortc JitterFrame(data, timestamp)")
        if not hasattr(RtpPacket(marker=1), "marker"):
            problems.append("aiortc RtpPacket.marker")
    except Exception as exc:  # a changed constructor signature and the like
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def stats_problems() -> list[str]:
    """What the kernel-side stats read (candidates, inbound RTP, encoder cap), in words."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
    from aiortc.rtcrtpsender import RTCRtpSender

    problems = []
    for cls, attr in (
        (RTCRtpSender, "__encoder"),
        (RTCRtpReceiver, "__remote_streams"),
        (RTCRtpReceiver, "__rtx_ssrc"),
        (StreamStatistics, "_clockrate"),
    ):
        if f"self.{attr}" not in _source(cls):
            problems.append(f"aiortc {cls.__name__}.{attr}")
    return problems


def player_problems() -> list[str]:
    """``MediaPlayer.__container``, which :func:`player_container` reads."""
    from aiortc.contrib.media import MediaPlayer

    ok = "self.__container" in _source(MediaPlayer)
    return [] if ok else ["aiortc MediaPlayer.__container"]


def _source(obj: Any) -> str:
    """The source text of a function, method or class (the probes read it), '' when none
    is shipped (then every internal it should show counts as missing). Any thread.

    Cut from the module's cached lines by indentation, not by ``inspect.getsource``:
    that tokenizes the block and, for a class, parses its whole module first; the
    probes' ten reads took 58 ms of the kernel's main thread inside the first widget's
    constructor, so the first camera of every kernel started that much later.
    """
    try:
        target = inspect.unwrap(obj)
        lines = linecache.getlines(inspect.getsourcefile(target) or "")
        if inspect.isclass(target):
            head = re.compile(rf"\s*class\s+{re.escape(target.__name__)}\b")
            start = next(i for i, line in enumerate(lines) if head.match(line))
        else:
            start = target.__code__.co_firstlineno - 1
    except (OSError, TypeError, AttributeError, StopIteration):
        return ""
    if not 0 <= start < len(lines):
        return ""
    # decorators first, then the def/class line; its body is every following line
    # indented deeper (blank lines and comments inside it included)
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start
    while end < len(lines) - 1 and lines[end].lstrip().startswith("@"):
        end += 1
    end += 1
    while end < len(lines) and (
        not lines[end].strip()
        or lines[end].lstrip().startswith("#")
        or len(lines[end]) - len(lines[end].lstrip()) > indent
        or lines[end - 1].rstrip().endswith(("(", ",", "\\"))
    ):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[start:end])


@dataclass(frozen=True)
class Feature:
    """One nbrtc feature that relies on upstream internals."""

    name: str
    #: missing or changed internals, in words ([] = all there)
    probe: Callable[[], list[str]]
    #: what happens without it; None: nothing works without it (``ImportError``)
    degrades: str | None


FEATURES: tuple[Feature, ...] = (
    Feature(
        "ICE candidate gathering hooks (loopback candidates, TURN reports)", hook_problems, None
    ),
    Feature(
        "ICE restart",
        ice_restart_problems,
        "a re-offer with new ICE credentials (restart_ice, reconnection after a lost path) "
        "fails in words instead of restarting ICE",
    ),
    Feature(
        "network impairment",
        netem_problems,
        "set_network() raises RuntimeError; everything else works",
    ),
    Feature(
        "video recovery after a network gap",
        video_receiver_problems,
        "video recovers from a network gap as slowly as plain aiortc (up to ~8 s frozen)",
    ),
    Feature(
        "the lighter decoded-frame hand-off",
        decoder_handoff_problems,
        "decoded frames reach the media loop as in plain aiortc (a little more CPU per frame)",
    ),
    Feature(
        "the lighter receive-side bitrate estimate",
        bitrate_estimator_problems,
        "video receivers estimate the bitrate as in plain aiortc (a little more CPU per packet)",
    ),
    Feature(
        "ICE completion without the pacing delay",
        ice_connection_problems,
        "the kernel's ICE completes as in plain aiortc (up to 20 ms later than it could)",
    ),
    Feature(
        "unchanged processed frames sent without re-encoding",
        passthrough_problems,
        "process() re-encodes every frame, also those it left unchanged (more CPU)",
    ),
    Feature(
        "kernel-side stats details",
        stats_problems,
        "the kernel's candidates, selected pair, inbound RTP figures and bitrate cap of its "
        "own encoder are missing from stats and the Inspector",
    ),
    Feature(
        "closed TURN ports named at once",
        refused_turn_problems,
        "a closed TURN port over UDP is reported as 'no answer' after 5 s",
    ),
    Feature(
        "decode errors of file and URL sources",
        player_problems,
        "a damaged file or stream looks like one that ended, without a reason",
    ),
)


_works: dict[Callable[[], list[str]], bool] = {}


def works(probe: Callable[[], list[str]], instead: str) -> bool:
    """Whether ``probe`` (one of the ``*_problems`` functions) finds nothing missing; probed
    once per process. When something is missing, ``import nbrtc`` already warned in words
    (:func:`check`); here it is only logged at debug level with ``instead`` (what nbrtc
    does instead). Any thread."""
    if probe not in _works:
        problems = probe()
        _works[probe] = not problems
        if problems:
            log.debug("nbrtc: %s: %s", instead, ", ".join(problems))
    return _works[probe]


def feature_problem(feature: Feature, problems: list[str]) -> str:
    """Why ``feature`` is unavailable, in words: which package versions, what is missing,
    what happens instead and what to do."""
    versions = ", ".join(f"{d} {installed_version(d)}" for d in TESTED)
    tested = ", ".join(f"{d}{tested_range(d)}" for d in TESTED)
    effect = feature.degrades or "nbrtc cannot run"
    install = " ".join(f"'{d}{tested_range(d)}'" for d in TESTED)
    return (
        f"nbrtc: {feature.name} is unavailable with the installed {versions} (tested: "
        f"{tested}): missing or changed internals: {', '.join(problems)}. Effect: {effect}. "
        f"Install the tested versions: pip install {install}"
    )


def check() -> None:
    """Check the installed aiortc/aioice once, at ``import nbrtc``; see the module doc.

    Raises ``ImportError`` in words on an untested version (unless ``NBRTC_ALLOW_UNTESTED``
    is ``1``) or on a missing internal nothing works without; warns
    (:class:`UpstreamWarning`) once per feature that degrades. Any thread; idempotent.
    """
    allow = os.environ.get(ALLOW_UNTESTED, "") == "1"
    for dist in TESTED:
        problem = version_problem(dist)
        if problem is None:
            continue
        if not allow:
            raise ImportError(problem)
        warnings.warn(problem, UpstreamWarning, stacklevel=2)
    for feature in FEATURES:
        try:
            problems = feature.probe()
        except Exception as exc:  # a module or class renamed: the feature's internals are gone
            problems = [f"{type(exc).__name__}: {exc}"]
        if not problems:
            continue
        text = feature_problem(feature, problems)
        if feature.degrades is None:
            raise ImportError(text)
        warnings.warn(text, UpstreamWarning, stacklevel=2)
