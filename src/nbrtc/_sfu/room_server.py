"""``RoomServer``: the Janus side of ``nbrtc.Room(name, server=janus)`` (``Room`` delegates).

With a server, a room's media goes through one private Janus videoroom instead of a full
mesh: each member (one view of the Room in a page) publishes its camera ONCE and receives
every other member's feed from Janus. The kernel still holds no peer connection; it holds
the Janus side of every member's connections and relays the SDP between the page and Janus:

- one Janus session for the room, one "admin" handle that creates the videoroom (a random
  id, VP8/opus, ``publishers`` = the room's ``max_members``, ``fir_freq`` so late
  subscribers get keyframes) and destroys it on close;
- per member a *seat*: a publisher handle joined at once (a full room is refused before
  the camera opens); the page's offer for its camera (``signal {to: "server"}``) goes to
  Janus as ``publish`` with the jsep, Janus's answer goes back as ``signal {from:
  "server"}``; the page's candidates are trickled;
- per (member, other member's feed) one subscriber handle, made once that feed is up
  (Janus's ``webrtcup`` on its publisher handle): Janus's offer goes to the page as
  ``signal {from: <other member>}``, the page's answer comes back (``signal {to: <other
  member>}``) and goes to Janus as ``start``.

A member that leaves (bye, watchdog, room closing) has its publisher and subscriber handles
detached, and so has every other member's subscription to its feed (the kernel's member
list is the truth; Janus's ``unpublished``/``leaving`` events add nothing it needs).
``close()`` destroys the videoroom and the session (which detaches every handle left).

Errors reach the room in words through ``Hooks.seat_failed`` (server unreachable, plugin
missing, room full, Janus hung up a publisher) or ``Hooks.note`` (one subscription failed).

Threads: every method runs on the media loop (the Room's message handler runs there), but
``describe`` (any thread). Every wait is an ``await`` with a deadline or a task cancelled by
``left``/``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import JanusError
from . import janus_words as words
from .port import Server

if TYPE_CHECKING:
    from .janus import Janus
    from .janus_api import JanusHandle, JanusSession

log = logging.getLogger("nbrtc")

#: the peer name of a member's link to the server (its publisher); never a member id, as
#: the Room refuses a join under this id
SERVER_PEER = "server"
#: seconds between Janus's keyframe requests to publishers (subscribers also get a PLI on
#: their start)
FIR_FREQ = 10
#: how long the page may take to answer a subscription offer
ANSWER_TIMEOUT = 10.0
#: candidates kept for one handle before its SDP reached Janus (as MAX_CANDIDATES of a view)
MAX_CANDIDATES = 40
#: each request of a teardown waits at most this long
STEP_TIMEOUT = 1.0


def check_server(server: object) -> Janus | None:
    """``server=``: None (the mesh) or an open ``nbrtc.Janus``; a TypeError in words."""
    if server is None:
        return None
    from .janus import Janus  # on use: importing a Room never loads the Janus client

    if not isinstance(server, Janus):
        raise TypeError(
            "server must be an nbrtc.Janus (e.g. server=nbrtc.Janus('ws://host:8188/')) or "
            f"None for a mesh room, got {type(server).__name__}"
        )
    if server.closed:
        raise TypeError(
            f"server is a closed nbrtc.Janus ({server.url}): make a new nbrtc.Janus(url) "
            "and pass that"
        )
    return server


class Hooks(Protocol):
    """What the server side needs of its Room (all called on the media loop)."""

    def send_signal(self, to: str, sender: str, data: dict[str, Any]) -> None:
        """Send ``signal {from: sender, data}`` to member ``to``'s page."""

    def seat_failed(self, member: str, words: str, full: bool) -> None:
        """Member ``member`` cannot take part (words for its page and the room's error)."""

    def note(self, words: str) -> None:
        """A line for the room's history and log (a subscription that failed)."""


@dataclass
class Link:
    """One Janus handle of a member: its publisher, or its subscription to one feed."""

    handle: JanusHandle | None = None
    #: Janus has this link's SDP from the page: candidates go straight on
    ready: bool = False
    candidates: list[dict[str, Any]] = field(default_factory=list)
    #: the page's SDP (an offer for the publisher, an answer for a subscription)
    sdp: asyncio.Future[str] | None = None
    #: a subscription's task (cancelled when either member leaves)
    task: asyncio.Task[Any] | None = None


