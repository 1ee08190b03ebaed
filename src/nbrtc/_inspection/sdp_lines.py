"""The lines of a session description (SDP), as the other ``_sdp_*`` modules read them.

:func:`tokenize` splits SDP text into classified :class:`Line` values (letter, value,
attribute name and value, section index) and refuses text that is not SDP; the
constants and small number readers here are shared by parsing (``_sdp_parse``), the
plain-word explanations (``_sdp_words``) and the offer/answer diff (``_sdp_diff``).
:func:`mask_text` hides the credentials a line may carry (``a=ice-pwd``, SRTP keys).

Pure: strings in, values out; no I/O, logging or global state. Safe from any thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TYPES = ("offer", "answer")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Formats that repair or accompany a codec rather than being one.
REPAIR = {"rtx", "red", "ulpfec", "flexfec", "flexfec-03"}
AUX = REPAIR | {"cn", "telephone-event"}

# RFC 3551 static payload types: (name, clock rate, channels or None for video).
STATIC_PT: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}


@dataclass(frozen=True)
class Line:
    """One line of the text: ``letter=value``; for ``a=`` lines also name and value."""

    n: int
    raw: str
    letter: str  # "v", "o", "a", ...; "" for an empty line; "?" when not letter=value
    value: str
    attr: str  # attribute name of an a= line, else ""
    attr_value: str | None  # text after the first ":" of an a= line, else None
    section: int  # -1 for the session part, else the index of the m= section

    @property
    def key(self) -> str:
        if self.letter == "a":
            return f"a={self.attr}"
        return self.letter


def _split(text: str) -> list[str]:
    """The lines of ``text``, for \\r\\n, \\n or \\r endings; no empty last line."""
    parts = re.split(r"\r\n|\n|\r", text)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def tokenize(text: str) -> list[Line]:
    """Split and classify every line; raise ValueError when ``text`` is not SDP."""
    if not isinstance(text, str):
        raise TypeError(f"SDP must be a string, not {type(text).__name__}")
    raw_lines = _split(text)
    first = next((r.strip().lstrip("\ufeff") for r in raw_lines if r.strip()), None)
    if first is None:
        raise ValueError("not SDP: the text is empty (a session description starts with 'v=0')")
    if first != "v=0":
        shown = mask_text(first)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if first.startswith("v="):
            raise ValueError(
                f"not SDP: the first line is {shown!r}, but the only SDP version is 0 ('v=0')"
            )
        raise ValueError(
            f"not SDP: a session description starts with 'v=0', but the first line is {shown!r}"
        )
    out: list[Line] = []
    section = -1
    for n, raw in enumerate(raw_lines):
        s = raw.strip().lstrip("\ufeff")
        if not s:
            out.append(Line(n, raw, "", "", "", None, section))
            continue
        if len(s) < 2 or s[1] != "=" or not s[0].isalpha():
            out.append(Line(n, raw, "?", s, "", None, section))
            continue
        letter, value = s[0], s[2:]
        if letter == "m":
            section += 1
        attr, attr_value = "", None
        if letter == "a":
            name, sep, rest = value.partition(":")
            attr = name.strip()
            attr_value = rest.strip() if sep else None
        out.append(Line(n, raw, letter, value, attr, attr_value, section))
    return out


def mask_text(line: str) -> str:
    """``line`` with any credential in it replaced by a placeholder."""
    s = line.strip()
    if s.startswith("a=ice-pwd:"):
        return f"a=ice-pwd:<hidden, {len(s[len('a=ice-pwd:') :].strip())} characters>"
    if s.startswith("a=crypto:") and "inline:" in s:
        return re.sub(
            r"inline:([^\s|]+)",
            lambda m: f"inline:<hidden, {len(m.group(1))} characters>",
            s,
        )
    return line


def check_type(type_: str) -> str:
    if type_ not in _TYPES:
        raise ValueError(f"type_ must be 'offer' or 'answer', not {type_!r}")
    return type_


def isnum(s: str) -> bool:
    """Whether ``s`` is a short run of ASCII digits (str.isdigit alone also accepts other
    Unicode digits, and int() refuses strings of thousands of digits)."""
    return len(s) <= 20 and s.isascii() and s.isdigit()


def int_or_none(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    return int(s) if isnum(s) else None
