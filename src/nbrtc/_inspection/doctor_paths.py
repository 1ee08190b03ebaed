"""The paths ``nbrtc.doctor()`` tries, made from a widget's ICE servers (pure, no I/O).

A path is one way a page may reach this kernel: its host candidates alone, one STUN
URL, one TURN URL (UDP, TCP or TLS, each its own path: a firewall treats them
differently), or the notebook's own comm. Each WebRTC path is probed with a peer
connection that knows only that path's server, and a TURN path's page peer uses the
``relay`` policy, so that a success proves that very path.

What the page may see of a path (``public``) has no credential; the full server (with
its login, minted per probe stream for ``nbrtc.turn``) is handed out only through
``servers_for`` (the kernel's own peer, and the page's ``ice-servers`` ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import IceServerSpec, kernel_servers
from .._transport.turn import TurnRestServer

#: paths probed at most (host + comm + this many server URLs): each costs the page a
#: peer and the TURN server an allocation; more than a few servers is a mistake anyway
MAX_SERVER_PATHS = 10


@dataclass(frozen=True)
class Path:
    """One path to probe. ``server`` indexes the widget's servers (-1: none)."""

    id: str  # short, unique: the probe offer's ``view``
    label: str  # what the table shows
    url: str  # the server URL (no credential in URLs nbrtc accepts), "" for host/comm
    kind: str  # "host", "stun", "turn" or "comm"
    transport: str  # "udp", "tcp", "tls" or "comm"
    page_policy: str  # the page peer's iceTransportPolicy
    kernel_policy: str  # the kernel peer's
    server: int = -1

    def public(self) -> dict[str, str]:
        """The synced description (the ``paths`` trait): no credential."""
        return {
            "id": self.id,
            "label": self.label,
            "url": self.url,
            "kind": self.kind,
            "transport": self.transport,
            "policy": self.page_policy,
        }


def _urls(server: IceServerSpec) -> list[str]:
    urls = server.urls if isinstance(server, TurnRestServer) else server.get("urls")
    return [urls] if isinstance(urls, str) else list(urls or [])


def url_transport(url: str) -> str:
    """``udp``, ``tcp`` or ``tls`` for a stun:/turn:/turns: URL."""
    if url.startswith(("turns:", "stuns:")):
        return "tls"
    return "tcp" if "transport=tcp" in url else "udp"


def plan(servers: list[IceServerSpec], policy: str) -> tuple[list[Path], int]:
    """The paths for ``servers`` under the widget's ICE ``policy``, and how many server
    URLs were left out (over MAX_SERVER_PATHS).

    The kernel's peer of a TURN path keeps the widget's policy (a relay-only kernel must
    get its own allocation, as a real stream would); the page's is ``relay``.
    """
    paths = [Path("host", "direct (host candidates)", "", "host", "udp", "all", "all")]
    left_out = 0
    n = 0
    for index, server in enumerate(servers):
        for url in _urls(server):
            if n >= MAX_SERVER_PATHS:
                left_out += 1
                continue
            transport = url_transport(url)
            if url.startswith("turn"):
                label = f"TURN over {transport.upper()}"
                paths.append(
                    Path(f"turn-{n}", label, url, "turn", transport, "relay", policy, index)
                )
            else:
                label = f"STUN over {transport.upper()}"
                paths.append(Path(f"stun-{n}", label, url, "stun", transport, "all", "all", index))
            n += 1
    paths.append(Path("comm", "notebook connection (comm)", "", "comm", "comm", "all", "all"))
    return paths, left_out


def servers_for(servers: list[IceServerSpec], path: Path, tag: str) -> list[dict[str, Any]]:
    """The full ICE servers of ``path`` for the probe stream ``tag``: its one URL, with
    the login of the server it came from (minted for ``tag`` when it is an nbrtc.turn)."""
    if path.server < 0:
        return []
    full = kernel_servers([servers[path.server]], tag)[0]
    full["urls"] = path.url
    return [full]
