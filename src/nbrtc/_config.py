"""Process-wide settings (``nbrtc.config``), validated when they are set."""

from __future__ import annotations

from typing import Any

from . import _redact


class Config:
    """Settings read when a stream starts.

    - ``ice_servers``: browser-style list, e.g.
      ``[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]``.
      Empty by default: no STUN server is contacted unless you configure one.
    - ``max_streams``: cap on concurrent streams in this kernel (default 64).
    - ``max_streams_per_page``: cap on the concurrent streams of one page (browser tab),
      so one runaway page cannot lock the others out (default 32).
    - ``ice_loopback``: also offer 127.0.0.1 as a kernel candidate (default True), so a
      browser on the same machine connects even when the host has no other interface.
    - ``stats_interval``: seconds between getStats samples of each side for ``stats()``,
      ``stats_log()`` and the Inspector (default 1.0; 0 turns sampling off, which saves a
      little CPU per stream). Read when a widget is made.
    """

    def __init__(self) -> None:
        self._ice_servers: list[dict[str, Any]] = []
        self._max_streams = 64
        self._max_streams_per_page = 32
        self.ice_loopback = True
        self._stats_interval = 1.0

    @property
    def ice_servers(self) -> list[dict[str, Any]]:
        """Copies of the servers; their repr shows ``'credential': '<hidden>'``."""
        return [IceServer(s) for s in self._ice_servers]

    @ice_servers.setter
    def ice_servers(self, value: list[dict[str, Any]]) -> None:
        self._ice_servers = check_ice_servers(value, "nbrtc.config.ice_servers")

    @property
    def max_streams(self) -> int:
        return self._max_streams

    @max_streams.setter
    def max_streams(self, value: int) -> None:
        self._max_streams = _positive_int(value, "nbrtc.config.max_streams")

    @property
    def max_streams_per_page(self) -> int:
        return self._max_streams_per_page

    @max_streams_per_page.setter
    def max_streams_per_page(self, value: int) -> None:
        self._max_streams_per_page = _positive_int(value, "nbrtc.config.max_streams_per_page")

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
            f"max_streams_per_page={self._max_streams_per_page}, "
            f"ice_loopback={self.ice_loopback}, stats_interval={self._stats_interval})"
        )


def _positive_int(value: Any, name: str) -> int:
    """``value`` if it is an int of at least 1; ValueError naming ``name`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_stats_interval(value: Any, name: str) -> float:
    """0 (off) or 0.25 to 60 seconds; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be a number of seconds (0 = off), got {value!r}")
    if value != 0 and not 0.25 <= value <= 60:
        raise ValueError(f"{name} must be 0 (off) or between 0.25 and 60 seconds, got {value!r}")
    return float(value)


#: keys of a browser ``RTCIceServer`` that nbrtc passes on (anything else is refused)
ICE_SERVER_KEYS = ("urls", "username", "credential")
#: bound on ``ice_servers`` (a browser tries every server; more than a few is a mistake)
MAX_ICE_SERVERS = 32
#: what error texts show instead of a secret
HIDDEN = "<hidden>"


class IceServer(dict):  # type: ignore[type-arg]
    """A validated ``RTCIceServer`` dict whose repr hides the credential, so that showing
    ``nbrtc.config.ice_servers`` (or anything holding it) in a cell never writes the
    password into the notebook. Indexing still gives the real value to whoever asks."""

    def __repr__(self) -> str:
        return repr(masked(dict(self)))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def masked(server: dict[Any, Any]) -> dict[Any, Any]:
    """``server`` with every value but ``urls`` and ``username`` replaced by ``<hidden>``
    (a misspelled key may hold the credential, so unknown keys are hidden too)."""
    return {k: (v if k in ("urls", "username") else HIDDEN) for k, v in server.items()}


def shown(value: Any) -> str:
    """How an error text shows a server or URL: a dict masked, a string as is, anything
    else by its type only (a tuple or list may hold a credential too)."""
    if isinstance(value, dict):
        return repr(masked(value))
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return repr(value)
    return f"a {type(value).__name__}"


def check_ice_servers(value: Any, name: str) -> list[dict[str, Any]]:
    """Validate a browser-style ``iceServers`` list; raise ValueError naming ``name``.

    Error texts never contain a credential (they end up in notebook outputs and logs):
    servers are shown through :func:`masked`. Every credential of a valid list is
    registered with the log redaction (``_redact.add_secret``) before it is returned.
    """
    if not isinstance(value, (list, tuple)):
        # the type only: a dict or any other container may hold a credential
        raise ValueError(
            f"{name} must be a list of {{'urls': ...}} dicts, got a {type(value).__name__}"
        )
    if len(value) > MAX_ICE_SERVERS:
        raise ValueError(f"{name} has {len(value)} servers; at most {MAX_ICE_SERVERS} are allowed")
    out = []
    for i, server in enumerate(value):
        if isinstance(server, str):
            server = {"urls": server}
        if not isinstance(server, dict) or "urls" not in server:
            raise ValueError(f"{name}[{i}] must be a dict with 'urls', got {shown(server)}")
        unknown = sorted(str(k) for k in server if k not in ICE_SERVER_KEYS)
        if unknown:
            raise ValueError(
                f"{name}[{i}] has unknown key(s) {', '.join(map(repr, unknown))}; the keys are "
                f"{', '.join(map(repr, ICE_SERVER_KEYS))} (got {shown(server)})"
            )
        urls = server["urls"]
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, list) or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
            for u in url_list
        ):
            raise ValueError(f"{name}[{i}]['urls'] must be stun:/turn: URL(s), got {shown(urls)}")
        for key in ("username", "credential"):
            if server.get(key) is not None and not isinstance(server[key], str):
                raise ValueError(f"{name}[{i}][{key!r}] must be a string")
        if any(u.startswith("turn") for u in url_list) and not (
            isinstance(server.get("username"), str) and isinstance(server.get("credential"), str)
        ):
            raise ValueError(f"{name}[{i}]: a TURN server needs 'username' and 'credential'")
        out.append(IceServer({k: server[k] for k in ICE_SERVER_KEYS if server.get(k) is not None}))
    for server in out:
        if "credential" in server:
            _redact.add_secret(server["credential"])
    return out


def public_rtc_config(servers: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``rtc_config`` trait for validated ``servers``: what may be synced to every
    page and saved with the notebook ("Save Widget State").

    Only the URLs. When any server has a username or credential, ``"credentials":
    "ask"`` tells the page to ask the kernel for the full list (message ``ice-servers``,
    docs/protocol.md) right before it creates its RTCPeerConnection; the login then lives
    only in that page's memory. A TURN login is the pair, so the username goes with it.
    """
    config: dict[str, Any] = {"iceServers": [{"urls": s["urls"]} for s in servers]}
    if any("username" in s or "credential" in s for s in servers):
        config["credentials"] = "ask"
    return config


config = Config()
