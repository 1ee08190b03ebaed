"""nbrtc's Jupyter server extension: kernel messages reach the page without Nagle's delay.

Why: every message from the kernel to the page (a widget's answer, its states, a frame
sent over the comm) leaves the Jupyter server on the page's kernel WebSocket, and
jupyter_server never sets ``TCP_NODELAY`` on it. When a second small message follows one
the page has not acknowledged yet, Nagle's algorithm holds it until that
acknowledgement, which the browser delays (40 ms on Linux). Measured on a loopback
JupyterLab with Chromium (issue 14): the WebRTC answer took 18-54 ms (median 25) from
the server's write to the page's ``message`` event, and 9-19 ms (median 14) with the
option set. The page's own messages were never slow: Chromium sets the option on its
side, and ZeroMQ on the kernel's.

What: on load, the server's ``kernel_websocket_connection_class`` (its default, or one a
user or a gateway configured) is replaced by a subclass whose ``connect()`` sets
``TCP_NODELAY`` on the connection's WebSocket before doing what the class always did.
Nothing else changes: message contents, order and rate limits are the server's.

When: enabled by ``etc/jupyter/jupyter_server_config.d/nbrtc.json``, which ``pip install
nbrtc`` puts beside the server that runs in the same environment; ``jupyter server
extension disable nbrtc_server`` turns it off. A server in another environment (a hub
whose kernels run elsewhere, VS Code, Colab) simply does not load it, and nbrtc works
the same with the slower relay.

Which thread: everything here runs on the server's own event loop. This module is kept
apart from the ``nbrtc`` package on purpose: the server imports it at every start, and
``import nbrtc`` (aiortc, PyAV, NumPy, widgets) would cost it most of a second.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["no_delay", "without_delay"]

#: marks a connection class made by :func:`without_delay` (loading twice wraps once)
_MARK = "_nbrtc_without_delay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The server's entry point: this module is the extension."""
    return [{"module": "nbrtc_server"}]


def no_delay(handler: Any) -> bool:
    """Set ``TCP_NODELAY`` on a tornado WebSocket handler's connection; True when set.

    A connection already closed, or a transport that is not TCP (a Unix socket), is
    left as it is: the option only matters, and only exists, for TCP.
    """
    connection = getattr(handler, "ws_connection", None)
    stream = getattr(connection, "stream", None)
    sock = getattr(stream, "socket", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        handler.set_nodelay(True)
    except Exception:  # closed meanwhile (tornado raises WebSocketClosedError)
        return False
    return True


def without_delay(base: type) -> type:
    """``base`` (a jupyter_server kernel WebSocket connection class) whose ``connect()``
    first sets ``TCP_NODELAY`` on its ``websocket_handler``. A class it made is returned
    as it is. Config written for ``base`` (``ZMQChannelsWebsocketConnection.
    kernel_ws_protocol``, say) still applies, as traitlets reads the section of every
    class in the MRO; the subclass also keeps ``base``'s name, so logs and reprs read as
    before."""
    if getattr(base, _MARK, False):
        return base

    class WithoutDelay(base):
        def connect(self, *args: Any, **kwargs: Any) -> Any:
            if no_delay(self.websocket_handler):
                self.log.debug("nbrtc: kernel %s: sent without Nagle's delay", self.kernel_id)
            return super().connect(*args, **kwargs)

    setattr(WithoutDelay, _MARK, True)
    WithoutDelay.__name__ = base.__name__
    WithoutDelay.__qualname__ = base.__qualname__
    WithoutDelay.__doc__ = f"{base.__name__} whose WebSocket sends without Nagle's delay (nbrtc)."
    return WithoutDelay


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Wrap the server's kernel WebSocket connection class (server's loop, at start)."""
    settings = serverapp.web_app.settings
    base = settings.get("kernel_websocket_connection_class")
    if base is None:
        serverapp.log.warning(
            "nbrtc: this Jupyter server has no kernel_websocket_connection_class setting "
            "(jupyter_server < 2?); kernel messages may wait on Nagle's algorithm"
        )
        return
    settings["kernel_websocket_connection_class"] = without_delay(base)
    serverapp.log.info(
        "nbrtc: kernel WebSockets send without Nagle's delay (TCP_NODELAY on %s.%s)",
        base.__module__,
        base.__name__,
    )
