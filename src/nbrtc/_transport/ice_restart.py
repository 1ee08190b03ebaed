"""A real ICE restart on the kernel side, when the browser re-offers with new credentials.

What an ICE restart is (RFC 8445 section 9, JSEP 4.1.2): the offerer (always the browser
in nbrtc) calls ``pc.restartIce()`` and sends a re-offer with a new ``a=ice-ufrag`` and
``a=ice-pwd``, then trickles candidates of a new generation (Chromium opens new ports).
The answerer must answer with new credentials of its own; both sides run connectivity
checks again, the controlling side (the browser) nominates a new pair, and the data path
moves to it. The DTLS session, SRTP keys and media tracks stay as they are; until the new
pair is nominated, media keeps flowing on the old one (make-before-break).

aiortc 1.16 / aioice 0.13 have no ICE restart: on a re-offer aiortc stores the new remote
parameters but never hands them to the running aioice ``Connection`` (its
``RTCIceTransport.start`` returns at once when already started), its answer repeats the
old kernel credentials (read from that connection), aioice answers the browser's new
checks with 401 (USERNAME mismatch) and refuses the new candidates once end-of-candidates
was signalled for the first generation. Upstream offers no API for any of this, so this
module changes the live aioice connection itself. ``restart()`` must run BEFORE the caller
applies the re-offer (``setRemoteDescription``, ``createAnswer``, ``setLocalDescription``).

What ``restart()`` does to the connection:

* new local ufrag/pwd (8 and 24 random alphanumerics: more than the 24 and 128 bits RFC
  8445 section 5.3 asks for), which ``RTCIceGatherer.getLocalParameters()`` then puts in
  the answer; the remote ufrag/pwd of the re-offer, which aioice uses to authenticate the
  browser's checks (``_valid_username``, ``local_password``) and to sign its own triggered
  checks and consent checks (``build_request``, ``remote_password``);
* end-of-candidates is cleared (on aioice and on aiortc's gatherer), so the new
  generation's trickled candidates are accepted;
* every candidate pair goes back to Frozen with its nomination flags cleared (checks in
  flight, signed with the old credentials, are cancelled): the browser's checks with the
  new credentials trigger checks back (aioice's ``check_incoming``), also learning
  peer-reflexive candidates, and the pair the browser nominates with USE-CANDIDATE becomes
  aioice's nominated pair, which is the data path (``sendto``). aioice's own check loop
  (``connect``) is over, so the kernel only makes triggered checks: enough for the
  controlled side, as the browser checks every pair;
* make-before-break: the nominated pair is never cleared, so media keeps flowing on it
  (aiortc's RTP sender loop ends for good on a ConnectionError from ``send``). Until the
  new generation has a nominated pair, checks signed with the OLD credentials (the
  browser's keepalives/consent on the old pair) are still answered, and aioice's consent
  task is paused, since its checks would now carry the new credentials to the browser's
  old port and fail. Once a new pair is nominated, the old credentials are forgotten and
  aioice's ``query_consent`` runs again (new credentials, new pair). If no new pair is
  nominated within ``RESTART_TIMEOUT`` seconds (RFC 7675's consent timeout), the restart
  is given up the same way: consent then fails on the old pair and the connection closes,
  which is the right outcome for a failed restart.

Not done: the kernel keeps its host candidates (same sockets, same ports): new ones are
not needed for the browser's new candidates to pair with them. Only BUNDLE is supported,
i.e. a single ICE transport per peer connection, which is all nbrtc negotiates; ``restart``
raises otherwise. If the re-offer is then rejected by ``setRemoteDescription``, the
connection is already in the new generation: the browser rolls back to the old one, and
the restart is given up after ``RESTART_TIMEOUT`` (the connection then closes).

Private internals relied on, all reached through ``nbrtc._upstream`` (which names each
and checks them at import; ``check_supported()`` raises in words if one is missing):

* aioice ``Connection``: ``_local_username`` / ``_local_password`` (the ``local_*``
  properties are read-only), ``remote_username`` / ``remote_password``,
  ``_remote_candidates_end``, ``_nominated``, ``_check_list``, ``_query_consent_task``,
  ``_closing``, and the methods ``request_received`` and ``check_complete``, which are
  wrapped per instance (instance attributes shadow the class's methods), plus
  ``query_consent``, ``build_request`` and ``_valid_username``;
* aioice ``CandidatePair``: ``task``, ``state``, ``nominated``, ``remote_nominated``;
* aiortc: ``RTCIceTransport._connection`` and ``RTCIceGatherer._remote_candidates_end``;
  ``RTCIceGatherer.getLocalParameters()`` reading the connection's local credentials.

Thread: everything runs on the peer connection's asyncio loop (``needs_restart`` and
``remote_ice_credentials`` only read; ``check_supported`` may run anywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _upstream

if TYPE_CHECKING:
    from aioice.ice import CandidatePair, Connection, StunProtocol
    from aioice.stun import Message
    from aiortc import RTCPeerConnection
    from aiortc.rtcicetransport import RTCIceTransport

log = logging.getLogger(__name__)

#: Lengths of the kernel's new credentials: 8 and 24 alphanumerics carry ~47 and ~142
#: bits, above RFC 8445's minimum of 24 and 128 bits (aioice's own 4 give ~23.8).
UFRAG_LENGTH = 8
PASSWORD_LENGTH = 24

#: Seconds to wait for the browser to nominate a pair of the new generation before the
#: restart is given up (RFC 7675's consent timeout).
RESTART_TIMEOUT = 30.0

_STATE_ATTR = "_nbrtc_ice_restart"
_ALPHABET = string.ascii_letters + string.digits
_supported = False


# --- SDP ------------------------------------------------------------------------------------
def remote_ice_credentials(sdp: str) -> tuple[str, str] | None:
    """``(ufrag, pwd)`` of the first media section of ``sdp``, else of the session level.

    A media-level attribute overrides the session-level one (RFC 8839 section 5.4).
    ``None`` if either is missing. Pure function, any thread.
    """
    session: dict[str, str] = {}
    media: dict[str, str] = {}
    current = session
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if current is media:
                break  # only the first media section counts: with BUNDLE all agree
            current = media
            continue
        for key in ("ice-ufrag", "ice-pwd"):
            prefix = f"a={key}:"
            if line.startswith(prefix) and key not in current:
                current[key] = line[len(prefix) :].strip()
    ufrag = media.get("ice-ufrag") or session.get("ice-ufrag")
    pwd = media.get("ice-pwd") or session.get("ice-pwd")
    if not ufrag or not pwd:
        return None
    return ufrag, pwd


# --- support check --------------------------------------------------------------------------
def check_supported() -> None:
    """Raise ``RuntimeError`` if aioice/aiortc lack the internals this module relies on
    (``_upstream.ice_restart_problems``), naming the installed versions, the tested ones
    and what is missing.

    Builds throwaway objects (no sockets, no loop needed), so any thread. Cached once it
    passed.
    """
    global _supported
    if _supported:
        return
    problems = _upstream.ice_restart_problems()
    if problems:
        raise RuntimeError(
            "ICE restart is not supported with the installed "
            f"aioice {_upstream.installed_version('aioice')} / "
            f"aiortc {_upstream.installed_version('aiortc')} "
            f"(tested: aioice{_upstream.tested_range('aioice')}, "
            f"aiortc{_upstream.tested_range('aiortc')}); missing or changed internals: "
            + ", ".join(problems)
        )
    _supported = True


# --- peer connection helpers ----------------------------------------------------------------
def _ice_transports(pc: RTCPeerConnection) -> list[RTCIceTransport]:
    """The distinct ICE transports of ``pc`` (one with BUNDLE), in m-line order."""
    seen: list[RTCIceTransport] = []
    dtls = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    for d in dtls:
        ice = d.transport
        if ice.state != "closed" and ice not in seen:
            seen.append(ice)
    return seen


def _credentials_in_use(pc: RTCPeerConnection, transport: RTCIceTransport) -> str | None:
    """The remote ufrag the transport uses, or that the current remote description has."""
    conn = _upstream.ice_transport_connection(transport)
    if conn.remote_username is not None:
        return conn.remote_username
    desc = pc.remoteDescription  # not started yet: aiortc will use this one
    creds = remote_ice_credentials(desc.sdp) if desc is not None else None
    return creds[0] if creds else None


def needs_restart(pc: RTCPeerConnection, offer_sdp: str) -> bool:
    """Whether ``offer_sdp`` (a re-offer) carries an ICE ufrag other than the one in use.

    False for a first offer (nothing in use yet) and for an offer without credentials.
    Call on the pc's loop before ``setRemoteDescription(offer)``.
    """
    creds = remote_ice_credentials(offer_sdp)
    if creds is None:
        return False
    for transport in _ice_transports(pc):
        in_use = _credentials_in_use(pc, transport)
        if in_use is not None and in_use != creds[0]:
            return True
    return False


def _fresh(length: int, avoid: str | None) -> str:
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if value != avoid:
            return value


# --- restart --------------------------------------------------------------------------------
@dataclass
class _OldCredentials:
    """The generation that carries the nominated pair while a restart is pending."""

    local_ufrag: str
    local_pwd: str
    remote_ufrag: str


@dataclass
class _RestartState:
    """Per-connection restart bookkeeping, kept on the aioice connection itself."""

    pending: bool = False
    previous: _OldCredentials | None = None
    consent_paused: bool = False
    timeout: asyncio.TimerHandle | None = None
    done: asyncio.Event | None = None
    restarts: int = 0
    #: Checks of an old generation answered while restarts were pending (diagnostics).
    old_generation_answers: int = 0
    #: The pair the last restart ended with, None while pending or if it was given up.
    outcome: dict[str, Any] | None = None


async def restart(pc: RTCPeerConnection, offer_sdp: str) -> dict[str, Any]:
    """Prepare ``pc``'s ICE transport for the ICE restart that ``offer_sdp`` asks for.

    Call on the pc's loop, when ``needs_restart(pc, offer_sdp)`` is true, BEFORE
    ``setRemoteDescription(offer)``, ``createAnswer()`` and ``setLocalDescription(answer)``:
    the answer then carries the kernel's new credentials. Serialise it with the rest of
    the signaling (not concurrently with another negotiation of the same pc).

    Returns plain data for the history log, never passwords: ``{"old_local_ufrag",
    "new_local_ufrag", "old_remote_ufrag", "new_remote_ufrag"}``. Raises ``ValueError``
    if the offer has no ICE credentials; ``RuntimeError`` if unsupported (see
    ``check_supported``), if the pc has more than one ICE transport (no BUNDLE) or if its
    ICE transport is closed or failed.
    """
    check_supported()
    from aioice.ice import CandidatePair

    creds = remote_ice_credentials(offer_sdp)
    if creds is None:
        raise ValueError("the re-offer has no a=ice-ufrag/a=ice-pwd")
    transports = _ice_transports(pc)
    if len(transports) != 1:
        raise RuntimeError(
            f"ICE restart needs exactly one (BUNDLE) ICE transport, this pc has {len(transports)}"
        )
    transport = transports[0]
    if transport.state in ("closed", "failed"):
        raise RuntimeError(f"cannot restart an ICE transport that is {transport.state}")
    conn: Connection = _upstream.ice_transport_connection(transport)
    if _upstream.is_closing(conn):
        raise RuntimeError("cannot restart a closed ICE connection")

    state = _install(conn)
    old_local, old_remote = conn.local_username, conn.remote_username
    new_local = _fresh(UFRAG_LENGTH, avoid=old_local)
    remote_ufrag, remote_pwd = creds

    # Make-before-break: remember the credentials of the generation that carries media,
    # unless a pending restart already did (then that older generation still carries it).
    # Everything up to the final await is synchronous, so the connection never runs with
    # half-changed credentials.
    paused: asyncio.Task[None] | None = None
    if _upstream.nominated_pairs(conn) and state.previous is None and old_remote is not None:
        state.previous = _OldCredentials(old_local, conn.local_password, old_remote)
        # Its checks would now carry the new credentials to the browser's old port,
        # fail, and close the connection before the new pair exists.
        paused = _upstream.pause_consent(conn)
        if paused is not None:
            state.consent_paused = True

    # The old generation's check results are void under new credentials: start over from
    # Frozen. The browser's new checks trigger ours (check_incoming); the nominated pair
    # stays nominated until a new one replaces it.
    for pair in _upstream.check_list(conn):
        if pair.task is not None:
            pair.task.cancel()
            pair.task = None
        pair.state = CandidatePair.State.FROZEN
        pair.nominated = False
        pair.remote_nominated = False

    _upstream.set_local_credentials(conn, new_local, _fresh(PASSWORD_LENGTH, avoid=None))
    conn.remote_username = remote_ufrag
    conn.remote_password = remote_pwd
    # New candidates are coming for the new generation, after any end-of-candidates.
    _upstream.reopen_remote_candidates(transport)

    loop = asyncio.get_running_loop()
    if state.timeout is not None:
        state.timeout.cancel()
    state.timeout = loop.call_later(RESTART_TIMEOUT, _give_up, conn, state)
    state.pending = True
    state.outcome = None
    state.restarts += 1
    if state.done is None or state.done.is_set():
        state.done = asyncio.Event()
    info = {
        "old_local_ufrag": old_local,
        "new_local_ufrag": new_local,
        "old_remote_ufrag": old_remote,
        "new_remote_ufrag": remote_ufrag,
    }
    log.info("ICE restart %s", info)
    if paused is not None:
        await asyncio.wait([paused])  # let its transaction clean up; never raises
    return info


def _install(conn: Connection) -> _RestartState:
    """Wrap the connection's request_received and check_complete once; return its state."""
    state: _RestartState | None = conn.__dict__.get(_STATE_ATTR)
    if state is not None:
        return state
    state = _RestartState()
    setattr(conn, _STATE_ATTR, state)

    def wrap_request_received(original: Callable[..., None]) -> Callable[..., None]:
        def request_received(
            message: Message, addr: tuple[str, int], protocol: StunProtocol
        ) -> None:
            # While the new generation has no nominated pair, the browser still checks the
            # old pair (keepalive, consent) with the old credentials: answer those.
            if state.previous is not None and _answer_old_generation(
                conn, state.previous, message, addr, protocol
            ):
                state.old_generation_answers += 1
                return
            original(message, addr, protocol)

        return request_received

    def wrap_check_complete(original: Callable[..., None]) -> Callable[..., None]:
        def check_complete(pair: CandidatePair) -> None:
            original(pair)
            nominated = _upstream.nominated_pairs(conn).get(pair.component)
            if state.pending and pair.nominated and nominated is pair:
                _finish(conn, state, pair)

        return check_complete

    _upstream.wrap_connection_callbacks(conn, wrap_request_received, wrap_check_complete)
    return state


