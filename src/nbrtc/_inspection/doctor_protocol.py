"""The ``doctor`` message: what a page running ``nbrtc.doctor()`` tells the kernel.

Validated here (pure; called by ``_protocol._check_payload``), routed by the manager to
the ``Doctor`` widget (nbrtc/_inspection/doctor.py). Two operations, both for a probe stream id:

- ``{"op": "probe", "path": "<path id>", "remote": bool?}``: this stream id will probe
  that path (sent before the probe's ``ice-servers`` ask and offer, which the kernel
  answers with that path's server only). ``remote``: the page is not served from this
  machine (advice only).
- ``{"op": "row", "path": ..., "result": "ok"|"failed", "rtt_ms": number|null,
  "local": str, "protocol": str, "remote": str, "why": str, "errors": [{url, code,
  text}]}``: what the page saw on that path. The kernel checks it against its own facts
  (did its peer echo on the path, did the comm answer) before it shows it.
"""

from __future__ import annotations

import re
from typing import Any

from .._checks import is_one_of

DOCTOR_OPS = frozenset({"probe", "row"})
PATH_ID_RE = re.compile(r"^[a-z]{2,8}(-[0-9]{1,3})?\Z")
ROW_RESULTS = frozenset({"ok", "failed"})
#: bounds of a row (a page writes them; the kernel shows them)
MAX_ROW_ERRORS = 8
MAX_WHY_CHARS = 300
MAX_RTT_MS = 60_000.0


def _is_str(value: Any, max_len: int) -> bool:
    return isinstance(value, str) and len(value) <= max_len


def check_doctor(payload: Any) -> str | None:
    """Why a ``doctor`` payload is wrong, or None when it is fine."""
    if not isinstance(payload, dict) or not is_one_of(payload.get("op"), DOCTOR_OPS):
        return "doctor payload must be an object whose op is 'probe' or 'row'"
    path = payload.get("path")
    if not isinstance(path, str) or not PATH_ID_RE.match(path):
        return "doctor.path must be a path id such as 'host', 'turn-0' or 'comm'"
    if payload["op"] == "probe":
        if "remote" in payload and not isinstance(payload["remote"], bool):
            return "doctor.remote must be a boolean"
        return None
    if not is_one_of(payload.get("result"), ROW_RESULTS):
        return "doctor.result must be 'ok' or 'failed'"
    rtt = payload.get("rtt_ms")
    if rtt is not None and (
        not isinstance(rtt, (int, float))
        or isinstance(rtt, bool)
        or not 0 <= rtt <= MAX_RTT_MS  # also refuses NaN
    ):
        return f"doctor.rtt_ms must be null or a number from 0 to {MAX_RTT_MS:.0f}"
    for key in ("local", "protocol", "remote"):
        if key in payload and not _is_str(payload[key], 16):
            return f"doctor.{key} must be a string of at most 16 characters"
    if "why" in payload and not _is_str(payload["why"], MAX_WHY_CHARS):
        return f"doctor.why must be a string of at most {MAX_WHY_CHARS} characters"
    errors = payload.get("errors", [])
    if not isinstance(errors, list) or len(errors) > MAX_ROW_ERRORS:
        return f"doctor.errors must be a list of at most {MAX_ROW_ERRORS} errors"
    for err in errors:
        if (
            not isinstance(err, dict)
            or not _is_str(err.get("url", ""), 256)
            or not _is_str(err.get("text", ""), 256)
        ):
            return "each doctor error must be {url: string, code: int, text: string}"
        code = err.get("code", 0)
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 999:
            return "doctor error code must be an integer from 0 to 999"
    return None
