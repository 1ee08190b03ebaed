"""``KernelOwnedTraits``: synced traits that the page can read but never write.

ipywidgets applies every ``update`` message a front end sends (``Widget.set_state``),
for every synced trait. nbrtc's traits carry kernel-owned facts and limits (a widget's
``state``, a room's ``max_members``, the sampling ``stats_interval``), and every page
connected to the kernel can send such an update, so a page could make ``cam.wait("live")``
return for a camera that never connected, or lift a limit. nbrtc's front end never writes
a trait (it talks to the kernel with protocol messages only, docs/protocol.md), so the
rule is simple: a write from the page is ignored, logged, and the page that wrote is sent
the kernel's values again, so that it shows the truth.

Threads: ``set_state`` runs on the kernel's main thread (ipywidgets' comm handler).
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

log = logging.getLogger("nbrtc")

#: a widget logs refused writes at most this often (a page may send thousands)
LOG_EVERY = 1.0


class KernelOwnedTraits:
    """Mixin placed before ``anywidget.AnyWidget``: the page cannot change synced traits.

    ``_page_writable`` names the traits a page may write (none of nbrtc's widgets have
    one today); a subclass that adds one must validate and clamp what it accepts.
    """

    _page_writable: ClassVar[frozenset[str]] = frozenset()
    _refused_writes = 0
    _refused_logged_at = 0.0

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply the page's writes of page-writable traits; ignore and log the rest."""
        allowed = {k: v for k, v in sync_data.items() if k in self._page_writable}
        refused = sorted(k for k in sync_data if k not in self._page_writable)
        if refused:
            self._refused_writes += 1
            now = time.monotonic()
            if now - self._refused_logged_at >= LOG_EVERY:
                self._refused_logged_at = now
                log.info(
                    "nbrtc: ignored a write of %s from the page to %s (%d so far): "
                    "these traits are the kernel's",
                    ", ".join(refused[:8]),
                    type(self).__name__,
                    self._refused_writes,
                )
            synced = [k for k in refused if k in getattr(self, "keys", ())]
            try:  # the writing page shows the kernel's values again
                if synced:
                    self.send_state(synced)  # type: ignore[attr-defined]
            except Exception:
                log.debug("nbrtc: could not restore the page's state", exc_info=True)
        if allowed:
            super().set_state(allowed)  # type: ignore[misc]
