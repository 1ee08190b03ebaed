"""The front-end bundles, as anywidget's ``_esm`` and ``_css`` want them.

``_esm`` is the small loader (``static/loader.js``, from js/loader.js) and the bundle
itself travels in each model's ``_module`` trait: anywidget imports every model's
``_esm`` from a fresh blob URL, which made each widget parse and evaluate the whole
~100 KiB bundle again (7-12 ms of the page's main thread per widget); the loader imports
it once per page and bundle text. What crosses the comm is the same size as before.

anywidget accepts a path for ``_esm`` and ``_css``, but then connects every new widget
instance to the file's change signal with a strong reference (anywidget 0.9
``AnyWidget.__init__``: ``value.changed.connect(lambda new_contents: setattr(self, key,
new_contents))``), so no widget made from a path-based class is ever freed: each closed
Camera kept its history, stats and frames for the life of the kernel (about 0.16 MiB per
open/close cycle in ``benchmarks/run.py``). Given the bundle's text instead, anywidget
connects nothing. With ``ANYWIDGET_HMR=1`` (front-end development: reload the bundle on
change) the path is given, leak and all.

``_css``: anywidget (0.11, ``loadCssText``) puts it in one ``<style id=_anywidget_id>``
in the page's head, and ``_anywidget_id`` is the widget's class name: every widget of a
class shares that element (a new one replaces its text, none is added), and nothing
removes it when a widget closes, so closing one view never unstyles another.

The bundle's text crosses the comm once per kernel and page, not once per widget: a
widget's ``_module`` carries it only until a page has shown that it holds the bundle (it
sent a message through a widget of that bundle: :func:`page_holds`); later widgets carry
"" and the bundle's id (``_module_id``, name and content hash), which the page's loader
finds in its cache. A page without it (a second tab, a reload) asks the widget for the
text once (``{"nbrtc_module": id}``, answered by :func:`answer_request`). Measured: each
widget's comm_open carried ~105 KiB through the notebook server and the page (JSON,
WebSocket, JSON again) on the path to its first frame; without it, the first frame in
Python came 11-18 ms sooner (median of 12 and 16 alternating cameras).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pathlib
import threading
import time
from typing import Any

log = logging.getLogger("nbrtc")

STATIC = pathlib.Path(__file__).parent / "static"


def _built(name: str) -> pathlib.Path:
    """``static/<name>``'s path; FileNotFoundError saying how to build it when missing."""
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"nbrtc's front-end bundle {path} is missing: build it with `npm run build` "
            "(or `pip install .`, which builds it)"
        )
    return path


def _bundle(name: str) -> str | pathlib.Path:
    """``static/<name>``'s text, or its path under ANYWIDGET_HMR=1; FileNotFoundError
    saying how to build it when it is missing."""
    path = _built(name)
    if os.environ.get("ANYWIDGET_HMR") == "1":
        return path
    text = path.read_text(encoding="utf-8")
    # anywidget takes a one-line string ending in ".js" (or ".css", or any other
    # extension) for a path; a minified bundle can be one line, so it gets a newline
    return text if "\n" in text else text + "\n"


def esm(name: str) -> str | pathlib.Path:
    """The loader's text, for ``_esm`` (the bundle ``name`` goes in ``_module``: see
    :func:`module`); under ANYWIDGET_HMR=1 ``static/<name>``'s path itself, so anywidget
    reloads it on change. A clear error when the bundles were never built."""
    if os.environ.get("ANYWIDGET_HMR") == "1":
        return _bundle(name)
    _built(name)  # the same clear error when the bundle itself is missing (read by module())
    return _bundle("loader.js")


def module(name: str) -> str:
    """``static/<name>``'s text, for the ``_module`` trait the loader imports ("" under
    ANYWIDGET_HMR=1, where ``_esm`` is the bundle's path and no loader runs). Read once
    per process, like the classes' ``_esm``."""
    if os.environ.get("ANYWIDGET_HMR") == "1":
        return ""
    return _module_text(name)


