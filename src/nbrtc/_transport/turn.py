"""Short-lived TURN credentials (``nbrtc.turn(url, secret=..., ttl=...)``).

A TURN server run with a shared secret (coturn's ``use-auth-secret`` /
``static-auth-secret``, the "TURN REST API" of draft-uberti-behave-turn-rest) accepts any
username of the form ``<expiry>:<name>`` whose password is
``base64(HMAC-SHA1(secret, username))``, until the Unix time ``<expiry>``. nbrtc mints
such a pair in the kernel for every stream (one for the page, one for the kernel's own
peer), so the long-term secret never leaves the kernel: a credential that leaks from a
page or a log expires after ``ttl`` seconds.

The secret is kept out of every repr, error text and log record (``_redact``), and it is
never in a trait: the page receives only the minted pair, in its ``ice-servers`` reply.

Threads: immutable once made; ``mint`` is safe from any thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

from .. import _redact

#: what ``ttl`` may be: long enough for a lesson, short enough to matter
MIN_TTL = 60
MAX_TTL = 7 * 24 * 3600
DEFAULT_TTL = 3600
_TURN_URL = re.compile(r"^turns?:[^\s?]+(\?transport=(udp|tcp))?$")


class TurnRestServer:
    """A TURN server that takes time-limited credentials minted from a shared secret.

    Put it in ``nbrtc.config.ice_servers`` (or a widget's ``ice_servers=``) like a dict:
    ``nbrtc.config.ice_servers = [nbrtc.turn("turn:turn.example.org:3478", secret=...)]``.
    """

    __slots__ = ("_secret", "name", "ttl", "urls")

    def __init__(self, urls: str | list[str], secret: str, ttl: float, name: str) -> None:
        self.urls = urls
        self.ttl = ttl
        self.name = name
        self._secret = secret

    def mint(self, tag: str, now: float | None = None) -> dict[str, Any]:
        """A browser-style ``RTCIceServer`` dict with a fresh credential for ``tag`` (a
        stream id, say), valid for ``ttl`` seconds from ``now``."""
        expiry = int((time.time() if now is None else now) + self.ttl)
        username = f"{expiry}:{self.name}-{tag}" if self.name else f"{expiry}:{tag}"
        digest = hmac.new(self._secret.encode(), username.encode(), hashlib.sha1).digest()
        credential = base64.b64encode(digest).decode()
        _redact.add_secret(credential)
        return {"urls": self.urls, "username": username, "credential": credential}

    def __repr__(self) -> str:
        return f"nbrtc.turn({self.urls!r}, secret='<hidden>', ttl={self.ttl:g})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TurnRestServer) and (
            self.urls,
            self.ttl,
            self.name,
            self._secret,
        ) == (other.urls, other.ttl, other.name, other._secret)

    __hash__ = None  # type: ignore[assignment]


def turn(
    url: str | list[str], *, secret: str, ttl: float = DEFAULT_TTL, name: str = "nbrtc"
) -> TurnRestServer:
    """A TURN server with credentials minted per stream from ``secret`` (coturn's
    ``use-auth-secret``): the page and the kernel each get a username ``<expiry>:<name>-
    <stream>`` and its HMAC-SHA1 password, valid ``ttl`` seconds (60 s to 7 days).

    ``url``: ``turn:host[:port][?transport=udp|tcp]`` or ``turns:host[:port]``, or a list
    of them (the browser tries each; the kernel's aiortc uses the first it supports).
    Raises ValueError naming the argument; the secret is never shown.
    """
    urls = [url] if isinstance(url, str) else url
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"url must be a turn: or turns: URL or a list of them, got {url!r}")
    bad = [u for u in urls if not _TURN_URL.match(u)]
    if bad:
        raise ValueError(
            f"url must be turn:host[:port][?transport=udp|tcp] or turns:host[:port], got {bad[0]!r}"
        )
    if not isinstance(secret, str) or not secret:
        raise ValueError("secret must be the TURN server's shared secret (a non-empty string)")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not MIN_TTL <= ttl <= MAX_TTL:
        raise ValueError(
            f"ttl must be a number of seconds from {MIN_TTL} to {MAX_TTL}, got {ttl!r}"
        )
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{0,64}", name):
        raise ValueError(f"name must be up to 64 letters, digits, '_', '.' or '-', got {name!r}")
    _redact.add_secret(secret)
    return TurnRestServer(url, secret, float(ttl), name)
