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
"""

from __future__ import annotations

import os
import pathlib

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
    ANYWIDGET_HMR=1, where ``_esm`` is the bundle's path and no loader runs)."""
    if os.environ.get("ANYWIDGET_HMR") == "1":
        return ""
    return str(_bundle(name))


def css(name: str) -> str | pathlib.Path:
    """``static/<name>``'s text (or its path under ANYWIDGET_HMR=1), for ``_css``; the
    same clear error as :func:`esm` when the bundle was never built."""
    return _bundle(name)
