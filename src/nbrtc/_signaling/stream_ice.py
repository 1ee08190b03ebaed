"""A kernel stream's ICE and TURN part (``IceMixin``, a part of ``KernelStream``):
the browser's trickled candidates (bounded, ordered, one ICE generation at a time), the
watchdogs that name a missing path in words instead of waiting for aioice's 63.5 s, and
TURN failures from both sides. Media loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from .._transport import ice_restart as _ice_restart
from ..errors import StreamError
from . import renegotiate as _renegotiate
from .candidate import candidate_body, parse_candidate
from .stream_core import StreamCore
from .stream_words import ICE_FAILED_WORDS, is_auth_failure

log = logging.getLogger("nbrtc")

#: How long the browser's end-of-candidates is held back from aioice. aioice declares
#: ICE failed as soon as it has "all" candidates and none works, but a busy browser can
#: still be about to send checks (peer-reflexive candidates) or candidates it gathered
#: late; seen with 16 views starting at once on a loaded machine. Until then, failure is
#: left to the browser and to aioice's own check timeouts.
END_OF_CANDIDATES_GRACE = 5.0
#: How long the kernel's ICE may stay unconnected after the answer before the stream
#: fails in words. aioice fails a candidate pair only when its last STUN retransmission
#: times out, 63.5 s after the first check; peers that can reach each other connect in
#: well under a second on a LAN and within a few seconds through TURN.
ICE_CONNECT_TIMEOUT = 15.0
#: how long a connected stream waits for aioice's nominated pair before naming its path
PATH_SETTLE = 2.0
#: under the relay policy, a page with no candidate this long after the answer cannot reach
#: its TURN server (a browser's TURN allocation takes well under a second when it works;
#: measured 0.1-1.4 s over TCP on the lab network)
PAGE_RELAY_WAIT = 4.0
#: under the "all" policy, a stream whose TURN server refused the credentials fails this
#: long after that refusal when no other path connected meanwhile (host pairs connect in
#: well under a second where they can), in words naming TURN, not at the 15 s watchdog
TURN_AUTH_WAIT = 4.0
#: Remote ICE candidates accepted per stream and ICE generation (an ICE restart starts a
#: new count). aioice pairs every remote candidate with every local one and re-sorts its
#: check list on each addition, so the cost grows quadratically: 2,000 trickled
#: candidates stalled the media loop for 7 s. A browser gathers one candidate per
#: interface, address family and server (host, srflx, relay): a few, rarely 20. RFC 8445
#: section 6.1.2.5 likewise bounds the check list (100 pairs by default).
MAX_REMOTE_CANDIDATES = 40
#: TURN failures kept per stream (both sides)
MAX_TURN_ERRORS = 8


class IceMixin(StreamCore):
    """Candidates, ICE watchdogs and TURN failures of one stream."""

    def take_candidate(self, payload: dict[str, Any] | None) -> bool:
        """Count a trickled candidate against MAX_REMOTE_CANDIDATES (media loop, when its
        message is dispatched, so a flood is refused before any work is queued). False,
        with a ``limit`` reply, once this ICE generation has its share."""
        if payload is None or not payload.get("candidate"):
            return True
        if self._candidates_taken >= MAX_REMOTE_CANDIDATES:
            self._refuse(
                "limit",
                f"this stream already has {MAX_REMOTE_CANDIDATES} remote ICE candidates "
                "(the most nbrtc takes per ICE generation); this one was ignored",
                "candidate",
            )
            return False
        self._candidates_taken += 1
        return True

    def reoffer_arrived(self, sdp: str) -> None:
        """A reoffer was dispatched (media loop, before its task runs): one that the kernel
        asked for and that restarts ICE starts a new candidate count, since the new
        generation's candidates follow it at once (they are counted on dispatch)."""
        if (
            self._reoffers_expected > 0
            and self.sdp_rounds
            and _renegotiate.ice_restart_requested(_renegotiate.page_sdp(self.sdp_rounds[-1]), sdp)
        ):
            self._candidates_taken = 0

    async def add_candidate(self, payload: dict[str, Any] | None) -> None:
        """A trickled browser candidate (None = end of candidates)."""
        async with self._candidate_lock:
            if self.closed:
                return
            if not self._remote_set:
                self._pending.append(payload)
                return
            await self._apply_candidate(payload)

    async def _apply_candidate(self, payload: dict[str, Any] | None) -> None:
        pc = self._pc
        if pc is None or self.closed:
            return
        if payload is None or not payload.get("candidate"):
            log.debug("stream %s: end of browser candidates", self.id)
            if not self._end_pending:
                self._end_pending = True
                self.spawn(self._end_of_candidates_later())
            return
        text = candidate_body(payload["candidate"], wire=True)
        try:
            # the protocol already took the line; read again for its ufrag (Chromium adds it)
            ufrag = parse_candidate(payload["candidate"], wire=True).ufrag
        except ValueError as exc:
            log.debug("stream %s: unparsable candidate %r: %s", self.id, text, exc)
            return
        if ufrag is not None and self.sdp_rounds:
            current = _renegotiate.ice_ufrag(_renegotiate.page_sdp(self.sdp_rounds[-1]))
            if current is not None and ufrag != current:
                # a candidate of the ICE generation an ICE restart replaced
                log.debug("stream %s: dropped a candidate of an old ICE generation", self.id)
                return
        try:
            cand = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            log.debug("stream %s: unparsable candidate %r: %s", self.id, text, exc)
            return
        cand.sdpMid = payload.get("sdpMid")
        cand.sdpMLineIndex = payload.get("sdpMLineIndex")
        log.debug("stream %s: browser candidate %.80s", self.id, text)
        try:
            await pc.addIceCandidate(cand)
        except ValueError as exc:  # e.g. after end-of-candidates: nothing to gain from it
            log.debug("stream %s: candidate not added: %s", self.id, exc)

    async def _end_of_candidates_later(self) -> None:
        """Tell aioice there are no more browser candidates, unless connected by then."""
        await asyncio.sleep(END_OF_CANDIDATES_GRACE)
        async with self._candidate_lock:
            pc = self._pc
            if pc is None or self.closed or pc.iceConnectionState in ("connected", "completed"):
                return
            await pc.addIceCandidate(None)

    async def _page_relay_watch(self) -> None:
        """Under the relay policy, a page that has sent no candidate PAGE_RELAY_WAIT s after
        the answer cannot reach its TURN server: say so then, not at the 15 s watchdog in
        general words. (Chromium reports nothing while its TCP connect to the server hangs
        in a firewall that drops it: no icecandidateerror, gathering never completes.)"""
        pc = self._pc  # this peer's watch, not one a reconnection made later
        await asyncio.sleep(PAGE_RELAY_WAIT)
        if self._pc is not pc:
            return
        offered = _renegotiate.page_sdp(self.sdp_rounds[0]) if self.sdp_rounds else ""
        if (
            pc is None
            or self.closed
            or self._candidates_taken > 0
            or "a=candidate:" in offered  # a page that does not trickle
            or pc.iceConnectionState in ("connected", "completed")
        ):
            return
        why = f" ({'; '.join(self.turn_errors)})" if self.turn_errors else ""
        words = (
            f"The browser has no relay candidate {PAGE_RELAY_WAIT:.0f} s after the answer "
            "(ice_transport_policy='relay'): it cannot reach its TURN server, or gets no "
            f"answer from it{why}. Check the TURN URL, port and firewall on the browser's "
            "side; TURN over TCP or TLS on port 443 gets through most firewalls."
        )
        self.turn_failed("no relay candidate: the TURN server is unreachable", side="browser")
        if not self._comm_takes_over(words):
            await self.fail(StreamError(words))

    async def _ice_watchdog(self) -> None:
        """Fail the stream in words when ICE has not connected ICE_CONNECT_TIMEOUT s after
        the answer, instead of waiting for aioice's own check timeouts (63.5 s)."""
        pc = self._pc  # this peer's watchdog, not one a reconnection made later
        await asyncio.sleep(ICE_CONNECT_TIMEOUT)
        if self._pc is not pc:
            return
        if pc is None or self.closed or pc.iceConnectionState in ("connected", "completed"):
            return
        if self._webrtc_lost(f"ICE did not connect within {ICE_CONNECT_TIMEOUT:.0f} s"):
            return
        log.info(
            "stream %s: ICE still %s %.0f s after the answer",
            self.id,
            pc.iceConnectionState,
            ICE_CONNECT_TIMEOUT,
        )
        await self.fail(StreamError(self.ice_failed_words()))

    def turn_failed(self, words: str, side: str = "kernel") -> None:
        """A TURN server failed one side's allocation (media loop): kept, logged once,
        in the history; the words of a later ICE failure name it."""
        text = f"{side}: {words}"
        if text in self.turn_errors:
            return
        self.turn_errors.append(text)
        del self.turn_errors[:-MAX_TURN_ERRORS]
        log.warning("stream %s: %s", self.id, text)
        self.history.note(f"TURN failed ({text})")
        widget = self.owner
        if widget is None or self.closed:
            return
        # shown at once, even where other paths may still connect (the "all" policy)
        widget.stream_warning(self, f"TURN: {words}")  # type: ignore[arg-type]  # a KernelStream
        if (
            is_auth_failure(words)
            and not self._auth_watch
            and widget.ice_policy_for(self.id) != "relay"  # relay: its own fast paths
            and "live" not in self.timings
        ):
            self._auth_watch = True
            self.spawn(self._turn_auth_watch())

    async def _turn_auth_watch(self) -> None:
        """A TURN server refused the credentials under the "all" policy: if no other
        path connected TURN_AUTH_WAIT s later, the stream fails naming that refusal (or,
        with transport="auto", the comm takes over)."""
        await asyncio.sleep(TURN_AUTH_WAIT)
        pc = self._pc
        if (
            pc is None
            or self.closed
            or "live" in self.timings
            or pc.iceConnectionState in ("connected", "completed")
        ):
            return
        refused = "; ".join(e for e in self.turn_errors if is_auth_failure(e))
        words = (
            f"TURN authentication failed: {refused}. No other network path between the "
            f"browser and the kernel connected within {TURN_AUTH_WAIT:.0f} s, so only the "
            "relay could have carried the stream."
        )
        if not self._comm_takes_over(words):
            await self.fail(StreamError(words))

    def browser_ice_error(self, payload: dict[str, Any]) -> None:
        """The page's pc reported a STUN/TURN server failure (media loop). TURN ones are
        kept like the kernel's; every one is a line in the history. Under the relay
        policy a browser that can get no relay candidate cannot connect at all, which
        ``browser_state`` notices when its gathering completes."""
        if len(self.turn_errors) >= MAX_TURN_ERRORS:
            return
        url = str(payload.get("url", ""))
        code = int(payload.get("code", 0))
        text = str(payload.get("text", ""))
        if not url.startswith("turn"):
            self.history.note(f"browser: STUN server {url} failed ({code} {text})")
            return
        if code in (401, 441):
            words = (
                f"the TURN server {url} refused the browser's credentials ({code} {text}): "
                "check the username and credential, or the secret given to nbrtc.turn"
            )
        elif code == 701 and "not associated with the desired network interface" in text:
            # Chromium says this for every local interface that has no route to the
            # server, next to the real outcome: noise, not a failure
            self.history.note(f"browser: TURN server {url}: {code} {text}")
            return
        elif code == 701 and url.startswith("turns:"):
            # Chromium reports a certificate it refuses exactly like a closed port
            words = (
                f"the browser could not reach the TURN server {url} over TLS "
                f"({text or 'no answer'}): nothing listens there, or the browser does not "
                "trust its certificate (add the CA to the browser's trust store)"
            )
        elif code == 701:
            words = f"the browser could not reach the TURN server {url} ({text or 'no answer'})"
        else:
            words = f"the TURN server {url} failed the browser ({code} {text})"
        self.turn_failed(words, side="browser")

    def ice_failed_words(self) -> str:
        """Why ICE failed, in words: the TURN failures seen, if any, else the general
        advice."""
        if self.turn_errors:
            return (
                "ICE failed: the browser and the kernel found no network path to each "
                f"other, and TURN did not help: {'; '.join(self.turn_errors)}."
            )
        return ICE_FAILED_WORDS

    def _no_candidate_words(self, policy: str) -> str:
        why = f": {'; '.join(self.turn_errors)}" if self.turn_errors else ""
        return (
            f"The kernel has no relay candidate (ice_transport_policy={policy!r}), so ICE "
            f"cannot start{why or ': its TURN server gave it no allocation'}."
        )

    async def _settle_path(self, pc: RTCPeerConnection) -> None:
        """The pc connected before aioice recorded its nominated pair: look again every
        50 ms (for at most PATH_SETTLE s) and only then name the path; guessing "direct"
        mislabelled a relayed stream."""
        deadline = time.monotonic() + PATH_SETTLE
        kind = ""
        while not kind and time.monotonic() < deadline and self._pc is pc:
            await asyncio.sleep(0.05)
            kind = pair_kind(pc)
        if self._pc is not pc or self.closed:
            return
        self._webrtc_path = kind or (
            "relay" if self.owner is not None and self.owner.ice_policy == "relay" else "direct"
        )
        if self.transport != "comm":
            self._set_transport(self._webrtc_path, "WebRTC connected")


def pair_kind(pc: RTCPeerConnection | None) -> str:
    """ "relay" when the connected pair of ``pc`` goes through a TURN server (either
    side's candidate is a relay one), "direct" when it does not, "" while aioice has not
    recorded a nominated pair yet (it may lag the "connected" event)."""
    pair = _ice_restart.selected_pair(pc) if pc is not None else None
    if not pair:
        return ""
    types = {str(pair.get(side, "")).split(" ")[0] for side in ("local", "remote")}
    return "relay" if "relay" in types else "direct"
