"""Loopback ICE candidates for aiortc.

aioice leaves 127.0.0.1 out when it gathers host candidates, so a kernel on a machine
whose only usable interface is ``lo`` (containers, network namespaces, CI) offers no
candidate the browser on the same machine can reach. When ``config.ice_loopback`` is on,
we add it. aioice looks ``get_host_addresses`` up as a module global at gathering time,
so wrapping that one function is enough; the wrapper is installed once and consults the
setting on every call.
"""

from __future__ import annotations

import aioice.ice

from ._config import config

_installed = False


def install_loopback_candidates() -> None:
    """Idempotently wrap aioice's host address discovery."""
    global _installed
    if _installed:
        return
    original = aioice.ice.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses: list[str] = original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        if config.ice_loopback and use_ipv4 and "127.0.0.1" not in addresses:
            addresses = ["127.0.0.1", *addresses]
        return addresses

    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses  # type: ignore[assignment]
    _installed = True