@dataclass
class Seat:
    """One member's place in the videoroom."""

    member: str
    publisher: Link = field(default_factory=Link)
    feed: int | None = None
    #: Janus said the publisher's media is up: others may subscribe to its feed
    live: bool = False
    #: other member id -> this member's subscription to that member's feed
    subs: dict[str, Link] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class RoomServer:
    """The Janus side of one Room (see the module docstring). Media loop only."""

    def __init__(self, janus: Server, name: str, publishers: int, hooks: Hooks) -> None:
        self.janus = janus
        self.name = name
        #: the videoroom's publisher limit (the room's max_members)
        self.publishers = publishers
        self.hooks = hooks
        #: private: a random id, so no other client of the server guesses it by counting
        self.room = secrets.randbelow(2**52 - 1) + 1
        self.seats: dict[str, Seat] = {}
        self.closed = False
        self._session: JanusSession | None = None
        self._admin: JanusHandle | None = None
        self._setup: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<RoomServer {self.name!r} room={self.room} seats={len(self.seats)}>"

    # --- what it is (any thread) -------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Plain data: the server, the videoroom id, each seat's feed and subscriptions."""
        return {
            "server": self.janus.url,
            "room": self.room,
            "seats": {
                s.member: {"feed": s.feed, "live": s.live, "subscribed": sorted(s.subs)}
                for s in list(self.seats.values())
            },
        }

    # --- tasks ---------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any], seat: Seat | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        owner = seat.tasks if seat is not None else self._tasks
        owner.add(task)
        task.add_done_callback(owner.discard)
        return task

    async def _ready(self) -> JanusSession:
        """The room's session, once the videoroom exists (made by the first seat)."""
        if self._setup is None:
            self._setup = asyncio.get_running_loop().create_task(self._create())
        await asyncio.shield(self._setup)
        assert self._session is not None
        return self._session

    async def _create(self) -> None:
        session = self._session = await self.janus.session_async()
        if self.closed:
            return
        self._admin = await session.attach(words.VIDEOROOM)
        await self._admin.message(
            {
                "request": "create",
                "room": self.room,
                "publishers": self.publishers,
                "is_private": True,
                "videocodec": "vp8",
                "audiocodec": "opus",
                "fir_freq": FIR_FREQ,
                "description": f"nbrtc room {self.name}"[:100],
            }
        )
        log.info("room %s: videoroom %d created on %s", self.name, self.room, self.janus.url)

    # --- members (called by the Room on the media loop) ------------------------------------
    def joined(self, member: str) -> None:
        """A member joined: its seat (a publisher handle), and its subscriptions to every
        feed already up."""
        if self.closed or member in self.seats:
            return
        seat = self.seats[member] = Seat(member)
        # the page may offer before the seat's task first runs
        seat.publisher.sdp = asyncio.get_running_loop().create_future()
        self._spawn(self._seat(seat), seat)
        for other in list(self.seats.values()):
            if other is not seat and other.live:
                self._subscribe(seat, other)

    def left(self, member: str) -> None:
        """A member left: its handles, and every subscription to its feed, are detached."""
        seat = self.seats.pop(member, None)
        doomed: list[Link] = []
        if seat is not None:
            for task in list(seat.tasks):
                task.cancel()
            doomed.append(seat.publisher)
            doomed.extend(seat.subs.values())
        for other in list(self.seats.values()):
            sub = other.subs.pop(member, None)
            if sub is not None:
                if sub.task is not None:
                    sub.task.cancel()
                doomed.append(sub)
        if doomed:
            self._spawn(self._detach(doomed))

    def signal(self, member: str, to: str, data: dict[str, Any]) -> tuple[str, str] | None:
        """The page of ``member`` sent ``data`` for ``to`` (``server`` or another member's
        feed). None when taken, else (error code, why) for the Room's refusal."""
        seat = self.seats.get(member)
        if seat is None:
            return "unknown-stream", f"{member} has no seat in the videoroom"
        kind = data.get("type")
        if to == SERVER_PEER:
            link = seat.publisher
            if kind == "offer":
                if link.sdp is None or link.sdp.done():
                    return "out-of-order", "the server already has this member's offer"
                link.sdp.set_result(str(data["sdp"]))
                return None
        else:
            sub = seat.subs.get(to)
            if sub is None:
                return "unknown-stream", f"no subscription of {member} to {to}'s feed (it left?)"
            link = sub
            if kind == "answer":
                if link.sdp is None or link.sdp.done():
                    return "out-of-order", "no offer of Janus is waiting for an answer"
                link.sdp.set_result(str(data["sdp"]))
                return None
        if kind == "candidate":
            cand = data.get("candidate")
            if not cand or not cand.get("candidate"):
                return None  # end of candidates: Janus goes on with what it has
            if link.ready and link.handle is not None:
                self._spawn(self._trickle(link.handle, cand), seat)
            elif len(link.candidates) < MAX_CANDIDATES:
                link.candidates.append(cand)
            else:
                return "limit", f"more than {MAX_CANDIDATES} candidates before the SDP"
            return None
        if kind == "bye":
            return None
        return "out-of-order", f"a {kind} for {to} is not expected here"

    # --- a seat ----------------------------------------------------------------------------------
    async def _seat(self, seat: Seat) -> None:
        """Join as a publisher, publish the page's offer, watch the handle's events."""
        link = seat.publisher
        assert link.sdp is not None
        try:
            session = await self._ready()
            handle = await self._attach(session, link)
            joined = await handle.message(
                {"request": "join", "ptype": "publisher", "room": self.room, "display": seat.member}
            )
            feed = joined.data.get("id")
            if not isinstance(feed, int):
                raise JanusError(f"Janus at {self.janus.url} joined a member without a feed id")
            seat.feed = feed
            offer = await link.sdp  # the page opens its camera first: no deadline here
            answer = await handle.message(
                {"request": "publish"}, jsep={"type": "offer", "sdp": offer}
            )
            if answer.jsep is None or answer.jsep.get("type") != "answer":
                raise JanusError("Janus took the member's offer but sent no SDP answer")
            self.hooks.send_signal(
                seat.member, SERVER_PEER, {"type": "answer", "sdp": str(answer.jsep["sdp"])}
            )
            await self._flush(link)
            await self._publisher_events(seat, handle)
        except JanusError as exc:
            if seat.member in self.seats and not self.closed:
                full = exc.code == words.VIDEOROOM_PUBLISHERS_FULL
                self.hooks.seat_failed(seat.member, self._words(exc), full)

    def _words(self, exc: JanusError) -> str:
        if exc.code == words.VIDEOROOM_PUBLISHERS_FULL:
            return (
                f"the room is full ({self.publishers} members): Janus at {self.janus.url} "
                "refused another publisher. Close a view of the room, or make it with a "
                "higher max_members."
            )
        return f"the room's media server failed: {exc}"

    async def _publisher_events(self, seat: Seat, handle: JanusHandle) -> None:
        while not self.closed and seat.member in self.seats:
            event = await handle.events.get()
            data = event.data if isinstance(event.data, dict) else {}
            if event.kind == "webrtcup" and not seat.live:
                # only now can others subscribe: before, Janus says "No such feed"
                seat.live = True
                log.info("room %s: %s publishes (feed %s)", self.name, seat.member, seat.feed)
                for other in list(self.seats.values()):
                    if other is not seat:
                        self._subscribe(other, seat)
            elif event.kind == "hangup":
                raise JanusError(
                    f"Janus hung up {seat.member}'s camera ({data.get('reason') or 'no reason'})"
                    ": the publisher is gone"
                )
            elif event.kind in ("detached", "closed", "timeout"):
                raise JanusError(f"the Janus session ended ({data.get('reason') or event.kind})")

    # --- subscriptions ------------------------------------------------------------------------
    def _subscribe(self, seat: Seat, feed_of: Seat) -> None:
        if feed_of.member in seat.subs or feed_of.feed is None:
            return
        sub = seat.subs[feed_of.member] = Link()
        sub.task = self._spawn(self._subscription(seat, feed_of.member, feed_of.feed, sub), seat)

    async def _subscription(self, seat: Seat, of: str, feed: int, sub: Link) -> None:
        """``seat``'s member receives ``of``'s feed: Janus offers, the page answers."""

        def current() -> bool:
            return not self.closed and seat.subs.get(of) is sub

        try:
            session = await self._ready()
            handle = await self._attach(session, sub)
            offer = await handle.message(
                {"request": "join", "ptype": "subscriber", "room": self.room,
                 "streams": [{"feed": feed}]}
            )  # fmt: skip
            if offer.jsep is None or offer.jsep.get("type") != "offer":
                raise JanusError("Janus refused the subscription: its reply had no SDP offer")
            if not current():
                return
            sub.sdp = asyncio.get_running_loop().create_future()
            self.hooks.send_signal(
                seat.member, of, {"type": "offer", "sdp": str(offer.jsep.get("sdp", ""))}
            )
            try:
                answer = await asyncio.wait_for(sub.sdp, ANSWER_TIMEOUT)
            except (asyncio.TimeoutError, TimeoutError):
                raise JanusError(
                    f"the page did not answer Janus's offer within {ANSWER_TIMEOUT:g} s"
                ) from None
            started = await handle.message(
                {"request": "start"}, jsep={"type": "answer", "sdp": answer}
            )
            if started.data.get("started") != "ok":
                raise JanusError(f"Janus refused the page's answer: {started.data}")
            await self._flush(sub)
        except JanusError as exc:
            if current():
                self.hooks.note(f"{seat.member} cannot receive {of}'s feed: {exc}")

    # --- plumbing ------------------------------------------------------------------------------
    async def _attach(self, session: JanusSession, link: Link) -> JanusHandle:
        """A videoroom handle for ``link``. When the member leaves meanwhile (this task is
        cancelled) the server makes the handle all the same: it is detached once made."""
        attach = asyncio.ensure_future(session.attach(words.VIDEOROOM))
        try:
            link.handle = await asyncio.shield(attach)
        except asyncio.CancelledError:
            self._spawn(self._detach_when_made(attach))
            raise
        return link.handle

    async def _detach_when_made(self, attach: asyncio.Future[JanusHandle]) -> None:
        with contextlib.suppress(Exception):
            handle = await attach
            await handle.detach(STEP_TIMEOUT)

    async def _flush(self, link: Link) -> None:
        """Janus has the link's SDP: trickle what the page sent meanwhile, in its order."""
        link.ready = True
        assert link.handle is not None
        for cand in link.candidates:
            await link.handle.trickle(cand)
        link.candidates.clear()

    async def _trickle(self, handle: JanusHandle, cand: dict[str, Any]) -> None:
        with contextlib.suppress(JanusError):  # a handle detached meanwhile: nothing to do
            await handle.trickle(cand)

    async def _detach(self, links: list[Link]) -> None:
        """Detach ``links``' handles (bounded; a server gone counts as detached)."""
        handles = [link.handle for link in links if link.handle is not None]
        results = await asyncio.gather(
            *(h.detach(STEP_TIMEOUT) for h in handles), return_exceptions=True
        )
        for h, result in zip(handles, results, strict=True):
            if isinstance(result, BaseException):
                log.info("room %s: detaching handle %d: %s", self.name, h.id, result)

    # --- closing ---------------------------------------------------------------------------------
    async def close(self) -> None:
        """Destroy the videoroom and the session (every handle goes with it); idempotent,
        bounded (STEP_TIMEOUT per request)."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for task in [*self._tasks, *(t for s in self.seats.values() for t in s.tasks)]:
            if task is not current:
                task.cancel()
        self.seats.clear()
        if self._setup is not None and not self._setup.done():
            # the session may be on its way: wait for it (bounded) so it is destroyed too
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._setup), STEP_TIMEOUT)
        session, admin = self._session, self._admin
        if session is None or session.end is not None:
            return
        if admin is not None:
            try:
                await admin.message({"request": "destroy", "room": self.room}, timeout=STEP_TIMEOUT)
            except JanusError as exc:
                log.info("room %s: destroying videoroom %d: %s", self.name, self.room, exc)
        try:
            await session.destroy(STEP_TIMEOUT)
        except JanusError as exc:
            log.info("room %s: destroying its Janus session: %s", self.name, exc)
        log.info("room %s: videoroom %d and its session destroyed", self.name, self.room)
