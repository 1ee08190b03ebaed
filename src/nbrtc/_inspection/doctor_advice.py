"""What ``nbrtc.doctor()`` concludes from its rows, in words (pure functions).

A row is one probed path as the kernel publishes it (``Doctor.rows``)::

    {"id": "turn-0", "path": "TURN over TCP", "url": "turn:h:3478?transport=tcp",
     "kind": "turn", "result": "ok" | "failed" | "pending", "rtt_ms": 12.3 | None,
     "via": "relay/tcp -> host", "why": "...", "problems": ["auth", ...]}

``problems`` names the TURN/STUN failures seen on the way (``classify``), from both the
page's icecandidateerror events and the kernel's own allocations; ``advise`` turns the
rows into the few sentences a user acts on; ``table`` renders both as plain text.
"""

from __future__ import annotations

from typing import Any

#: problem names (``row["problems"]``)
AUTH = "auth"
UNREACHABLE = "unreachable"
CERT = "cert"
NO_ALLOCATION = "no-allocation"


def classify(code: int, text: str) -> str | None:
    """The problem a STUN/TURN error stands for: a browser icecandidateerror (``code``,
    ``text``) or a kernel TURN failure in nbrtc's words (code 0, ``_ice.turn_words``)."""
    low = text.lower()
    if code in (401, 441) or "refused the credentials" in low:
        return AUTH
    if "not trusted" in low or "certificate" in low:
        return CERT
    if code == 486 or "no allocation left" in low:
        return NO_ALLOCATION
    if code == 701 or "no answer from" in low or "refused the connection" in low:
        return UNREACHABLE
    return None


def _where(row: dict[str, Any]) -> str:
    return f"{row['path']} ({row['url']})" if row.get("url") else str(row["path"])


def advise(
    rows: list[dict[str, Any]],
    *,
    servers_configured: bool,
    remote_page: bool = False,
    policy: str = "all",
) -> list[str]:
    """The advice for ``rows``: one sentence per finding, most important first.

    ``remote_page``: the page said it is not served from this machine (so the kernel is
    probably remote); ``policy``: the widget's ICE transport policy.
    """
    out: list[str] = []
    by_id = {r["id"]: r for r in rows}
    host = by_id.get("host")
    comm = by_id.get("comm")
    turns = [r for r in rows if r.get("kind") == "turn"]
    stuns = [r for r in rows if r.get("kind") == "stun"]
    turn_ok = [r for r in turns if r["result"] == "ok"]
    host_ok = host is not None and host["result"] == "ok"
    comm_ok = comm is not None and comm["result"] == "ok"

    if host_ok:
        if policy == "relay" and turns and not turn_ok:
            out.append(
                "A direct connection works, but ice_transport_policy='relay' allows only "
                "TURN, and no TURN path works: fix the TURN server below, or set the "
                "policy back to 'all'."
            )
        else:
            out.append("A direct connection to the kernel works: nothing to configure here.")
            if not servers_configured and remote_page:
                out.append(
                    "No ICE server is configured: users on other networks (JupyterHub, "
                    "Binder, Colab, VS Code remote) will need a TURN server in "
                    "nbrtc.config.ice_servers."
                )
    elif host is not None:
        if turn_ok:
            best = min(turn_ok, key=lambda r: r["rtt_ms"] if r["rtt_ms"] is not None else 1e9)
            out.append(f"UDP to the kernel is blocked; you are fine through TURN: {_where(best)}.")
        elif not servers_configured:
            out.append(
                "UDP to the kernel is blocked and no ICE server is configured"
                f"{' (and this kernel looks remote)' if remote_page else ''}: configure a "
                "TURN server reachable over TCP 443 (nbrtc.config.ice_servers), or use "
                "transport='comm'."
            )
        elif comm_ok:
            out.append(
                "UDP to the kernel is blocked and no TURN path works: configure a TURN "
                "server reachable over TCP 443, or use transport='comm'."
            )
        else:
            out.append(
                "No path to the kernel works, not even the notebook's own connection: "
                "check that the kernel is running and idle, then run nbrtc.doctor() again."
            )

    for row in turns + stuns:
        if row["result"] == "ok":
            continue
        problems = set(row.get("problems") or ())
        where = _where(row)
        if AUTH in problems:
            out.append(
                f"Wrong TURN credentials for {where}: check the username and credential, "
                "or the secret given to nbrtc.turn."
            )
        elif CERT in problems:
            out.append(
                f"The TLS certificate of {where} is not trusted: use a certificate from a "
                "public CA, or give the kernel its CA with SSL_CERT_FILE (and the browser "
                "must trust it too)."
            )
        elif NO_ALLOCATION in problems:
            out.append(f"{where} has no allocation left for this user: raise its quota.")
        elif UNREACHABLE in problems:
            out.append(
                f"{where} is unreachable: check its address, port and firewall; TURN over "
                "TCP or TLS on port 443 gets through most firewalls."
            )
        elif row.get("kind") == "turn" and not turn_ok:
            out.append(f"{where} did not relay to the kernel: {row.get('why') or 'no reason'}.")

    if comm is not None and not comm_ok:
        out.append(
            "The kernel did not answer over the notebook's own connection: is a cell "
            "still running? Run nbrtc.doctor() again when the kernel is idle."
        )
    return out


def _cell(value: Any) -> str:
    return " ".join(str(value).split())


def table(rows: list[dict[str, Any]], advice: list[str], state: str = "done") -> str:
    """Rows and advice as a plain-text table (what ``print(doctor)`` shows)."""
    head = ("path", "result", "RTT", "via", "why not")
    body = [
        (
            _cell(f"{r['path']} {r['url']}".strip()),
            _cell(r["result"]),
            "" if r.get("rtt_ms") is None else f"{r['rtt_ms']:.0f} ms",
            _cell(r.get("via", "")),
            _cell(r.get("why", ""))[:200],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return (
            "  ".join(c.ljust(w) for c, w in zip(cells[:4], widths, strict=True)) + "  " + cells[4]
        )

    out = [f"nbrtc doctor ({state})", line(head).rstrip()]
    out += [line(cells).rstrip() for cells in body]
    if advice:
        out.append("")
        out += [f"- {a}" for a in advice]
    return "\n".join(out)
