"""Process-wide settings (``nbrtc.config``), validated when they are set."""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any

from . import _redact
from ._loop import LOOP_KINDS, uvloop_available
from ._transport.turn import TurnRestServer, turn

log = logging.getLogger("nbrtc")

#: an entry of ``ice_servers``: a browser-style dict, or ``nbrtc.turn(...)``
IceServerSpec = dict[str, Any] | TurnRestServer
#: ICE transport policies (the browser's RTCIceTransportPolicy, aiortc's too)
ICE_TRANSPORT_POLICIES = ("all", "relay")
#: the environment variable a hub administrator sets for every kernel (JSON)
ENV_ICE_SERVERS = "NBRTC_ICE_SERVERS"
#: the environment variable that sets ``media_loop`` for every kernel ("asyncio" opts out)
ENV_MEDIA_LOOP = "NBRTC_MEDIA_LOOP"
#: the environment variable that sets ``kernel_offer`` for every kernel ("1" or "0")
ENV_KERNEL_OFFER = "NBRTC_KERNEL_OFFER"
#: the page's jitter buffer target for the kernel's video, ms (js/peer/playout.js)
DEFAULT_JITTER_BUFFER_MS = 0
#: the browser's bound for ``jitterBufferTarget`` (W3C WebRTC extensions)
MAX_JITTER_BUFFER_MS = 4000
#: the file searched in Jupyter's config path (``jupyter --paths``), first found wins
CONFIG_FILE = "nbrtc.json"


