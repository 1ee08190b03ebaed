"""``nbrtc.config.media_loop``: what it takes, what it says when it cannot, the
environment variable, and which loop each value makes (src/nbrtc/_loop.py). No loop runs
here (tests/kernel/test_media_loop.py streams on each)."""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings

import pytest

from nbrtc import _config, _loop
from nbrtc._config import Config


@pytest.mark.parametrize("bad", ["uv", "", "AUTO", None, 1])
def test_a_bad_value_is_refused_naming_the_setting(bad: object) -> None:
    c = Config()
    with pytest.raises(ValueError, match=r"nbrtc.config.media_loop must be one of 'auto'"):
        c.media_loop = bad  # type: ignore[assignment]
    assert c.media_loop == "auto"


def test_uvloop_without_uvloop_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "uvloop_available", lambda: False)
    c = Config()
    with pytest.raises(ValueError, match=r"pip install uvloop.*'auto' uses it"):
        c.media_loop = "uvloop"
    c.media_loop = "asyncio"
    c.media_loop = "auto"  # always accepted: it falls back
    assert "media_loop='auto'" in repr(c)


def test_the_environment_sets_it_and_a_bad_one_is_ignored_with_a_warning() -> None:
    c = Config()
    c.load_defaults(environ={"NBRTC_MEDIA_LOOP": "asyncio"}, paths=[])
    assert c.media_loop == "asyncio"
    c = Config()
    with pytest.warns(UserWarning, match=r"\$NBRTC_MEDIA_LOOP was ignored: .*got 'fast'"):
        c.load_defaults(environ={"NBRTC_MEDIA_LOOP": "fast"}, paths=[])
    assert c.media_loop == "auto"


def _made(kind: str) -> str:
    loop, what = _loop.new_event_loop(kind)
    try:
        assert type(loop).__module__.split(".")[0] == what
        return what
    finally:
        loop.close()


def test_each_value_makes_its_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed (Windows)")
    assert _made("auto") == "uvloop"
    assert _made("uvloop") == "uvloop"
    assert _made("asyncio") == "asyncio"
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert not _loop.uvloop_available()
    assert _made("auto") == "asyncio"
    with caplog.at_level(logging.WARNING, logger="nbrtc"):
        assert _made("uvloop") == "asyncio"  # uninstalled after the check: still starts
    assert "uvloop cannot be imported" in caplog.text


def test_uvloop_is_never_installed_process_wide() -> None:
    """nbrtc makes its media loop with uvloop and installs nothing: the kernel's own loop
    and the user's ``asyncio.run`` stay asyncio's (``uvloop.install()`` would change them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy_loop = asyncio.get_event_loop_policy()
    loop, _ = _loop.new_event_loop("auto")
    try:
        assert asyncio.get_event_loop_policy() is policy_loop
        assert type(policy_loop).__module__.split(".")[0] == "asyncio"
    finally:
        loop.close()
