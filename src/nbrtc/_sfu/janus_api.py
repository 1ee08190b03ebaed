"""An asyncio client of Janus's API, running on nbrtc's media loop.

``JanusConnection`` talks to one Janus server over one WebSocket (subprotocol
``janus-protocol``) or, for an ``http(s)://.../janus`` URL, over HTTP with a long poll per
session (``janus_link.py``). It owns the ``JanusSession``\\ s it creates, and each session
the ``JanusHandle``\\ s attached through it:

- every request carries a fresh ``transaction`` id, and its reply is matched by that id;
  a plugin ``message`` is answered by an ``ack`` and later an ``event`` (or at once by a
  ``success`` for the plugins' synchronous requests), and the request waits for the latter;
- a session sends a ``keepalive`` every ``keepalive`` seconds (by default a third of the
  server's ``session_timeout``, at most 25 s), so Janus never times it out while nbrtc
  lives, and times it out within ``session_timeout`` when the kernel dies without
  closing it (a WebSocket that closes ends its sessions at once: Janus's
  ``reclaim_session_timeout`` is 0 by default);
- unsolicited events (a plugin's ``event``, ``webrtcup``, ``media``, ``slowlink``,
  ``hangup``, ``detached``; and ``timeout``/``closed`` for the handle's session) go to the
  handle's bounded ``events`` queue;
- ``close()`` destroys every session it made (which detaches their handles), stops the
  keep-alives and closes the socket: idempotent, bounded, safe to await from several tasks.

Threads: everything here runs on the media loop (``nbrtc._signaling.manager.manager().media``);
nothing blocks it (every wait is an ``await`` with a deadline). Errors are ``JanusError``
in words (``janus_words``); an ``api_secret``, ``token`` or ``admin_secret`` never appears
in a repr, a log record or an error text: requests are logged only without those keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from ..errors import JanusError
from . import janus_words as words
from .janus_link import HttpLink, JanusEvent, JanusInfo, JanusReply, Link, WsLink, loggable

log = logging.getLogger("nbrtc")

#: keep-alive interval when the server's session_timeout is unknown or disabled (janus.js's)
DEFAULT_KEEPALIVE = 25.0
#: events a handle keeps unread; beyond, the oldest is dropped and counted
EVENTS_PER_HANDLE = 256
#: requests in flight on one connection; beyond, a request is refused in words
PENDING_MAX = 1024
#: how long close() waits for each session's ``destroy`` before closing the socket anyway
CLOSE_TIMEOUT = 1.0


class JanusConnection:
    """One server: the link, transactions, and the sessions made through it.

    Every method runs on the media loop. ``open()`` is called by the first request.
    """

    def __init__(
        self,
        url: str,
        *,
        api_secret: str | None = None,
        token: str | None = None,
        keepalive: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._api_secret, self._token = api_secret, token
        self._keepalive = keepalive
        self.server: JanusInfo | None = None
        self.sessions: dict[int, JanusSession] = {}
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], bool]] = {}
        self._link: Link | None = None
        self._open_lock: asyncio.Lock | None = None
        self._close_task: asyncio.Task[None] | None = None
        #: why the connection ended (None while it is up or before it was made)
        self.lost: str | None = None
        self._generation = 0

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self._link else "new")
        return f"<JanusConnection {self.url} {state} sessions={len(self.sessions)}>"

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    @property
    def keepalive(self) -> float:
        """Seconds between a session's keep-alives (set, or derived from the server's
        ``session_timeout`` once connected)."""
        if self._keepalive is not None:
            return self._keepalive
        timeout = self.server.session_timeout if self.server else 0
        return min(DEFAULT_KEEPALIVE, max(0.5, timeout / 3)) if timeout > 0 else DEFAULT_KEEPALIVE

    # --- opening ---------------------------------------------------------------------------
    async def open(self) -> JanusInfo:
        """Connect (once) and read the server's info; the info. After the connection was
        lost (the server stopped or restarted; its sessions are gone with it) the next
        call connects again."""
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self.closed:
                raise JanusError(f"this nbrtc.Janus ({self.url}) is closed; make a new one")
            if self.server is not None and self.lost is None:
                return self.server
            old, self._link = self._link, None
            if old is not None:  # the lost connection's client session
                with contextlib.suppress(Exception):
                    await old.close()
            self.server, self.lost = None, None
            self._generation += 1
            link = self._make_link(self._generation)
            await link.open()
            self._link = link
            try:
                reply = await self._request({"janus": "info"}, "info", self.timeout, False)
                self.server = JanusInfo.from_reply(reply, self.url)
                if self.closed:  # close() ran while we connected: leave no socket behind
                    raise JanusError(f"this nbrtc.Janus ({self.url}) was closed while connecting")
            except BaseException:
                # a failed attempt, not a lost connection: the next call tries again
                self._link, self.server = None, None
                self._generation += 1
                await link.close()
                raise
            if self._keepalive is not None and 0 < self.server.session_timeout <= self._keepalive:
                log.warning(
                    "Janus %s: keepalive=%g s is not shorter than the server's session_timeout "
                    "(%d s): its sessions will time out; use a shorter keepalive",
                    self.url, self._keepalive, self.server.session_timeout,
                )  # fmt: skip
            return self.server

    def _make_link(self, generation: int) -> Link:
        def lost(why: str) -> None:
            if generation == self._generation:  # not a link this connection replaced
                self._lost(why)

        if self.url.startswith(("http://", "https://")):
            return HttpLink(self.url, self.timeout, self._secrets, self._dispatch, lost)
        return WsLink(self.url, self.timeout, self._dispatch, lost)

    def _secrets(self) -> dict[str, str]:
        out = {}
        if self._api_secret:
            out["apisecret"] = self._api_secret
        if self._token:
            out["token"] = self._token
        return out

    # --- requests ---------------------------------------------------------------------------
    async def request(
        self,
        body: dict[str, Any],
        what: str,
        *,
        timeout: float | None = None,
        until_event: bool = False,
        plugin: str = "",
    ) -> dict[str, Any]:
        """Send ``body`` (a Janus request; ``what`` names it for errors) and return the
        reply matched by transaction: the first that is not an ``ack`` when
        ``until_event``. Raises ``JanusError`` for an ``error`` reply, a lost connection
        or no answer within ``timeout`` (default: the connection's)."""
        if self.server is None or (self.lost is not None and not self.closed):
            await self.open()
        reply = await self._request(body, what, timeout or self.timeout, until_event)
        if reply.get("janus") == "error":
            err = reply.get("error")
            err = err if isinstance(err, dict) else {}
            code = err.get("code") if isinstance(err.get("code"), int) else None
            reason = str(err.get("reason") or "")[:200]
            raise JanusError(words.core_error(code, reason, self.url, what, plugin), code)
        return reply

    async def _request(
        self, body: dict[str, Any], what: str, timeout: float, until_event: bool
    ) -> dict[str, Any]:
        if self.lost is not None or self._link is None:
            if self.closed:  # (while closing, the sessions' destroy requests still go out)
                raise JanusError(f"this nbrtc.Janus ({self.url}) is closed; make a new one")
            raise JanusError(
                f"the connection to Janus at {self.url} ended ({self.lost or 'not connected'});"
                " its sessions ended with it (a new session connects again)"
            )
        if len(self._pending) >= PENDING_MAX:
            raise JanusError(
                f"{PENDING_MAX} requests to Janus at {self.url} are already waiting for an "
                "answer: the server is not answering; close this nbrtc.Janus and check it"
            )
        tid = secrets.token_hex(8)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[tid] = (fut, until_event)
        msg = {**body, "transaction": tid, **self._secrets()}
        log.debug("janus > %s", loggable(msg))
        try:
            await self._link.send(msg)
            return await asyncio.wait_for(fut, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise JanusError(
                f"Janus at {self.url} did not answer '{what}' within {timeout:g} s: the server "
                "is overloaded or stuck, or the connection stalled",
            ) from None
        finally:
            self._pending.pop(tid, None)

    def _dispatch(self, msg: Any) -> None:
        """One message from the server (media loop): a reply to a pending transaction, or
        an event for a handle or a session. Anything else is ignored."""
        if not isinstance(msg, dict):
            return
        log.debug("janus < %s", loggable(msg))
        kind, tid = msg.get("janus"), msg.get("transaction")
        pending = self._pending.get(tid) if isinstance(tid, str) else None
        if pending is not None:
            fut, until_event = pending
            if not (kind == "ack" and until_event):  # a message's ack: its event follows
                self._pending.pop(str(tid), None)
                if not fut.done():
                    fut.set_result(msg)
            return
        session = self.sessions.get(msg.get("session_id"))  # type: ignore[arg-type]
        if session is None:
            return
        if kind == "timeout":
            session.ended("timeout", "the server timed the session out")
            return
        handle = session.handles.get(msg.get("sender"))  # type: ignore[arg-type]
        if handle is not None and isinstance(kind, str):
            handle.push(kind, msg)

    def _lost(self, why: str) -> None:
        """The link ended (media loop): fail what waits, end every session."""
        if self.lost is None:
            self.lost = why
        if not self.closed:
            log.warning("Janus %s: %s", self.url, why)
        for fut, _ in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(JanusError(f"the connection to Janus at {self.url} ended: {why}"))
        self._pending.clear()
        for session in list(self.sessions.values()):
            session.ended("closed", why)

    # --- sessions ---------------------------------------------------------------------------
    async def create_session(self, timeout: float | None = None) -> JanusSession:
        """Create a Janus session, kept alive until destroyed or this connection closes."""
        reply = await self.request({"janus": "create"}, "create", timeout=timeout)
        data = reply.get("data")
        sid = data.get("id") if isinstance(data, dict) else None
        if not isinstance(sid, int):
            raise JanusError(words.not_janus(self.url, "its 'create' reply had no session id"))
        session = JanusSession(self, sid)
        if self.closed:  # close() ran while we waited: do not leave it on the server
            await session.destroy()
            raise JanusError(f"this nbrtc.Janus ({self.url}) was closed while opening a session")
        self.sessions[sid] = session
        assert self._link is not None
        self._link.session_opened(sid)
        return session

    def forget(self, session: JanusSession) -> None:
        self.sessions.pop(session.id, None)
        if self._link is not None:
            self._link.session_closed(session.id)

    # --- closing ------------------------------------------------------------------------------
    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Destroy every session (each waits at most ``timeout``), then close the link.
        Idempotent: later calls wait for the first one's teardown."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close(timeout))
        await asyncio.shield(self._close_task)

    async def _close(self, timeout: float) -> None:
        sessions = list(self.sessions.values())
        link = self._link
        try:
            if sessions and self.lost is None:
                await asyncio.gather(
                    *(s.destroy(timeout) for s in sessions), return_exceptions=True
                )
            for s in sessions:
                s.ended("closed", "nbrtc closed the connection")
            self._link = None
            if link is not None:
                with contextlib.suppress(Exception):
                    await link.close()
        finally:
            # Cut short (the kernel's exit cancels what is left on the media loop, e.g.
            # while a frozen server keeps the destroys waiting): drop the connection
            # without its handshakes, or its socket would outlive the loop.
            self._link = None
            if link is not None:
                link.abort()
        self._lost("nbrtc closed the connection")


class JanusSession:
    """A Janus session: keeps itself alive; destroyed by ``destroy()`` or the connection's
    ``close()``. Media loop only."""

    def __init__(self, conn: JanusConnection, session_id: int) -> None:
        self.conn, self.id = conn, session_id
        self.handles: dict[int, JanusHandle] = {}
        self.end: str | None = None
        self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive())

    def __repr__(self) -> str:
        state = f"ended ({self.end})" if self.end else "live"
        return f"<JanusSession {self.id} {state} handles={len(self.handles)}>"

    async def _keep_alive(self) -> None:
        """Send a ``keepalive`` every ``conn.keepalive`` s while the session lives."""
        while self.end is None:
            await asyncio.sleep(self.conn.keepalive)
            try:
                await self.conn.request({"janus": "keepalive", "session_id": self.id}, "keepalive")
            except JanusError as exc:
                if exc.code == words.SESSION_NOT_FOUND:
                    self.ended("timeout", str(exc))
                    return
                log.warning("Janus %s: keep-alive of session %d failed: %s",
                            self.conn.url, self.id, exc)  # fmt: skip
                if self.conn.lost is not None or self.conn.closed:
                    return

    async def attach(self, plugin: str, timeout: float | None = None) -> JanusHandle:
        """Attach ``plugin`` (e.g. ``janus.plugin.videoroom``); its handle."""
        self._check()
        reply = await self.conn.request(
            {"janus": "attach", "session_id": self.id, "plugin": plugin},
            "attach",
            timeout=timeout,
            plugin=plugin,
        )
        data = reply.get("data")
        hid = data.get("id") if isinstance(data, dict) else None
        if not isinstance(hid, int):
            raise JanusError(words.not_janus(self.conn.url, "its 'attach' reply had no handle id"))
        handle = JanusHandle(self, hid, plugin)
        self.handles[hid] = handle
        return handle

    def _check(self) -> None:
        if self.end is not None:
            raise JanusError(
                f"Janus session {self.id} on {self.conn.url} has ended: {self.end}",
                words.SESSION_NOT_FOUND,
            )

    async def destroy(self, timeout: float | None = None) -> None:
        """Destroy the session on the server (its handles go with it). Idempotent; a
        session the server no longer knows counts as destroyed."""
        if self.end is not None:
            return
        try:
            await self.conn.request(
                {"janus": "destroy", "session_id": self.id}, "destroy", timeout=timeout
            )
        except JanusError as exc:
            if exc.code != words.SESSION_NOT_FOUND:
                raise
        finally:
            self.ended("closed", "destroyed")

    def ended(self, kind: str, why: str) -> None:
        """The session is over (destroyed, timed out, connection lost): stop the
        keep-alive, tell every handle (an event of ``kind``), forget it."""
        if self.end is not None:
            return
        self.end = why
        if asyncio.current_task() is not self._keepalive:
            self._keepalive.cancel()
        for handle in list(self.handles.values()):
            handle.push(kind, {"janus": kind, "reason": why})
        self.conn.forget(self)


class JanusHandle:
    """A plugin handle. ``events`` holds its unsolicited events (bounded: beyond
    ``EVENTS_PER_HANDLE`` the oldest is dropped and counted in ``dropped``). Media loop."""

    def __init__(self, session: JanusSession, handle_id: int, plugin: str) -> None:
        self.session, self.id, self.plugin = session, handle_id, plugin
        self.events: asyncio.Queue[JanusEvent] = asyncio.Queue(EVENTS_PER_HANDLE)
        self.dropped = 0
        self.detached = False

    def __repr__(self) -> str:
        return f"<JanusHandle {self.id} {self.plugin}{' detached' if self.detached else ''}>"

    def push(self, kind: str, msg: dict[str, Any]) -> None:
        """Queue one event (media loop). A plugin ``event`` keeps only the plugin's data."""
        data: Any = msg
        if kind == "event":
            pdata = msg.get("plugindata")
            data = pdata.get("data") if isinstance(pdata, dict) else None
            data = data if isinstance(data, dict) else {}
        jsep = msg.get("jsep") if isinstance(msg.get("jsep"), dict) else None
        if kind == "detached":
            self.detached = True
        if self.events.full():
            self.events.get_nowait()
            self.dropped += 1
        self.events.put_nowait(JanusEvent(kind, data, jsep))

    async def next_event(self, timeout: float) -> JanusEvent:
        """The next unsolicited event; ``JanusError`` if none comes within ``timeout``."""
        try:
            return await asyncio.wait_for(self.events.get(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise JanusError(
                f"no event from {self.plugin} (handle {self.id}) within {timeout:g} s"
            ) from None

    async def message(
        self,
        body: dict[str, Any],
        jsep: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> JanusReply:
        """Send the plugin ``body`` (and an SDP ``jsep``); wait for its answer. A plugin's
        ``error_code`` raises ``JanusError`` with that code, in words."""
        self.session._check()
        req: dict[str, Any] = {
            "janus": "message",
            "session_id": self.session.id,
            "handle_id": self.id,
            "body": body,
        }
        if jsep is not None:
            req["jsep"] = jsep
        what = f"{self.plugin} {body.get('request', 'message')}"
        reply = await self.session.conn.request(
            req, what, timeout=timeout, until_event=True, plugin=self.plugin
        )
        pdata = reply.get("plugindata")
        data = pdata.get("data") if isinstance(pdata, dict) else None
        data = data if isinstance(data, dict) else {}
        if "error_code" in data or "error" in data:
            code = data.get("error_code") if isinstance(data.get("error_code"), int) else None
            reason = str(data.get("error") or "")[:200]
            raise JanusError(
                words.plugin_error(self.plugin, code, reason, self.session.conn.url), code
            )
        rjsep = reply.get("jsep")
        return JanusReply(data, rjsep if isinstance(rjsep, dict) else None)

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        """Send one ICE candidate (``{"candidate", "sdpMid", "sdpMLineIndex"}``), or
        ``None`` for end-of-candidates (``{"completed": true}``)."""
        self.session._check()
        await self.session.conn.request(
            {
                "janus": "trickle",
                "session_id": self.session.id,
                "handle_id": self.id,
                "candidate": candidate if candidate is not None else {"completed": True},
            },
            "trickle",
        )

    async def detach(self, timeout: float | None = None) -> None:
        """Detach from the plugin (idempotent; a handle already gone counts as detached)."""
        if self.detached or self.session.end is not None:
            self.detached = True
            return
        try:
            await self.session.conn.request(
                {"janus": "detach", "session_id": self.session.id, "handle_id": self.id},
                "detach",
                timeout=timeout,
            )
        except JanusError as exc:
            if exc.code not in (words.HANDLE_NOT_FOUND, words.SESSION_NOT_FOUND):
                raise
        finally:
            self.detached = True
            self.session.handles.pop(self.id, None)
