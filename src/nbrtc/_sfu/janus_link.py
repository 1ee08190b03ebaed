"""The wire to a Janus server: ``WsLink`` (one WebSocket), ``HttpLink``, and the shapes
of what travels (``JanusInfo``, ``JanusEvent``, ``JanusReply``).

``WsLink`` speaks over one WebSocket with the ``janus-protocol`` subprotocol: requests,
replies and every session's events share it.

``HttpLink`` is Janus's HTTP transport: a POST per request, a long poll per session.

Requests go to ``<base>`` (``info``, ``create``), ``<base>/<session>`` or
``<base>/<session>/<handle>``; the POST's reply is the request's reply (an ``ack`` for a
plugin message). Events come from ``GET <base>/<session>?maxev=10``, which Janus holds
open up to 30 s; each such GET also counts as a keep-alive on the server. Credentials ride
in the JSON body of a POST and in the GET's query string (that is where Janus reads them),
so no error text here ever quotes a URL with its query or an aiohttp message.

Threads: the media loop only, like ``janus_api``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import JanusError
from . import janus_words as words

log = logging.getLogger("nbrtc")

SUBPROTOCOL = "janus-protocol"
#: request fields that hold a credential: never logged, never in an error
SECRET_KEYS = frozenset({"apisecret", "token", "admin_secret"})
#: the largest message accepted from the server (an SDP with many candidates is ~10 KB)
MESSAGE_MAX = 1 << 20
#: Janus holds a long poll up to 30 s before answering with a keepalive
LONG_POLL = 30.0
#: after a failed long poll, wait this long before the next (bounded retry, not a settle)
POLL_RETRY = 1.0


def loggable(msg: dict[str, Any]) -> str:
    """``msg`` as one log line without its credentials and without an SDP body."""
    clean = {k: v for k, v in msg.items() if k not in SECRET_KEYS}
    if isinstance(clean.get("jsep"), dict):
        clean["jsep"] = {"type": clean["jsep"].get("type"), "sdp": "..."}
    return json.dumps(clean, default=str)[:500]


def _int(value: Any) -> int:
    """A server-given number as an int (0 when it is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class JanusInfo:
    """What a Janus server says about itself (its ``info`` reply)."""

    name: str
    version: str
    server_name: str
    plugins: tuple[str, ...]
    transports: tuple[str, ...]
    #: seconds a session lives without a request (0: never times out)
    session_timeout: int
    #: whether the server requires an API secret / a token
    api_secret: bool
    token_auth: bool

    @classmethod
    def from_reply(cls, reply: Any, url: str) -> JanusInfo:
        """Parse a ``server_info`` reply; ``JanusError`` (not a Janus API) when it is not one."""
        if not isinstance(reply, dict) or reply.get("janus") != "server_info":
            kind = reply.get("janus") if isinstance(reply, dict) else type(reply).__name__
            raise JanusError(words.not_janus(url, f"its answer to 'info' was {kind!r}"))
        plugins = reply.get("plugins")
        transports = reply.get("transports")
        return cls(
            name=str(reply.get("name", "")),
            version=str(reply.get("version_string", reply.get("version", ""))),
            server_name=str(reply.get("server-name", "")),
            plugins=tuple(sorted(plugins)) if isinstance(plugins, dict) else (),
            transports=tuple(sorted(transports)) if isinstance(transports, dict) else (),
            session_timeout=_int(reply.get("session-timeout")),
            api_secret=bool(reply.get("api_secret")),
            token_auth=bool(reply.get("auth_token")),
        )


@dataclass(frozen=True)
class JanusEvent:
    """One unsolicited message for a handle.

    ``kind`` is Janus's ``janus`` field (``event``, ``webrtcup``, ``media``, ``slowlink``,
    ``hangup``, ``detached``) or nbrtc's ``timeout`` (the session timed out on the server)
    or ``closed`` (the connection or session ended). ``data`` is the plugin's data for an
    ``event`` (e.g. the videoroom's ``{"videoroom": "event", "publishers": [...]}``),
    else the message itself; ``jsep`` an SDP the plugin sent with it.
    """

    kind: str
    data: dict[str, Any]
    jsep: dict[str, Any] | None = None


@dataclass(frozen=True)
class JanusReply:
    """A plugin's answer to a ``message``: its data and, for a negotiation, its SDP."""

    data: dict[str, Any]
    jsep: dict[str, Any] | None = None


def import_aiohttp() -> Any:
    """aiohttp, imported on first use: it is an optional dependency (``nbrtc[janus]``)."""
    try:
        import aiohttp
    except ImportError as exc:
        raise ImportError(
            "nbrtc.Janus needs aiohttp: pip install 'nbrtc[janus]' (or pip install aiohttp)"
        ) from exc
    return aiohttp


class Link(Protocol):
    """How messages travel to one server (WebSocket, or HTTP with long polls)."""

    async def open(self) -> None:
        """Connect (raise ``JanusError`` in words when the server cannot be reached)."""

    async def send(self, msg: dict[str, Any]) -> None:
        """Send one request; replies and events arrive through the link's callback."""

    def session_opened(self, session_id: int) -> None:
        """A session exists: start whatever brings its events (HTTP: a long poll)."""

    def session_closed(self, session_id: int) -> None: ...

    async def close(self) -> None:
        """Close the link (bounded); the callback's ``lost`` runs once afterwards."""

    def abort(self) -> None:
        """Drop the connection at once, without any handshake: for a close cut short (the
        kernel's exit cancels what is left on the media loop), so that no socket outlives
        the loop. Idempotent; nothing to do after ``close()``. Media loop."""


class WsLink:
    """A ``Link`` over one WebSocket with the ``janus-protocol`` subprotocol."""

    def __init__(
        self,
        url: str,
        timeout: float,
        on_message: Callable[[Any], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.url, self.timeout = url, timeout
        self._on_message, self._on_lost = on_message, on_lost
        self._http: Any = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        aiohttp = import_aiohttp()
        self._http = aiohttp.ClientSession()
        try:
            self._ws = await asyncio.wait_for(
                self._http.ws_connect(
                    self.url, protocols=(SUBPROTOCOL,), max_msg_size=MESSAGE_MAX, autoping=True
                ),
                self.timeout,
            )
        except BaseException as exc:
            await self._http.close()
            raise connect_error(self.url, exc, self.timeout) from None
        if self._ws.protocol != SUBPROTOCOL:
            await self.close()
            raise JanusError(
                words.not_janus(self.url, "it accepted a WebSocket without the janus-protocol")
            )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        aiohttp = import_aiohttp()
        why = "the server closed the connection"
        try:
            async for frame in self._ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    try:
                        msg = json.loads(frame.data)
                    except ValueError:
                        log.warning("Janus %s sent a message that is not JSON; ignored", self.url)
                        continue
                    self._on_message(msg)
                elif frame.type == aiohttp.WSMsgType.ERROR:
                    why = f"the connection failed ({type(self._ws.exception()).__name__})"
                    break
        except asyncio.CancelledError:
            why = "nbrtc closed the connection"
            raise
        finally:
            self._on_lost(why)

    async def send(self, msg: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise JanusError(f"the connection to Janus at {self.url} is closed")
        try:
            await self._ws.send_str(json.dumps(msg))
        except (ConnectionError, import_aiohttp().ClientError) as exc:
            raise JanusError(
                f"the connection to Janus at {self.url} failed while sending ({type(exc).__name__})"
            ) from None

    def session_opened(self, session_id: int) -> None:
        """Events come on the same WebSocket: nothing to start."""

    def session_closed(self, session_id: int) -> None:
        """Nothing to stop (see session_opened)."""

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 1.0)
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader, 1.0)
        if self._http is not None:
            await self._http.close()

    def abort(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        _drop_connections(self._http)


#: tasks awaiting a dropped session's connector (held until done: the loop keeps only
#: weak references to its tasks)
_DROPPING: set[asyncio.Future[Any]] = set()


def _drop_connections(http: Any) -> None:
    """Close every connection of aiohttp session ``http`` now: its connector closes their
    transports before it returns, and a task awaits the rest, as aiohttp asks. Nothing
    when there is no session or it is closed already. Media loop."""
    if http is None or http.closed:
        return
    with contextlib.suppress(Exception):
        task = asyncio.ensure_future(http.connector.close())
        _DROPPING.add(task)
        task.add_done_callback(_DROPPING.discard)


def connect_error(url: str, exc: BaseException, timeout: float) -> JanusError:
    """What a failed connection attempt means, in words (never aiohttp's text, which may
    carry the URL's query string)."""
    aiohttp = import_aiohttp()
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        why = f"no answer within {timeout:g} s (a firewall dropping packets, or a wrong address)"
        return JanusError(words.unreachable(url, why))
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return JanusError(
            words.not_janus(url, f"it answered HTTP {exc.status} to a WebSocket upgrade")
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        if isinstance(err, ConnectionRefusedError):
            return JanusError(words.unreachable(url, "connection refused (nothing listens there)"))
        return JanusError(words.unreachable(url, f"{type(err).__name__}: {err.strerror or err}"))
    if isinstance(exc, aiohttp.ClientError):
        return JanusError(words.unreachable(url, type(exc).__name__))
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    return JanusError(words.unreachable(url, f"{type(exc).__name__}"))


class HttpLink:
    """A ``Link`` over Janus's REST transport (``http(s)://host:8088/janus``)."""

    def __init__(
        self,
        url: str,
        timeout: float,
        credentials: Callable[[], dict[str, str]],
        on_message: Callable[[Any], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self._credentials = credentials
        self._on_message, self._on_lost = on_message, on_lost
        self._http: Any = None
        self._polls: dict[int, asyncio.Task[None]] = {}

    async def open(self) -> None:
        """Make the HTTP client; the first request (``info``) shows whether Janus is there."""
        self._http = import_aiohttp().ClientSession()

    async def send(self, msg: dict[str, Any]) -> None:
        aiohttp = import_aiohttp()
        path = self.url
        if msg.get("janus") not in ("info", "create") and "session_id" in msg:
            path += f"/{msg['session_id']}"
            if "handle_id" in msg:
                path += f"/{msg['handle_id']}"
        body = {k: v for k, v in msg.items() if k not in ("session_id", "handle_id")}
        try:
            async with self._http.post(
                path, json=body, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                status, raw = resp.status, await self._body(resp)
        except (asyncio.CancelledError, JanusError):
            raise
        except BaseException as exc:
            raise connect_error(self.url, exc, self.timeout) from None
        if status != 200:
            raise JanusError(words.not_janus(self.url, f"it answered HTTP {status} to a POST"))
        try:
            reply = json.loads(raw)
        except ValueError:
            raise JanusError(words.not_janus(self.url, "its answer was not JSON")) from None
        self._on_message(reply)

    async def _body(self, resp: Any) -> bytes:
        """The response's body, refused beyond MESSAGE_MAX (the server is not trusted
        with this process's memory)."""
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MESSAGE_MAX:
                raise JanusError(
                    words.not_janus(self.url, f"it sent an answer over {MESSAGE_MAX} bytes")
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def session_opened(self, session_id: int) -> None:
        loop = asyncio.get_running_loop()
        self._polls[session_id] = loop.create_task(self._poll(session_id))

    def session_closed(self, session_id: int) -> None:
        task = self._polls.pop(session_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _poll(self, session_id: int) -> None:
        """Long-poll the session's events until it ends or the link closes."""
        aiohttp = import_aiohttp()
        timeout = aiohttp.ClientTimeout(total=LONG_POLL + self.timeout)
        while True:
            params = {"maxev": "10", "rid": str(int(time.time() * 1000)), **self._credentials()}
            try:
                async with self._http.get(
                    f"{self.url}/{session_id}", params=params, timeout=timeout
                ) as resp:
                    got = json.loads(await self._body(resp))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Janus %s: the long poll of session %d failed (%s); retrying",
                            self.url, session_id, type(exc).__name__)  # fmt: skip
                await asyncio.sleep(POLL_RETRY)
                continue
            for msg in got if isinstance(got, list) else [got]:
                if not isinstance(msg, dict):
                    continue
                err = msg.get("error")
                if msg.get("janus") == "error" and isinstance(err, dict):
                    if err.get("code") == words.SESSION_NOT_FOUND:
                        # the server forgot the session (timed out): end it here too
                        self._on_message({"janus": "timeout", "session_id": session_id})
                        return
                    continue
                self._on_message(msg)

    async def close(self) -> None:
        polls, self._polls = list(self._polls.values()), {}
        for task in polls:
            task.cancel()
        for task in polls:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 1.0)
        if self._http is not None:
            await self._http.close()
        self._on_lost("nbrtc closed the connection")

    def abort(self) -> None:
        polls, self._polls = list(self._polls.values()), {}
        for task in polls:
            task.cancel()
        _drop_connections(self._http)
