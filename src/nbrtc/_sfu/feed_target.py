"""What a ``JanusFeed`` watches: a streaming mountpoint or a videoroom publisher.

Each target knows its plugin, how to ask Janus for an offer of its media (the streaming
plugin's ``watch``; the videoroom's ``join`` as a subscriber, after finding a publisher by
its display name when asked to), which of the handle's events mean that the media ended
("publisher gone"), and how to ask the server whether it still exists (``gone``: Janus
1.1 tells a subscriber nothing when its publisher sends ``leave``, so a feed that went
silent asks). Arguments are checked here, at construction, with errors that name the
argument. The coroutines run on nbrtc's media loop; the rest anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import JanusError
from . import janus_words as words

if TYPE_CHECKING:
    from .janus_api import JanusHandle
    from .janus_link import JanusEvent

#: Janus ids: numbers (the default) or strings (a server with ``string_ids``)
Id = int | str


def check_id(name: str, value: object) -> Id:
    """A Janus id (a positive int, or a non-empty str for ``string_ids`` servers)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and 0 < len(value) <= 256:
        return value
    raise ValueError(f"{name} must be a Janus id (a positive int, or a str), got {value!r}")


def check_pin(value: object) -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= 256):
        return value
    # never echo it: a pin is a credential
    raise ValueError(f"pin must be a non-empty str or None (got a {type(value).__name__})")


def _offer_of(reply: Any, url: str, what: str) -> dict[str, Any]:
    jsep = reply.jsep
    if not isinstance(jsep, dict) or jsep.get("type") != "offer" or not jsep.get("sdp"):
        raise JanusError(f"Janus at {url} answered '{what}' without an SDP offer")
    return jsep


@dataclass(frozen=True)
class Mountpoint:
    """A streaming plugin mountpoint (``janus.watch(mountpoint=ID, pin=None)``)."""

    id: Id
    pin: str | None = None
    plugin = words.STREAMING

    def __str__(self) -> str:
        return f"mountpoint {self.id}"

    async def resolved(self, handle: JanusHandle, url: str, timeout: float) -> Mountpoint:
        return self

    async def gone(self, handle: JanusHandle, url: str, timeout: float) -> str | None:
        """Why the mountpoint is gone, in words, or None while it exists."""
        try:
            await handle.message({"request": "info", "id": self.id}, timeout=timeout)
        except JanusError as exc:
            if exc.code == words.STREAMING_NO_SUCH_MOUNTPOINT:
                return f"publisher gone: {self} no longer exists on the server"
            raise
        return None

    async def offer(self, handle: JanusHandle, url: str, timeout: float) -> dict[str, Any]:
        """Ask for the mountpoint's media (``watch``): Janus's offer (an SDP jsep)."""
        body: dict[str, Any] = {"request": "watch", "id": self.id}
        if self.pin is not None:
            body["pin"] = self.pin
        reply = await handle.message(body, timeout=timeout)
        return _offer_of(reply, url, "watch")

    def ended(self, event: JanusEvent) -> str | None:
        """Why ``event`` means the media ended, in words (None when it does not)."""
        data = event.data if event.kind == "event" and isinstance(event.data, dict) else {}
        result = data.get("result")
        status = result.get("status") if isinstance(result, dict) else None
        if status in ("stopping", "stopped"):
            return (
                f"publisher gone: {self} stopped on the server (it was destroyed, disabled "
                "or stopped); watch it again once it is back"
            )
        return None


