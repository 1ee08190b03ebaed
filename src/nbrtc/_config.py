"""Process-wide settings (``nbrtc.config``), validated when they are set."""

from __future__ import annotations

from typing import Any


class Config:
    """Settings read when a stream starts.

    - ``ice_servers``: browser-style list, e.g.
      ``[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]``.
      Empty by default: no STUN server is contacted unless you configure one.
    - ``max_streams``: cap on concurrent streams in this kernel (default 64).
    - ``ice_loopback``: also offer 127.0.0.1 as a kernel candidate (default True), so a
      browser on the same machine connects even when the host has no other interface.
    - ``stats_interval``: seconds between getStats samples of each side for ``stats()``,
      ``stats_log()`` and the Inspector (default 1.0; 0 turns sampling off, which saves a
      little CPU per stream). Read when a widget is made.
    """

    def __init__(self) -> None:
        self._ice_servers: list[dict[str, Any]] = []
        self._max_streams = 64
        self.ice_loopback = True
        self._stats_interval = 1.0

    @property
    def ice_servers(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self._ice_servers]

    @ice_servers.setter
    def ice_servers(self, value: list[dict[str, Any]]) -> None:
        self._ice_servers = check_ice_servers(value, "nbrtc.config.ice_servers")

    @property
    def max_streams(self) -> int:
        return self._max_streams

    @max_streams.setter
    def max_streams(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"nbrtc.config.max_streams must be a positive int, got {value!r}")
        self._max_streams = value

    @property
    def stats_interval(self) -> float:
        return self._stats_interval

    @stats_interval.setter
    def stats_interval(self, value: float) -> None:
        self._stats_interval = check_stats_interval(value, "nbrtc.config.stats_interval")

    def __repr__(self) -> str:
        servers = [s.get("urls") for s in self._ice_servers]
        return (
            f"nbrtc.Config(ice_servers={servers!r}, max_streams={self._max_streams}, "
            f"ice_loopback={self.ice_loopback}, stats_interval={self._stats_interval})"
        )


def check_stats_interval(value: Any, name: str) -> float:
    """0 (off) or 0.25 to 60 seconds; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be a number of seconds (0 = off), got {value!r}")
    if value != 0 and not 0.25 <= value <= 60:
        raise ValueError(f"{name} must be 0 (off) or between 0.25 and 60 seconds, got {value!r}")
    return float(value)


def check_ice_servers(value: Any, name: str) -> list[dict[str, Any]]:
    """Validate a browser-style ``iceServers`` list; raise ValueError naming ``name``."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of {{'urls': ...}} dicts, got {value!r}")
    out = []
    for i, server in enumerate(value):
        if isinstance(server, str):
            server = {"urls": server}
        if not isinstance(server, dict) or "urls" not in server:
            raise ValueError(f"{name}[{i}] must be a dict with 'urls', got {server!r}")
        urls = server["urls"]
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, list) or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
            for u in url_list
        ):
            raise ValueError(f"{name}[{i}]['urls'] must be stun:/turn: URL(s), got {urls!r}")
        if any(u.startswith("turn") for u in url_list) and not (
            isinstance(server.get("username"), str) and isinstance(server.get("credential"), str)
        ):
            raise ValueError(f"{name}[{i}]: a TURN server needs 'username' and 'credential'")
        out.append(
            {k: server[k] for k in ("urls", "username", "credential") if server.get(k) is not None}
        )
    return out


config = Config()
