"""What a ``Room`` says when asked for a control of a kernel peer it does not have.

A room's members connect browser to browser (or to a media server); the kernel relays
their signaling and holds no peer connection. The controls every peer widget has
(``stats()``, ``sdp``, ``set_network()``...) raise on a room in words that point at
``links()``/``members()`` instead of silently doing nothing. Any thread; nothing changes.
"""

from __future__ import annotations

from typing import Any

from ..errors import NbrtcError


class KernelPeerRefusals:
    """Mixin for ``Room``: each kernel-peer control raises ``NbrtcError`` in words."""

    name: str

    def _no_kernel_peer(self, what: str, instead: str) -> NbrtcError:
        return NbrtcError(
            f"Room.{what}: a room's members connect browser to browser; the kernel only "
            f"relays their signaling and has no peer connection of its own to {instead}. "
            "Use room.links() and room.members() for each link's state and figures, or a "
            "Camera/VideoView for a connection to the kernel."
        )

    def stats(self) -> dict[str, Any]:
        """Not for a room (it raises in words): see ``links()``."""
        raise self._no_kernel_peer("stats()", "measure")

    def stats_log(self) -> list[dict[str, Any]]:
        """Not for a room (it raises in words): see ``links()``."""
        raise self._no_kernel_peer("stats_log()", "measure")

    @property
    def sdp(self) -> Any:
        """Not for a room (it raises in words): its offers and answers are between
        browsers; ``history()`` lists every relayed one."""
        raise self._no_kernel_peer("sdp", "describe")

    def set_network(self, *args: Any, **kwargs: Any) -> None:
        """Not for a room (it raises in words): the media never passes the kernel."""
        raise self._no_kernel_peer("set_network()", "impair")

    def clear_network(self) -> None:
        """Not for a room (it raises in words)."""
        raise self._no_kernel_peer("clear_network()", "impair")

    def set_codec(self, codec: str | None) -> None:
        """Not for a room (it raises in words)."""
        raise self._no_kernel_peer("set_codec()", "renegotiate")

    def set_max_bitrate(self, bps: int | None) -> None:
        """Not for a room (it raises in words)."""
        raise self._no_kernel_peer("set_max_bitrate()", "renegotiate")

    def restart_ice(self) -> None:
        """Not for a room (it raises in words)."""
        raise self._no_kernel_peer("restart_ice()", "restart")

    def doctor(self) -> Any:
        """Not for a room (it raises in words): ``nbrtc.doctor()`` checks the paths from
        this page to the kernel."""
        raise self._no_kernel_peer("doctor()", "check; nbrtc.doctor() checks this page's paths")
