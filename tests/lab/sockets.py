"""The sockets this test process holds, counted from /proc independently of nbrtc's own
bookkeeping: the socket inodes of its file descriptors, looked up in its network
namespace's tables (``/proc/self/net/tcp``, ``udp``, ...). A socket the process closed is
not counted, whatever state the kernel keeps the connection in. Linux only."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable


def own_sockets(tables: Iterable[str], remote_port: int | None = None) -> set[str]:
    """Inodes of this process's open sockets listed in ``/proc/self/net/<table>`` for each
    of ``tables`` (e.g. ``("udp", "udp6")``), only those whose remote port is
    ``remote_port`` when it is given."""
    listed: set[str] = set()
    for table in tables:
        with contextlib.suppress(OSError), open(f"/proc/self/net/{table}") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) <= 9:
                    continue
                if remote_port is None or int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                    listed.add(fields[9])
    mine: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                mine.add(link[len("socket:[") : -1])
    return mine & listed
