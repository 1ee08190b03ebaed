"""``Tombstones``: the ids that ended, so that their late messages create nothing.

Both routers of page messages keep one: the manager for closed streams, a Room for
members that left. A tombstone maps an ended id to the key of the page that owned it: a
late message carrying that key is dropped quietly; one carrying another key is refused as
``unknown-stream`` (docs/protocol.md "Trust"). Bounded (docs/protocol.md "Bounds"): the
oldest of more than ``bound`` ids are forgotten, so a page that churns through ids cannot
grow the kernel's memory.

Threads: not locked; each owner touches its tombstones under its own lock.
"""

from __future__ import annotations

import collections

#: ids kept per router (the manager's closed streams; one Room's departed members)
TOMBSTONES = 10_000


class Tombstones:
    """Ended id -> the key of the page that owned it; the newest ``bound`` kept."""

    def __init__(self, bound: int = TOMBSTONES) -> None:
        self.bound = bound
        self._keys: collections.OrderedDict[str, str] = collections.OrderedDict()

    def bury(self, id_: str, key: str) -> None:
        """``id_`` ended; remember the key of its page (forgetting the oldest over the bound)."""
        self._keys[id_] = key
        while len(self._keys) > self.bound:
            self._keys.popitem(last=False)

    def key(self, id_: str) -> str | None:
        """The page key ``id_`` was buried with, or None when it is not (or no longer) here."""
        return self._keys.get(id_)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._keys

    def __len__(self) -> int:
        return len(self._keys)