def _answer_old_generation(
    conn: Connection,
    old: _OldCredentials,
    message: Message,
    addr: tuple[str, int],
    protocol: StunProtocol,
) -> bool:
    """Answer a Binding request signed with the old generation's credentials; True if so."""
    from aioice import stun

    if (
        _upstream.is_closing(conn)
        or message.message_method != stun.Method.BINDING
        or "USERNAME" not in message.attributes
        or "MESSAGE-INTEGRITY" not in message.attributes
    ):
        return False
    local, colon, remote = str(message.attributes["USERNAME"]).partition(":")
    if not (colon and local == old.local_ufrag and remote == old.remote_ufrag):
        return False
    if not message.check_message_integrity(old.local_pwd.encode("utf8")):
        return False
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=message.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = addr
    response.add_message_integrity(old.local_pwd.encode("utf8"))
    protocol.send_stun(response, addr)
    return True


def _describe(pair: CandidatePair) -> dict[str, Any]:
    local, remote = pair.local_candidate, pair.remote_candidate
    return {
        "local": f"{local.type} {local.host}:{local.port}",
        "remote": f"{remote.type} {remote.host}:{remote.port}",
    }


def _end_pending(conn: Connection, state: _RestartState, resume_consent: bool = True) -> None:
    """The pending restart is over (finished, given up, or its stream is closing): stop
    answering the old credentials, cancel the give-up timer, wake waiters, and resume the
    consent checks the restart paused (not for a connection about to close)."""
    state.pending = False
    state.previous = None  # old credentials are no longer answered
    if state.timeout is not None:
        state.timeout.cancel()
        state.timeout = None
    if state.consent_paused and resume_consent:
        state.consent_paused = False
        _upstream.resume_consent(conn)
    if state.done is not None:
        state.done.set()


