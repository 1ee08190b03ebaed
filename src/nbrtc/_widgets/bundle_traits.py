"""``BundleTraits``: the traits that bring a widget's front-end bundle to the page, and
the page's request for it (``_bundle.py`` says why the text goes once per page).

Mixin for nbrtc's anywidget classes (placed before ``anywidget.AnyWidget``); a class names
its bundle in ``_bundle_name``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import traitlets

from .. import _bundle

log = logging.getLogger("nbrtc")


class BundleTraits(traitlets.HasTraits):
    """``_module`` (the bundle's text, or "" once a page holds it) and ``_module_id``
    (its name and hash, by which the page's loader finds it). Kernel-owned."""

    _bundle_name: ClassVar[str] = "widget.js"
    _module = traitlets.Unicode(
        help="The front-end bundle _esm's loader imports, or '' once a page holds it (_bundle.py)."
    ).tag(sync=True)
    _module_id = traitlets.Unicode(
        help="The bundle's name and content hash: the page's loader finds it by this."
    ).tag(sync=True)

    @traitlets.default("_module")
    def _default_module(self) -> str:
        return _bundle.module_for_new_widget(self._bundle_name)

    @traitlets.default("_module_id")
    def _default_module_id(self) -> str:
        return _bundle.module_id(self._bundle_name)

    def _bundle_message(self, content: Any) -> bool:
        """Handle a page's custom message as far as the bundle goes; True when it was the
        loader's request for the text (answered here, nothing else to do). Any other
        message proves the page runs the bundle. Comm handler thread; never raises."""
        if not _bundle.is_request(content):
            _bundle.page_holds(self._bundle_name)
            return False
        # made at the first request (most widgets never get one); setdefault keeps one
        # per widget if two comm handler threads ask at once
        replies = self.__dict__.setdefault("_bundle_replies", _bundle.Replies())
        try:
            self.send(_bundle.answer_request(self._bundle_name, content, replies))  # type: ignore[attr-defined]
        except Exception:  # the comm closed meanwhile: nobody left to answer
            log.debug("nbrtc: the bundle's reply could not be sent", exc_info=True)
        return True
