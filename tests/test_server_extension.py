"""``nbrtc_server``: the Jupyter server extension that sends kernel messages without
Nagle's delay (issue 14: the WebRTC answer waited 18-54 ms between the server's write and
the page's ``message`` event).

* the wrapped ``connect()`` sets ``TCP_NODELAY`` on a real tornado WebSocket's socket
  (tornado leaves it off) and still runs the class's own ``connect()``;
* the wrapper keeps the class's name, so config written for jupyter_server's class
  still applies, and wrapping twice wraps once;
* loading into a server replaces its ``kernel_websocket_connection_class`` (whatever it
  is) and says so; a server without that setting gets a warning, nothing breaks.

That a real JupyterLab loads it from the installed config file: tests/e2e
(``test_server_extension.py``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import SimpleNamespace
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
import tornado.websocket
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from traitlets.config import Config

import nbrtc_server
from kernel._browser import until


class Plain:
    """A connection class as jupyter_server's are used: made with ``websocket_handler``,
    then ``connect()`` (here it only records that it ran)."""

    kernel_id = "k-1"
    log = logging.getLogger("test.plain")

    def __init__(self, websocket_handler: Any) -> None:
        self.websocket_handler = websocket_handler

    def connect(self) -> str:
        return "the class's own connect ran"


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def _open_with(conn_cls: type) -> dict[str, Any]:
    """A real tornado WebSocket on loopback whose handler makes ``conn_cls`` and calls its
    ``connect()`` as jupyter_server's kernel handler does; the socket option before and
    after, and what ``connect()`` returned."""
    seen: dict[str, Any] = {}

    class Handler(tornado.websocket.WebSocketHandler):
        def open(self, *args: str, **kwargs: str) -> None:
            assert self.ws_connection is not None
            sock = self.ws_connection.stream.socket
            seen["before"] = _nodelay(sock)
            seen["result"] = conn_cls(websocket_handler=self).connect()
            seen["after"] = _nodelay(sock)

    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([("/ws", Handler)]))
    server.add_sockets([sock])
    client = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
    try:
        await until(lambda: "after" in seen, 10, "the handler's open()")
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
    return seen


def test_connect_sends_without_delay_on_a_real_websocket() -> None:
    seen = asyncio.run(_open_with(nbrtc_server.without_delay(Plain)))
    assert seen.get("before") == 0, f"tornado's default changed: {seen}"
    assert seen.get("after") not in (None, 0), seen
    assert seen["result"] == "the class's own connect ran"


def test_the_plain_class_leaves_the_delay_on() -> None:
    """The same handler without the wrapper: the option stays off (the test above
    measures the wrapper, not tornado)."""
    seen = asyncio.run(_open_with(Plain))
    assert seen.get("after") == 0, seen


def test_no_delay_leaves_a_closed_or_non_tcp_connection_alone() -> None:
    closed = SimpleNamespace(ws_connection=None)
    assert nbrtc_server.no_delay(closed) is False
    a, b = socket.socketpair()  # AF_UNIX: no TCP option to set
    try:
        unix = SimpleNamespace(ws_connection=SimpleNamespace(stream=SimpleNamespace(socket=a)))
        assert nbrtc_server.no_delay(unix) is False
    finally:
        a.close()
        b.close()


def test_the_wrapper_keeps_jupyter_servers_class_and_its_config() -> None:
    cls = nbrtc_server.without_delay(ZMQChannelsWebsocketConnection)
    assert issubclass(cls, ZMQChannelsWebsocketConnection)
    assert cls.__name__ == "ZMQChannelsWebsocketConnection"
    # config written for jupyter_server's class reaches the subclass
    conn = cls(config=Config({"ZMQChannelsWebsocketConnection": {"kernel_ws_protocol": ""}}))
    assert conn.kernel_ws_protocol == ""
    assert nbrtc_server.without_delay(cls) is cls  # wrapped once


def _server(settings: dict[str, Any]) -> Any:
    return SimpleNamespace(
        web_app=SimpleNamespace(settings=settings), log=logging.getLogger("test.server")
    )


def test_loading_wraps_the_servers_class_once(caplog: pytest.LogCaptureFixture) -> None:
    settings: dict[str, Any] = {"kernel_websocket_connection_class": Plain}
    app = _server(settings)
    with caplog.at_level(logging.INFO, logger="test.server"):
        nbrtc_server._load_jupyter_server_extension(app)
        first = settings["kernel_websocket_connection_class"]
        nbrtc_server._load_jupyter_server_extension(app)
    assert issubclass(first, Plain) and first is not Plain
    assert settings["kernel_websocket_connection_class"] is first
    assert "without Nagle's delay" in caplog.text
    assert nbrtc_server._jupyter_server_extension_points() == [{"module": "nbrtc_server"}]


def test_a_server_without_the_setting_is_told_and_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings: dict[str, Any] = {}
    with caplog.at_level(logging.WARNING, logger="test.server"):
        nbrtc_server._load_jupyter_server_extension(_server(settings))
    assert settings == {}
    assert "kernel_websocket_connection_class" in caplog.text