class Config:
    """Settings read when a stream starts.

    - ``ice_servers``: browser-style list, e.g.
      ``[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]``,
      whose entries may also be ``nbrtc.turn(url, secret=...)`` (credentials minted per
      stream). Empty by default: no STUN server is contacted unless you configure one.
      The default comes from ``$NBRTC_ICE_SERVERS`` (JSON) or, without it, from the first
      ``nbrtc.json`` in Jupyter's config path (``{"ice_servers": [...],
      "ice_transport_policy": "relay"}``; a server ``{"urls": ..., "secret": ...,
      "ttl": ...}`` there is an ``nbrtc.turn``), so an administrator sets TURN once for
      every user's kernel.
    - ``ice_transport_policy``: ``"all"`` (default) or ``"relay"``: only TURN relay
      candidates, on both the page and the kernel (needs a TURN server).
    - ``max_streams``: cap on concurrent streams in this kernel (default 64).
    - ``max_streams_per_page``: cap on the concurrent streams of one page (browser tab),
      so one runaway page cannot lock the others out (default 32).
    - ``ice_loopback``: also offer 127.0.0.1 as a kernel candidate (default True), so a
      browser on the same machine connects even when the host has no other interface.
    - ``stats_interval``: seconds between getStats samples of each side for ``stats()``,
      ``stats_log()`` and the Inspector while someone reads them (default 1.0; 0 turns
      sampling off). Read when a widget is made.
    - ``jitter_buffer_ms``: how long the page's jitter buffer holds the video the kernel
      sends (a view's video, a camera's or screen's processed video) before showing it,
      0 to 4000 (default 0: the browser's own, about 7 ms here, the lowest latency). More
      is smoother and later: the kernel's frames reach the page a few ms early or late,
      and some sessions drop frames in the page's compositor (26 of 30 a second shown);
      a 50 ms target stopped that in such a session. Read when a widget is made;
      ``widget.jitter_buffer_ms`` changes one widget's live streams at once.
    - ``stats_idle_interval``: seconds between those samples while nobody reads a
      stream's stats (none of these calls and no Inspector for 30 s; default 5.0). A read
      brings the stream back to ``stats_interval`` within a second; set it equal to
      ``stats_interval`` to sample at that pace always. Read when a widget is made.
    - ``kernel_offer``: a camera's kernel makes the WebRTC offer as the widget (or the
      ``Grid`` holding it) is displayed, and the page answers it (default True; False:
      the page offers). The offer then reaches the page with the display, which takes a
      trip through the notebook server and the kernel's answer off the path to the first
      frame (docs/protocol.md "The kernel's offer"). Read when a camera is displayed;
      ``$NBRTC_KERNEL_OFFER=0`` turns it off for every kernel.
    """

    def __init__(self) -> None:
        self._ice_servers: list[IceServerSpec] = []
        self._ice_transport_policy = "all"
        self.source = "default"  # where ice_servers came from: default, env, a file path
        self._max_streams = 64
        self._max_streams_per_page = 32
        self.ice_loopback = True
        self._stats_interval = 1.0
        self._stats_idle_interval = 5.0
        self._media_loop = "auto"
        self._jitter_buffer_ms = DEFAULT_JITTER_BUFFER_MS
        self._kernel_offer = True

    @property
    def ice_servers(self) -> list[IceServerSpec]:
        """Copies of the servers; their repr shows ``'credential': '<hidden>'``."""
        return [s if isinstance(s, TurnRestServer) else IceServer(s) for s in self._ice_servers]

    @ice_servers.setter
    def ice_servers(self, value: list[IceServerSpec]) -> None:
        self._ice_servers = check_ice_servers(value, "nbrtc.config.ice_servers")
        self.source = "set in Python"

    @property
    def ice_transport_policy(self) -> str:
        return self._ice_transport_policy

    @ice_transport_policy.setter
    def ice_transport_policy(self, value: str) -> None:
        self._ice_transport_policy = check_policy(value, "nbrtc.config.ice_transport_policy")

    @property
    def kernel_offer(self) -> bool:
        return self._kernel_offer

    @kernel_offer.setter
    def kernel_offer(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(
                f"nbrtc.config.kernel_offer must be True or False, not {type(value).__name__}"
            )
        self._kernel_offer = value

    def load_defaults(self, environ: Any = None, paths: list[str] | None = None) -> None:
        """Read ``$NBRTC_MEDIA_LOOP``, ``$NBRTC_KERNEL_OFFER``, and ``$NBRTC_ICE_SERVERS``
        or else the first ``nbrtc.json`` in ``paths`` (default: Jupyter's config path).
        Called once when nbrtc is imported. A setting that cannot be used is reported with
        a warning naming its source and ignored (an import must not fail over it); the
        secret is never in the warning."""
        environ = os.environ if environ is None else environ
        offer = environ.get(ENV_KERNEL_OFFER, "").strip()
        if offer in ("1", "0"):
            self._kernel_offer = offer == "1"
        elif offer:
            _warn(f"${ENV_KERNEL_OFFER} was ignored: it must be 1 or 0, not {offer!r}")
        loop_kind = environ.get(ENV_MEDIA_LOOP)
        if loop_kind:
            try:
                self.media_loop = loop_kind.strip()
            except ValueError as exc:
                _warn(f"${ENV_MEDIA_LOOP} was ignored: {exc}")
        text = environ.get(ENV_ICE_SERVERS)
        if text:
            try:
                value = json.loads(text)
                if isinstance(value, dict):  # the file's shape is accepted here too
                    self._apply(value, f"${ENV_ICE_SERVERS}")
                else:
                    self._apply({"ice_servers": value}, f"${ENV_ICE_SERVERS}")
            except (ValueError, TypeError) as exc:
                _warn(f"${ENV_ICE_SERVERS} was ignored: {_words(exc)}")
            return
        for folder in _jupyter_config_path() if paths is None else paths:
            path = os.path.join(folder, CONFIG_FILE)
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    value = json.load(fh)
                if not isinstance(value, dict):
                    raise ValueError("it must hold a JSON object")
                self._apply(value, path)
            except (OSError, ValueError, TypeError) as exc:
                _warn(f"{path} was ignored: {_words(exc)}")
            return

    def _apply(self, value: dict[str, Any], source: str) -> None:
        unknown = sorted(set(value) - {"ice_servers", "ice_transport_policy"})
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown}; the keys are ice_servers, ice_transport_policy"
            )
        servers = value.get("ice_servers", [])
        if isinstance(servers, list):  # else check_ice_servers says what is wrong
            servers = [_from_json(s, f"{source}: ice_servers[{i}]") for i, s in enumerate(servers)]
        checked = check_ice_servers(servers, f"{source}: ice_servers")
        policy = check_policy(
            value.get("ice_transport_policy", "all"), f"{source}: ice_transport_policy"
        )
        self._ice_servers, self._ice_transport_policy, self.source = checked, policy, source

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

    @property
    def stats_idle_interval(self) -> float:
        return self._stats_idle_interval

    @stats_idle_interval.setter
    def stats_idle_interval(self, value: float) -> None:
        name = "nbrtc.config.stats_idle_interval"
        if check_stats_interval(value, name) == 0:
            raise ValueError(
                f"{name} must be between 0.25 and 60 seconds, got {value!r} "
                "(stats_interval = 0 turns sampling off)"
            )
        self._stats_idle_interval = float(value)

    @property
    def jitter_buffer_ms(self) -> int:
        return self._jitter_buffer_ms

    @jitter_buffer_ms.setter
    def jitter_buffer_ms(self, value: int) -> None:
        self._jitter_buffer_ms = check_jitter_buffer_ms(value, "nbrtc.config.jitter_buffer_ms")

    @property
    def media_loop(self) -> str:
        return self._media_loop

    @media_loop.setter
    def media_loop(self, value: str) -> None:
        self._media_loop = check_media_loop(value, "nbrtc.config.media_loop")

    def __repr__(self) -> str:
        servers = [
            s.urls if isinstance(s, TurnRestServer) else s.get("urls") for s in self._ice_servers
        ]
        return (
            f"nbrtc.Config(ice_servers={servers!r}, "
            f"ice_transport_policy={self._ice_transport_policy!r}, "
            f"max_streams={self._max_streams}, "
            f"max_streams_per_page={self._max_streams_per_page}, "
            f"ice_loopback={self.ice_loopback}, stats_interval={self._stats_interval}, "
            f"stats_idle_interval={self._stats_idle_interval}, "
            f"media_loop={self._media_loop!r}, jitter_buffer_ms={self._jitter_buffer_ms}, "
            f"kernel_offer={self._kernel_offer})"
        )


