"""What a hostile page can do with data channels, for tests and fuzzers.

Every helper drives the FakeBrowser's real aiortc peer (the page's end), on the page's
loop, exactly as a page script could through ``RTCPeerConnection.createDataChannel`` and
``RTCDataChannel.send``; nothing reaches into the kernel. ``channel_bounds`` reads the
kernel's state afterwards and says which documented bound does not hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nbrtc._transport import channel as channel_mod
from nbrtc._widgets.stream_widget import StreamWidget

from ._browser import FakeBrowser


def deep_json(depth: int) -> str:
    """``[[[...]]]`` nested ``depth`` deep: 2 * depth bytes that Python's json cannot
    decode once ``depth`` nears the recursion limit."""
    return "[" * depth + "]" * depth


def open_page_channels(
    browser: FakeBrowser, sid: str, labels: list[str], timeout: float = 5.0
) -> list[Any]:
    """The page opens one channel per label (duplicates allowed) and waits until each is
    open or was closed by the kernel; returns the page's channel objects."""

    async def go() -> list[Any]:
        pc = browser.pcs[sid]
        dcs = [pc.createDataChannel(label) for label in labels]
        loop = asyncio.get_running_loop()
        for dc in dcs:
            if dc.readyState in ("open", "closed"):
                continue
            settled = loop.create_future()

            def done(f: asyncio.Future[None] = settled) -> None:
                if not f.done():
                    f.set_result(None)

            dc.once("open", done)
            dc.once("close", done)
            await asyncio.wait_for(settled, timeout)
        return dcs

    return browser.run(go(), timeout * 2 + len(labels) * 0.1)


def page_send(browser: FakeBrowser, dc: Any, messages: list[str | bytes]) -> int:
    """Send ``messages`` on the page's channel ``dc`` as fast as the page can; returns how
    many went (0 if the channel is not open)."""

    async def go() -> int:
        if dc.readyState != "open":
            return 0
        for m in messages:
            dc.send(m)
        return len(messages)

    return browser.run(go())


def page_states(browser: FakeBrowser, dcs: list[Any]) -> list[str]:
    """readyState of each of the page's channels (read on the page's loop)."""

    async def go() -> list[str]:
        return [dc.readyState for dc in dcs]

    return browser.run(go())


def channel_bounds(widget: StreamWidget) -> str:
    """ "" when every documented channel bound holds on ``widget``, else what broke."""
    problems = []
    channels = list(widget._channels.values())
    by_page = [c for c in channels if c._by_page]
    if len(by_page) > channel_mod.PAGE_LABELS:
        problems.append(f"{len(by_page)} page-made labels > {channel_mod.PAGE_LABELS}")
    gate = widget.__dict__.get("_page_channels")
    if gate is not None:
        for sid, live in list(gate._live.items()):
            if len(live) > channel_mod.PAGE_CHANNELS:
                problems.append(f"stream {sid}: {len(live)} page channels open")
    for c in channels:
        inbox, calls = c._inbox, c._calls
        if len(inbox) > inbox.max_items or inbox.bytes > inbox.max_bytes:
            problems.append(f"{c.label!r}: inbox {len(inbox)} msgs / {inbox.bytes} B")
        if len(calls) > calls.max_items or calls.bytes > calls.max_bytes:
            problems.append(f"{c.label!r}: callback backlog {len(calls)} / {calls.bytes} B")
    return "; ".join(problems)