def _finish(conn: Connection, state: _RestartState, pair: CandidatePair) -> None:
    """The new generation has a nominated pair: it is the data path now."""
    info = _describe(pair)
    state.outcome = info
    log.info("ICE restart complete: selected %s -> %s", info["local"], info["remote"])
    _end_pending(conn, state)


def _give_up(conn: Connection, state: _RestartState) -> None:
    if _upstream.is_closing(conn) or not state.pending:
        return
    log.warning(
        "ICE restart: no new pair nominated within %.0f s; consent now checks the old "
        "pair with the new credentials",
        RESTART_TIMEOUT,
    )
    _end_pending(conn, state)


def forget(pc: RTCPeerConnection) -> None:
    """End any pending restart of ``pc`` now: its give-up timer is cancelled, waiters wake.

    Call on the pc's loop when the stream closes, before ``pc.close()``, so that a closed
    stream's ICE connection is not held by a timer for up to ``RESTART_TIMEOUT`` seconds.
    Idempotent; does nothing for a pc that never restarted.
    """
    for transport in _ice_transports(pc):
        conn = _upstream.ice_transport_connection(transport)
        state: _RestartState | None = conn.__dict__.get(_STATE_ATTR)
        if state is not None and state.pending:
            _end_pending(conn, state, resume_consent=False)


def selected_pair(pc: RTCPeerConnection) -> dict[str, Any] | None:
    """``{"local": "host ip:port", "remote": "..."}`` of the nominated pair, or None.

    For the history log. Call on the pc's loop.
    """
    for transport in _ice_transports(pc):
        pair = _upstream.nominated_pairs(_upstream.ice_transport_connection(transport)).get(1)
        if pair is not None:
            return _describe(pair)
    return None


async def wait_restart_complete(pc: RTCPeerConnection, timeout: float) -> dict[str, Any] | None:
    """Wait until the pending restart has a nominated pair; return it (``selected_pair``).

    Returns at once if no restart is pending; None on timeout, or if the restart was given
    up. Call on the pc's loop.
    """
    for transport in _ice_transports(pc):
        conn = _upstream.ice_transport_connection(transport)
        state: _RestartState | None = conn.__dict__.get(_STATE_ATTR)
        if state is not None and state.pending and state.done is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.done.wait(), timeout)
            if state.outcome is None:
                return None
    return selected_pair(pc)
