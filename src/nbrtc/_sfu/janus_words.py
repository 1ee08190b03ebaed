"""What Janus's errors mean, in words: pure functions from codes to sentences.

Janus reports two kinds of error. Core errors come as ``{"janus": "error", "error":
{"code", "reason"}}`` (janus/apierror.h); plugin errors come inside a plugin's reply as
``{"error_code", "error"}`` (each plugin's own numbering, e.g. the videoroom's 426).
Every sentence says what went wrong and what to do. No sentence ever contains a request's
body, so an ``api_secret``, ``token`` or ``admin_secret`` can never reach an error text.
"""

from __future__ import annotations

# --- core error codes (janus/apierror.h) ---------------------------------------------------
UNAUTHORIZED = 403
UNAUTHORIZED_PLUGIN = 405
TRANSPORT_SPECIFIC = 450
MISSING_REQUEST = 452
UNKNOWN_REQUEST = 453
INVALID_JSON = 454
INVALID_JSON_OBJECT = 455
MISSING_MANDATORY_ELEMENT = 456
INVALID_REQUEST_PATH = 457
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459
PLUGIN_NOT_FOUND = 460
PLUGIN_ATTACH = 461
PLUGIN_MESSAGE = 462
PLUGIN_DETACH = 463
JSEP_UNKNOWN_TYPE = 464
JSEP_INVALID_SDP = 465
TRICKE_INVALID_STREAM = 466
INVALID_ELEMENT_TYPE = 467
SESSION_CONFLICT = 468
UNEXPECTED_ANSWER = 469
TOKEN_NOT_FOUND = 470
WEBRTC_STATE = 471
NOT_ACCEPTING_SESSIONS = 472

# --- plugin error codes this layer names ----------------------------------------------------
VIDEOROOM = "janus.plugin.videoroom"
STREAMING = "janus.plugin.streaming"
VIDEOROOM_NO_SUCH_ROOM = 426
VIDEOROOM_ROOM_EXISTS = 427
VIDEOROOM_NO_SUCH_FEED = 428
VIDEOROOM_UNAUTHORIZED = 433
VIDEOROOM_PUBLISHERS_FULL = 432
STREAMING_NO_SUCH_MOUNTPOINT = 455
STREAMING_UNAUTHORIZED = 457


def core_error(code: int | None, reason: str, url: str, request: str, plugin: str = "") -> str:
    """The sentence for a core ``error`` reply to ``request`` sent to the Janus at ``url``.

    ``reason`` is Janus's own text (it never echoes a secret); ``plugin`` the plugin an
    ``attach`` named.
    """
    said = f" (Janus said: {reason})" if reason else ""
    if code in (UNAUTHORIZED, TOKEN_NOT_FOUND):
        return (
            f"the Janus at {url} refused '{request}' as unauthorized{said}: it needs an API "
            "secret or a token, or the one given is wrong. Pass the server's api_secret "
            "(janus.jcfg, general.api_secret) as nbrtc.Janus(url, api_secret=...), or a valid "
            "token=... when it uses token_auth."
        )
    if code == UNAUTHORIZED_PLUGIN:
        return (
            f"the Janus at {url} does not allow this token to use {plugin or 'the plugin'}"
            f"{said}: add the plugin to the token's allowed list (admin API add_token)."
        )
    if code == PLUGIN_NOT_FOUND:
        name = plugin or "the plugin"
        return (
            f"this Janus ({url}) has no {name}: enable it (remove its .so from plugins.disable "
            f"in janus.jcfg and make sure the plugin is installed, e.g. Debian's janus package "
            f"ships {name}) and restart Janus{said}."
        )
    if code == SESSION_NOT_FOUND:
        return (
            f"the Janus at {url} no longer knows this session{said}: it timed out (no request "
            "or keep-alive within the server's session_timeout), was destroyed, or the server "
            "restarted. Open a new session."
        )
    if code == HANDLE_NOT_FOUND:
        return (
            f"the Janus at {url} no longer knows this plugin handle{said}: it was detached or "
            "its session ended. Attach the plugin again."
        )
    if code == NOT_ACCEPTING_SESSIONS:
        return (
            f"the Janus at {url} is not accepting new sessions{said} (an operator set "
            "accept_new_sessions to false); try again later or use another server."
        )
    if code in (JSEP_UNKNOWN_TYPE, JSEP_INVALID_SDP, UNEXPECTED_ANSWER, WEBRTC_STATE):
        return f"the Janus at {url} refused the session description sent with '{request}'{said}."
    return f"the Janus at {url} refused '{request}' with error {code}{said}."


def plugin_error(plugin: str, code: int | None, reason: str, url: str) -> str:
    """The sentence for a plugin's ``error_code`` in its reply (``plugin`` at ``url``)."""
    said = f" (Janus said: {reason})" if reason else ""
    if plugin == VIDEOROOM:
        if code == VIDEOROOM_PUBLISHERS_FULL:
            return (
                f"the videoroom on {url} is full: it already has its maximum number of "
                f"publishers{said}. Create the room with a larger 'publishers' or wait for "
                "a member to leave."
            )
        if code == VIDEOROOM_NO_SUCH_ROOM:
            return (
                f"the videoroom on {url} has no such room{said}: create it first (or check "
                "the room id)."
            )
        if code == VIDEOROOM_NO_SUCH_FEED:
            return (
                f"the publisher is gone from the videoroom on {url}{said}: it left or its "
                "connection ended; subscribe to a current publisher."
            )
        if code == VIDEOROOM_ROOM_EXISTS:
            return f"a videoroom with this id already exists on {url}{said}."
        if code == VIDEOROOM_UNAUTHORIZED:
            return (
                f"the videoroom on {url} refused the request as unauthorized{said}: the room "
                "needs its secret or pin."
            )
    if plugin == STREAMING:
        if code == STREAMING_NO_SUCH_MOUNTPOINT:
            return (
                f"the streaming plugin on {url} has no such mountpoint{said}: check its id "
                "(the plugin's 'list' request shows them)."
            )
        if code == STREAMING_UNAUTHORIZED:
            return (
                f"the streaming plugin on {url} refused the request as unauthorized{said}: "
                "the mountpoint needs its secret or pin."
            )
    return f"{plugin} on {url} refused the request with error {code}{said}."


def unreachable(url: str, why: str) -> str:
    """The sentence for a server we could not connect to at all."""
    return (
        f"cannot reach Janus at {url}: {why}. Check that Janus runs, that this address and "
        "port are its WebSocket transport (janus.transport.websockets.jcfg: ws = true, "
        "ws_port, default 8188) or its HTTP transport (janus.transport.http.jcfg, "
        "http://host:8088/janus), and that no firewall drops the connection."
    )


def not_janus(url: str, why: str) -> str:
    """The sentence for a server that answered but is not a Janus API."""
    return (
        f"the server at {url} is not a Janus API: {why}. Point nbrtc.Janus at Janus's "
        "WebSocket transport (ws://host:8188/, subprotocol janus-protocol) or its HTTP "
        "transport (http://host:8088/janus)."
    )
