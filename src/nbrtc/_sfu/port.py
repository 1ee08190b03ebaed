"""How the manager sees what is made through a media server (a ``Janus``, a broadcast, a
feed): ``owner.CellOwned``, so that re-running the cell that made it and the kernel's exit
close it, like a widget.

The port holds its object weakly: the manager's registry must not keep a forgotten
broadcast alive (its garbage collection closes it); a port whose object is gone counts as
closed. The cell id lives on the port, the one place the manager reads and writes it.
Any thread.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from .janus_api import JanusSession


class Server(Protocol):
    """What a broadcast, a feed or a room needs of its ``nbrtc.Janus`` (janus.py imports
    their modules, so they name it by this protocol)."""

    @property
    def url(self) -> str: ...

    async def session_async(self) -> JanusSession: ...


class Closable(Protocol):
    """What a port can close: ``closed`` and an idempotent, any-thread ``close()``."""

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class OwnedPort(Generic[T]):
    """A media-server object as the manager sees it (see the module docstring)."""

    def __init__(self, thing: T, model_id: str) -> None:
        self._ref = weakref.ref(thing)
        self.model_id = model_id
        self.cell_id: str | None = None

    @property
    def target(self) -> T | None:
        """The object, or None once it was garbage-collected."""
        return self._ref()

    @property
    def closed(self) -> bool:
        thing = self._ref()
        return thing is None or thing.closed

    def close(self) -> None:
        thing = self._ref()
        if thing is not None:
            thing.close()

    def closed_by_shutdown(self) -> None:
        """The kernel exits: close now, while the media thread still runs, so the server
        hears it (the teardowns share the manager's SHUTDOWN_SHARE)."""
        self.close()
