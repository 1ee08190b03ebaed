"""Loopback ICE candidates for aiortc, and TURN failures in words.

aioice leaves 127.0.0.1 out when it gathers host candidates, so a kernel on a machine
whose only usable interface is ``lo`` (containers, network namespaces, CI) offers no
candidate the browser on the same machine can reach. When ``config.ice_loopback`` is on,
we add it. aioice looks ``get_host_addresses`` up as a module global at gathering time,
so wrapping that one function is enough; the wrapper is installed once and consults the
setting on every call.

TURN failures: aioice gathers a relay candidate in a task whose exception it drops (a
401 from the TURN server, a refused or unanswered connection, an untrusted certificate
all end the same way: no relay candidate, no word). ``install_turn_reports`` wraps that
task's function so its failure is put in words and handed to whoever gathers: the
stream sets ``turn_report`` (a context variable, inherited by the tasks aiortc and aioice
create while it gathers) before it sets its local description.

A TURN server over UDP whose port is closed answers with ICMP "port unreachable", which
aioice ignores: it retransmits its ALLOCATE until its 5 s gathering timeout. Its UDP
socket is connected to the server, so the kernel hands that ICMP to the protocol's
``error_received`` as ConnectionRefusedError; ``install_turn_reports`` also makes that
fail the allocation at once (only while it is being made), so a closed TURN port is named
within a second instead of as "no answer" after 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
from collections.abc import Callable
from typing import Any

import aioice.stun

from .. import _upstream
from .._config import config

_installed = False
_turn_installed = False
#: who hears about a failed TURN allocation of the gathering in progress (media loop)
turn_report: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "nbrtc_turn_report", default=None
)


def install_loopback_candidates() -> None:
    """Idempotently wrap aioice's host address discovery (``_upstream.patch_host_addresses``)."""
    global _installed
    if _installed:
        return

    def wrap(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            addresses: list[str] = original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
            if config.ice_loopback and use_ipv4 and "127.0.0.1" not in addresses:
                addresses = ["127.0.0.1", *addresses]
            return addresses

        return get_host_addresses

    _upstream.patch_host_addresses(wrap)
    _installed = True


def turn_words(exc: BaseException, server: tuple[str, int], transport: str, tls: bool) -> str:
    """Why a TURN allocation failed, in words (no credential in them)."""
    scheme = "turns" if tls else "turn"
    where = f"{scheme}:{server[0]}:{server[1]} over {'TLS' if tls else transport.upper()}"
    if isinstance(exc, aioice.stun.TransactionFailed):
        code, reason = exc.response.attributes.get("ERROR-CODE", (0, ""))
        if code in (401, 441):
            return (
                f"the TURN server {where} refused the credentials ({code} {reason}): check "
                "the username and credential, or the secret given to nbrtc.turn"
            )
        if code == 486:
            return f"the TURN server {where} has no allocation left for this user (486 {reason})"
        return f"the TURN server {where} refused the allocation ({code} {reason})"
    if isinstance(exc, (asyncio.CancelledError, aioice.stun.TransactionTimeout, TimeoutError)):
        return f"no answer from the TURN server {where}: is it running, and reachable from here?"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the TLS certificate of the TURN server {where} is not trusted "
            f"({exc.verify_message}): give the kernel its CA with SSL_CERT_FILE"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"the TURN server {where} refused the connection: nothing listens there"
    return f"the TURN server {where} could not be used: {type(exc).__name__}: {exc}"


def install_turn_reports() -> None:
    """Idempotently wrap aioice's relay-candidate gathering to report its failures
    (``_upstream.patch_relayed_candidate``)."""
    global _turn_installed
    if _turn_installed:
        return

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def relayed_candidate(**kwargs: Any) -> Any:
            report = turn_report.get()
            try:
                return await original(**kwargs)
            except BaseException as exc:
                if report is not None:
                    # a report must never change what aioice does with the failure
                    with contextlib.suppress(Exception):
                        report(
                            turn_words(
                                exc,
                                kwargs.get("turn_server", ("?", 0)),
                                kwargs.get("turn_transport", "udp"),
                                bool(kwargs.get("turn_ssl")),
                            )
                        )
                raise

        return relayed_candidate

    _upstream.patch_relayed_candidate(wrap)
    _install_refused_allocations()
    _turn_installed = True


def _install_refused_allocations() -> None:
    """Make aioice's TURN-over-UDP client fail an allocation in progress when the server's
    port is refused (see the module docstring). Media loop; the wrapped method is the
    asyncio ``error_received`` callback of the TURN client's UDP socket."""

    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        def error_received(self: Any, exc: Exception) -> None:
            if (
                isinstance(exc, ConnectionRefusedError)
                and getattr(self, "relayed_address", 0) is None
            ):
                # no allocation yet: nothing listens on the server's port, and no answer
                # will come. If aioice's transaction internals changed, this does nothing
                # and the allocation times out as before (_upstream.fail_transaction).
                for transaction in list(getattr(self, "transactions", {}).values()):
                    _upstream.fail_transaction(
                        transaction, ConnectionRefusedError(exc.errno, exc.strerror)
                    )
            original(self, exc)

        return error_received

    _upstream.patch_turn_udp_error_received(wrap)
