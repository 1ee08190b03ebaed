"""TURN configuration (issue 10, part 1): ``nbrtc.turn`` credentials, the relay policy,
configuration from the environment and Jupyter's config path, and what the page and the
kernel's aiortc are given. Pure: no network here (tests/kernel/test_turn.py runs coturn).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import nbrtc
from nbrtc._config import Config, public_rtc_config
from nbrtc._signaling.stream import rtc_configuration

SECRET = "s3cret-shared-with-coturn"


def test_turn_mints_rest_credentials_coturn_accepts() -> None:
    """username ``<expiry>:<name>-<tag>``, password base64(HMAC-SHA1(secret, username)),
    as coturn's use-auth-secret computes it."""
    server = nbrtc.turn("turn:192.0.2.1:3478?transport=tcp", secret=SECRET, ttl=600)
    now = 1_800_000_000
    minted = server.mint("p1-1", now=now)
    assert minted["urls"] == "turn:192.0.2.1:3478?transport=tcp"
    assert minted["username"] == f"{now + 600}:nbrtc-p1-1"
    expected = hmac.new(SECRET.encode(), minted["username"].encode(), hashlib.sha1).digest()
    assert minted["credential"] == base64.b64encode(expected).decode()
    later = server.mint("p1-1")
    assert int(later["username"].split(":")[0]) >= int(time.time()) + 599


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"url": "stun:x", "secret": SECRET}, "url must be turn"),
        ({"url": "turn:x?transport=sctp", "secret": SECRET}, "url must be turn"),
        ({"url": [], "secret": SECRET}, "url must be"),
        ({"url": "turn:x", "secret": ""}, "secret must be"),
        ({"url": "turn:x", "secret": SECRET, "ttl": 5}, "ttl must be"),
        ({"url": "turn:x", "secret": SECRET, "ttl": True}, "ttl must be"),
        ({"url": "turn:x", "secret": SECRET, "name": "a b"}, "name must be"),
    ],
)
def test_turn_refuses_bad_arguments_in_words(kwargs: dict[str, Any], words: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ValueError, match=words) as err:
        nbrtc.turn(url, **kwargs)
    assert SECRET not in str(err.value)


def test_the_secret_never_shows() -> None:
    server = nbrtc.turn("turn:192.0.2.1", secret=SECRET)
    assert SECRET not in repr(server) and "<hidden>" in repr(server)
    cam = nbrtc.Camera(ice_servers=[server])
    try:
        # the state saved with a notebook, but the front-end bundle's own source text
        synced = {k: v for k, v in cam.get_state().items() if k not in ("_esm", "_css", "_module")}
        state = json.dumps(synced, default=str)
        assert SECRET not in state and '"credential":' not in state
        assert cam.rtc_config == {
            "iceServers": [{"urls": "turn:192.0.2.1"}],
            "credentials": "ask",
        }
        assert SECRET not in repr(cam) and SECRET not in repr(nbrtc.config)
        # what the page and the kernel get: minted credentials, never the secret
        for minted in (cam._ice_servers("p9-1"), cam._ice_servers()):
            assert SECRET not in json.dumps(minted) and minted[0]["username"]
    finally:
        cam.close()


def test_relay_policy_reaches_both_peers() -> None:
    servers = [{"urls": "turn:192.0.2.1:3478", "username": "u", "credential": "p"}]
    cam = nbrtc.Camera(ice_servers=servers, ice_transport_policy="relay")
    try:
        assert cam.rtc_config["iceTransportPolicy"] == "relay"
        conf = rtc_configuration(cam._ice_servers("s"), cam._ice_policy)
        assert conf.iceTransportPolicy.value == "relay"
        assert [s.urls for s in conf.iceServers] == ["turn:192.0.2.1:3478"]
    finally:
        cam.close()
    # without servers the kernel's aiortc still gets an explicit empty list (given none,
    # aiortc would contact a public STUN server)
    assert rtc_configuration([]).iceServers == []
    assert "iceTransportPolicy" not in public_rtc_config([])


def test_relay_policy_needs_a_turn_server() -> None:
    with pytest.raises(ValueError, match="needs a TURN server"):
        nbrtc.Camera(ice_transport_policy="relay")
    with pytest.raises(ValueError, match="needs a TURN server"):
        nbrtc.VideoView(ice_servers=["stun:192.0.2.1"], ice_transport_policy="relay")
    with pytest.raises(ValueError, match="'all' or 'relay'"):
        nbrtc.Camera(ice_transport_policy="tcp")
    with pytest.raises(ValueError, match="'all' or 'relay'"):
        nbrtc.config.ice_transport_policy = "none"
    assert nbrtc.config.ice_transport_policy == "all"


def _load(environ: dict[str, str], paths: list[str] | None = None) -> Config:
    conf = Config()
    conf.load_defaults(environ=environ, paths=paths or [])
    return conf


def test_servers_from_the_environment() -> None:
    servers = [{"urls": "turn:192.0.2.1:3478?transport=tcp", "username": "u", "credential": "p"}]
    conf = _load({"NBRTC_ICE_SERVERS": json.dumps(servers)})
    assert [dict(s) for s in conf.ice_servers] == servers and conf.source == "$NBRTC_ICE_SERVERS"
    conf = _load(
        {
            "NBRTC_ICE_SERVERS": json.dumps(
                {
                    "ice_servers": [{"urls": "turn:192.0.2.1", "secret": SECRET, "ttl": 120}],
                    "ice_transport_policy": "relay",
                }
            )
        }
    )
    [server] = conf.ice_servers
    assert isinstance(server, nbrtc.TurnRestServer) and server.ttl == 120
    assert conf.ice_transport_policy == "relay"


def test_servers_from_a_file_in_jupyters_config_path(tmp_path: Path) -> None:
    first, second = tmp_path / "user", tmp_path / "system"
    first.mkdir()
    second.mkdir()
    (second / "nbrtc.json").write_text(
        json.dumps({"ice_servers": [{"urls": "turn:198.51.100.1", "secret": SECRET}]})
    )
    conf = _load({}, [str(first), str(second)])
    assert conf.source == str(second / "nbrtc.json")
    assert isinstance(conf.ice_servers[0], nbrtc.TurnRestServer)
    (first / "nbrtc.json").write_text(json.dumps({"ice_servers": []}))
    assert _load({}, [str(first), str(second)]).ice_servers == [], "the first file found wins"
    # the environment wins over any file
    env = {"NBRTC_ICE_SERVERS": "[]"}
    assert _load(env, [str(second)]).source == "$NBRTC_ICE_SERVERS"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps([{"urls": "turn:x", "username": "u", "credentail": SECRET}]),
        json.dumps({"ice_servers": [{"urls": "turn:x", "secret": SECRET, "tll": 5}]}),
        json.dumps({"ice_servers": [], "ice_transport_policy": "tcp"}),
        json.dumps({"ice_servers": [], "colour": 1}),
    ],
)
def test_bad_settings_are_ignored_with_a_warning_that_names_them(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An unusable setting must not break `import nbrtc`: it is ignored, and a warning
    names its source and what is wrong, without the secret."""
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        conf = _load({"NBRTC_ICE_SERVERS": text})
    assert conf.ice_servers == [] and conf.source == "default"
    [w] = caught
    assert "$NBRTC_ICE_SERVERS was ignored" in str(w.message)
    assert SECRET not in str(w.message) and SECRET not in caplog.text
