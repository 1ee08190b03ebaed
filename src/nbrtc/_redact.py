"""Keep ICE passwords out of log records that nbrtc does not write itself.

With DEBUG logging on, two libraries log whole SDPs, and with them both ICE passwords of
every stream: aiortc (``RTCPeerConnection.setLocalDescription`` / ``setRemoteDescription``
on the ``aiortc.rtcpeerconnection`` logger) and the ``comm`` package (``handle_msg`` logs
each comm message, the browser's offer included, on the ``Comm`` logger). A filter on
those loggers masks the ``a=ice-pwd`` value before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

#: ice-pwd is made of ice-chars: ALPHA / DIGIT / "+" / "/" (RFC 8839); the class also
#: stops at the backslash of a ``\r\n`` escaped by repr(), as the Comm logger prints it
_ICE_PWD = re.compile(r"(a=ice-pwd:)[A-Za-z0-9+/]+")
LOGGERS = ("aiortc.rtcpeerconnection", "Comm")


class RedactIcePasswords(logging.Filter):
    """Replaces every ``a=ice-pwd`` value in a record's text with ``<redacted>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted: leave it to the handler
            return True
        if "ice-pwd" in text:
            record.msg, record.args = _ICE_PWD.sub(r"\1<redacted>", text), None
        return True


_FILTER = RedactIcePasswords()


def install() -> None:
    """Add the filter to the loggers that print SDP (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