@functools.cache
def _module_text(name: str) -> str:
    return str(_bundle(name))


def css(name: str) -> str | pathlib.Path:
    """``static/<name>``'s text (or its path under ANYWIDGET_HMR=1), for ``_css``; the
    same clear error as :func:`esm` when the bundle was never built."""
    return _bundle(name)


# --- the bundle once per page -------------------------------------------------------------
#: the key of a page's request for a bundle's text, and of the kernel's reply
REQUEST_KEY = "nbrtc_module"
#: replies one widget gives within REQUEST_WINDOW s (two tabs and a reload or two fit;
#: a page asking more gets an error reply, so each costs the kernel ~105 KiB at most this
#: often: docs/protocol.md "The front-end bundle")
MAX_REPLIES = 4
REQUEST_WINDOW = 10.0
#: longest bundle id a request may name
MAX_ID_LENGTH = 200

#: bundle names a page of this kernel has shown it holds (page_holds; a set's add and
#: clear are atomic, so comm handler threads need no lock of their own)
_held: set[str] = set()


@functools.cache
def module_id(name: str) -> str:
    """``static/<name>``'s id for the page's cache: its name and a hash of its text
    ("" under ANYWIDGET_HMR=1, where no loader runs). Any thread."""
    text = module(name)
    if not text:
        return ""
    return f"{name}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def module_for_new_widget(name: str) -> str:
    """What a new widget's ``_module`` carries: the bundle's text until a page of this
    kernel has shown that it holds it (:func:`page_holds`), then "" (the page's loader
    finds it by ``_module_id``, or asks for it). Any thread."""
    return "" if name in _held and module_id(name) else module(name)


def page_holds(name: str) -> None:
    """A page sent a message through a widget of bundle ``name``: it runs that bundle
    (comm handler thread; a set add, no I/O)."""
    _held.add(name)


def forget_pages() -> None:
    """Widgets made from now on carry their bundle's text again (tests; any thread)."""
    _held.clear()


def is_request(content: Any) -> bool:
    """Whether a page's custom message is a loader's request for a bundle's text."""
    return isinstance(content, dict) and REQUEST_KEY in content


class Replies:
    """One widget's bound on answered bundle requests (:data:`MAX_REPLIES` per
    :data:`REQUEST_WINDOW` s). Comm handler thread."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._lock = threading.Lock()

    def allow(self) -> bool:
        now = time.monotonic()
        with self._lock:
            self._times = [t for t in self._times if now - t < REQUEST_WINDOW]
            if len(self._times) >= MAX_REPLIES:
                return False
            self._times.append(now)
            return True


def answer_request(name: str, content: Any, replies: Replies) -> dict[str, str]:
    """The reply to a page's ``{"nbrtc_module": id}`` sent to a widget of bundle
    ``name``: ``{"nbrtc_module": id, "text": ...}``, or ``{"nbrtc_module": id, "error":
    words}`` for another bundle's id, a malformed request or one beyond the widget's
    bound (the loader then fails the view in those words instead of waiting). Never
    raises. Comm handler thread."""
    wanted = content.get(REQUEST_KEY) if isinstance(content, dict) else None
    mine = module_id(name)
    if not isinstance(wanted, str) or len(wanted) > MAX_ID_LENGTH:
        return {REQUEST_KEY: "", "error": "a bundle request names the bundle's id, a string"}
    if wanted != mine:
        return {
            REQUEST_KEY: wanted,
            "error": f"this widget's front-end bundle is {mine!r}, not {wanted!r}: "
            "restart the kernel and reload the page",
        }
    if not replies.allow():
        log.info(
            "nbrtc: refused a page's request for %s: more than %d in %g s",
            mine,
            MAX_REPLIES,
            REQUEST_WINDOW,
        )
        return {
            REQUEST_KEY: wanted,
            "error": f"more than {MAX_REPLIES} requests for the bundle within "
            f"{REQUEST_WINDOW:g} s: reload the page",
        }
    return {REQUEST_KEY: wanted, "text": module(name)}