def check_media_loop(value: Any, name: str) -> str:
    """One of LOOP_KINDS, and "uvloop" only when it can be imported; ValueError naming
    ``name`` otherwise."""
    if not isinstance(value, str) or value not in LOOP_KINDS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, LOOP_KINDS))}, got {value!r}")
    if value == "uvloop" and not uvloop_available():
        raise ValueError(
            f"{name} = 'uvloop' needs the uvloop package, which cannot be imported here "
            "(pip install uvloop; there is none for Windows). 'auto' uses it when it is there."
        )
    return value


def check_policy(value: Any, name: str) -> str:
    """``"all"`` or ``"relay"``; ValueError naming ``name`` otherwise."""
    if value not in ICE_TRANSPORT_POLICIES or not isinstance(value, str):
        raise ValueError(f"{name} must be 'all' or 'relay', got {value!r}")
    return value


def _from_json(server: Any, name: str) -> Any:
    """A server of the environment/file form: ``{"urls", "secret", "ttl"?}`` is an
    ``nbrtc.turn``; anything else is checked as a browser-style dict."""
    if isinstance(server, dict) and "secret" in server:
        extra = sorted(set(server) - {"urls", "secret", "ttl", "name"})
        if extra:
            raise ValueError(
                f"{name} has unknown key(s) {extra}; "
                "a TURN REST server takes urls, secret, ttl, name"
            )
        urls: Any = server.get("urls")  # turn() checks it and says what is wrong
        return turn(urls, **{k: server[k] for k in ("secret", "ttl", "name") if k in server})
    return server


def _jupyter_config_path() -> list[str]:
    try:
        from jupyter_core.paths import jupyter_config_path

        return list(jupyter_config_path())
    except Exception:  # jupyter_core missing or broken: no file to read
        return []


def _words(exc: BaseException) -> str:
    return _redact.redact(str(exc))


def _warn(text: str) -> None:
    log.warning("nbrtc: %s", text)
    warnings.warn(text, stacklevel=3)


def kernel_servers(servers: list[IceServerSpec], tag: str) -> list[dict[str, Any]]:
    """The servers as browser-style dicts for one stream: ``nbrtc.turn`` entries get a
    credential minted for ``tag`` (the stream id)."""
    return [s.mint(tag) if isinstance(s, TurnRestServer) else dict(s) for s in servers]


def has_turn(servers: list[IceServerSpec]) -> bool:
    """Whether any server is a TURN server (``turn:`` or ``turns:``)."""
    for s in servers:
        urls = s.urls if isinstance(s, TurnRestServer) else s["urls"]  # checked: always there
        if any(u.startswith("turn") for u in ([urls] if isinstance(urls, str) else urls)):
            return True
    return False


def _positive_int(value: Any, name: str) -> int:
    """``value`` if it is an int of at least 1; ValueError naming ``name`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_jitter_buffer_ms(value: Any, name: str) -> int:
    """0 (the browser's own) to MAX_JITTER_BUFFER_MS whole ms; ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{name} must be a whole number of milliseconds (0 = the browser's own), got {value!r}"
        )
    if not 0 <= value <= MAX_JITTER_BUFFER_MS:
        raise ValueError(
            f"{name} must be between 0 (the browser's own, lowest latency) and "
            f"{MAX_JITTER_BUFFER_MS} ms, got {value!r}"
        )
    return int(value)


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


class IceServer(dict[str, Any]):
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


def check_ice_servers(value: Any, name: str) -> list[IceServerSpec]:
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
    out: list[IceServerSpec] = []
    for i, server in enumerate(value):
        if isinstance(server, TurnRestServer):
            out.append(server)
            continue
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
        if isinstance(server, dict) and "credential" in server:
            _redact.add_secret(server["credential"])
    return out


def public_rtc_config(servers: list[IceServerSpec], policy: str = "all") -> dict[str, Any]:
    """The ``rtc_config`` trait for validated ``servers``: what may be synced to every
    page and saved with the notebook ("Save Widget State").

    Only the URLs. When any server has a username or credential, ``"credentials":
    "ask"`` tells the page to ask the kernel for the full list (message ``ice-servers``,
    docs/protocol.md) right before it creates its RTCPeerConnection; the login then lives
    only in that page's memory. A TURN login is the pair, so the username goes with it.
    """
    urls = [{"urls": s.urls if isinstance(s, TurnRestServer) else s["urls"]} for s in servers]
    config: dict[str, Any] = {"iceServers": urls}
    if any(isinstance(s, TurnRestServer) or "username" in s or "credential" in s for s in servers):
        config["credentials"] = "ask"
    if policy != "all":
        config["iceTransportPolicy"] = policy
    return config


config = Config()
config.load_defaults()
