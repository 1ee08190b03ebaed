"""The Janus fixtures the kernel-side Janus tests share (import them into a test module:
``from ._janus import janus, janus_server, server  # noqa: F401``).

``janus_server``: one Debian ``janus`` per test module, in a network namespace of its own
(tests/lab/janus.py), ``session_timeout`` = SESSION_TIMEOUT s; skipped when janus or
aiohttp is missing. ``server``: that Janus, checked clean (no session) before and after
each test, and alive after it. ``janus``: an ``nbrtc.Janus`` client of it, closed after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nbrtc
from lab import janus as jl

SESSION_TIMEOUT = 6
#: how long after session_timeout Janus may take to end a silent session: its watchdog
#: runs every 2 s on a whole-second glib timer (janus.c, janus_sessions_watchdog)
END_MARGIN = 5


@pytest.fixture(scope="module")
def janus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jl.JanusServer]:
    if reason := jl.janus_missing():
        pytest.skip(reason)
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        pytest.skip("aiohttp (the `janus` extra) is not installed: pip install 'nbrtc[janus]'")
    with jl.JanusLab() as lab:
        server = jl.JanusServer(lab, tmp_path_factory.mktemp("janus"), SESSION_TIMEOUT)
        with server:
            yield server
        assert not server.alive()


@pytest.fixture
def server(janus_server: jl.JanusServer) -> Iterator[jl.JanusServer]:
    janus_server.wait_sessions(0, SESSION_TIMEOUT + END_MARGIN + 1)
    yield janus_server
    assert janus_server.alive(), janus_server.log_tail()
    janus_server.wait_sessions(0, SESSION_TIMEOUT + END_MARGIN + 1)


@pytest.fixture
def janus(server: jl.JanusServer) -> Iterator[nbrtc.Janus]:
    client = nbrtc.Janus(server.ws_url, api_secret=server.api_secret)
    yield client
    client.close()