@dataclass(frozen=True)
class Publisher:
    """A videoroom publisher (``janus.watch(room=ROOM, feed=FEED)`` or ``display=NAME``)."""

    room: Id
    feed: Id | None = None
    display: str | None = None
    pin: str | None = None
    plugin = words.VIDEOROOM

    def __str__(self) -> str:
        who = f"publisher {self.display!r}" if self.display is not None else f"feed {self.feed}"
        return f"{who} of room {self.room}"

    async def _participants(self, handle: JanusHandle, timeout: float) -> list[dict[str, Any]]:
        reply = await handle.message(
            {"request": "listparticipants", "room": self.room}, timeout=timeout
        )
        people = reply.data.get("participants")
        return [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []

    async def resolved(self, handle: JanusHandle, url: str, timeout: float) -> Publisher:
        """This target with its feed id (found by display name when not given)."""
        if self.feed is not None:
            return self
        return replace(self, feed=await self.find(handle, url, timeout))

    async def gone(self, handle: JanusHandle, url: str, timeout: float) -> str | None:
        """Why the publisher is gone, in words, or None while it still publishes."""
        try:
            people = await self._participants(handle, timeout)
        except JanusError as exc:
            if exc.code == words.VIDEOROOM_NO_SUCH_ROOM:
                return f"publisher gone: room {self.room} no longer exists"
            raise
        if any(p.get("id") == self.feed and p.get("publisher") for p in people):
            return None
        return f"publisher gone: the {self} left the room"

    async def find(self, handle: JanusHandle, url: str, timeout: float) -> Id:
        """The feed id of the publisher named ``display`` now in the room."""
        people = await self._participants(handle, timeout)
        for p in people:
            if p.get("display") == self.display and p.get("publisher") and p.get("id"):
                return check_id("feed", p["id"])
        names = sorted(str(p.get("display")) for p in people if p.get("publisher"))[:20]
        raise JanusError(
            f"room {self.room} on {url} has no publisher named {self.display!r} "
            f"(publishing now: {', '.join(names) or 'nobody'}); check the name, or pass feed=",
            words.VIDEOROOM_NO_SUCH_FEED,
        )

    async def offer(self, handle: JanusHandle, url: str, timeout: float) -> dict[str, Any]:
        """Join as a subscriber of the publisher: Janus's offer (an SDP jsep)."""
        feed = self.feed if self.feed is not None else await self.find(handle, url, timeout)
        body: dict[str, Any] = {
            "request": "join",
            "ptype": "subscriber",
            "room": self.room,
            "streams": [{"feed": feed}],
        }
        if self.pin is not None:
            body["pin"] = self.pin
        reply = await handle.message(body, timeout=timeout)
        return _offer_of(reply, url, "join")

    def ended(self, event: JanusEvent) -> str | None:
        """Why ``event`` means the publisher's media ended, in words (None when not)."""
        data = event.data if event.kind == "event" and isinstance(event.data, dict) else {}
        what = data.get("videoroom")
        if what == "destroyed":
            return f"publisher gone: room {self.room} was destroyed"
        streams = data.get("streams")
        # Janus renegotiates when a publisher's streams go: none left active = gone
        if (
            what == "updated"
            and isinstance(streams, list)
            and streams
            and not any(isinstance(s, dict) and s.get("active") for s in streams)
        ):
            return f"publisher gone: the {self} unpublished or left"
        if data.get("leaving") is not None or data.get("unpublished") is not None:
            return f"publisher gone: the {self} unpublished or left"
        return None


Target = Mountpoint | Publisher


def target_of(
    mountpoint: object, room: object, feed: object, display: object, pin: object
) -> Target:
    """The target ``janus.watch(...)``'s arguments name; ValueError naming the argument."""
    pin = check_pin(pin)
    if mountpoint is not None:
        if room is not None or feed is not None or display is not None:
            raise ValueError(
                "watch() takes either mountpoint= (a streaming mountpoint) or room= with "
                "feed= or display= (a videoroom publisher), not both"
            )
        return Mountpoint(check_id("mountpoint", mountpoint), pin)
    if room is None:
        raise ValueError(
            "watch() needs mountpoint=ID (a streaming mountpoint) or room=ROOM with feed=ID "
            "or display=NAME (a videoroom publisher)"
        )
    if (feed is None) == (display is None):
        raise ValueError(
            "watch(room=...) needs exactly one of feed= (the publisher's id) or display= "
            "(the publisher's name in the room)"
        )
    if display is not None and (not isinstance(display, str) or not 0 < len(display) <= 256):
        raise ValueError(f"display must be a publisher's name (a non-empty str), got {display!r}")
    return Publisher(
        check_id("room", room),
        None if feed is None else check_id("feed", feed),
        display if isinstance(display, str) else None,
        pin,
    )
