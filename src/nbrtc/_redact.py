"""Keep secrets out of log records, nbrtc's and those of the libraries below it.

Secrets: the ICE password of every SDP (``a=ice-pwd``), TURN credentials
(``nbrtc.config.ice_servers`` / ``ice_servers=``) and the page key that browser -> kernel
envelopes carry (``"key"``). nbrtc never logs them, but libraries below it do at DEBUG:

- aiortc logs whole SDPs (``aiortc.rtcpeerconnection``);
- the ``comm`` package logs every comm message it handles (``Comm``);
- ipykernel, started with ``--debug``, logs every shell message it receives, content
  included (``self.log.debug("%s: %s", msg_type, msg)`` in ``kernelbase``), and every
  reply it sends (an error's text included), on the kernel application's logger
  (``IPKernelApp``).

A filter masks the secrets in a record's text before any handler formats it. It is put on
those loggers AND on the handlers of the root logger and of the kernel application's
logger: a logger's own filters see only records logged on that very logger, never the
records its child loggers propagate to its handlers, whereas a handler's filters see
every record it is about to emit, whoever logged it. ``install`` is idempotent and runs
again whenever a widget is made, so a handler added since (``logging.basicConfig`` in a
cell) is covered from the next widget on; the named loggers are covered whatever
handler prints them.

Masking is by pattern (``a=ice-pwd:...``, ``'credential': '...'``, ``"key": "..."``, in
both JSON and Python repr quoting) and by value: every TURN credential that
``check_ice_servers`` accepted is remembered (the newest MAX_SECRETS of them, at least
MIN_SECRET_CHARS long so a one-letter test password does not blank every "p" of a log),
so it is masked in whatever form a library prints it (e.g. aiortc's ``RTCIceServer``
repr).
"""

from __future__ import annotations

import logging
import re
import threading

#: ice-pwd is made of ice-chars: ALPHA / DIGIT / "+" / "/" (RFC 8839); the class also
#: stops at the backslash of a ``\r\n`` escaped by repr(), as the Comm logger prints it
_ICE_PWD = re.compile(r"(a=ice-pwd:)[A-Za-z0-9+/]+")
#: ``'credential': 'x'`` / ``"credential": "x"`` (repr or JSON), escaped quotes included
#: (up to the quote that opened it: repr quotes "it's" with double quotes)
_CREDENTIAL = re.compile(r"""(['"]credential['"]\s*:\s*(['"]))(?:\\.|(?!\2)[^\\])+""")
#: the envelope's page key (``_protocol.PAGE_KEY_RE``: 16 to 64 letters or digits)
_PAGE_KEY = re.compile(r"""(['"]key['"]\s*:\s*['"])[A-Za-z0-9]{16,64}(?=['"])""")
#: loggers filtered by name (nbrtc's own too: a traceback it logs may quote a message)
LOGGERS = ("nbrtc", "aiortc.rtcpeerconnection", "Comm", "IPKernelApp")
MASK = "<redacted>"
MIN_SECRET_CHARS = 6
MAX_SECRETS = 256

_secrets: dict[str, None] = {}  # insertion-ordered set, newest last
_secrets_lock = threading.Lock()


def add_secret(value: str) -> None:
    """Mask ``value`` wherever a filtered record contains it (any thread)."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_CHARS:
        return
    with _secrets_lock:
        _secrets.pop(value, None)
        _secrets[value] = None
        while len(_secrets) > MAX_SECRETS:
            del _secrets[next(iter(_secrets))]


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``<redacted>``."""
    if "ice-pwd" in text:
        text = _ICE_PWD.sub(r"\1" + MASK, text)
    if "credential" in text:
        text = _CREDENTIAL.sub(r"\1" + MASK, text)
    if "key" in text:
        text = _PAGE_KEY.sub(r"\1" + MASK, text)
    with _secrets_lock:
        known = list(_secrets)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactSecrets(logging.Filter):
    """Replaces every secret in a record's text (message and traceback) with ``<redacted>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _would_emit(record):
            # nobody prints it: do not format it. ipykernel's logger is at DEBUG with a
            # WARNING handler (traitlets' default), so each shell message makes about five
            # DEBUG records, two with a traceback; formatting them here cost ipykernel's
            # threads more than nbrtc's own per-stream work (py-spy, 4 feeds)
            return True
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted: leave it to the handler
            return True
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # the handler would format the traceback after the filters ran: format it
            # here (as logging.Formatter does) so its text is masked too
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _would_emit(record: logging.LogRecord) -> bool:
    """Whether a handler will emit ``record`` when it propagates from its logger (the
    handlers' levels only, as ``Logger.callHandlers`` checks them; logging's last resort
    when there is no handler at all). A handler's own filter runs after that level check,
    so for it this is always true."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    found = False
    while logger is not None:
        for handler in logger.handlers:
            found = True
            if record.levelno >= handler.level:
                return True
        if not logger.propagate:
            break
        logger = logger.parent
    last = logging.lastResort
    return not found and last is not None and record.levelno >= last.level


#: the old name, kept for anything that imported it
RedactIcePasswords = RedactSecrets
_FILTER = RedactSecrets()


def _add(target: logging.Logger | logging.Handler) -> None:
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


def install() -> None:
    """Filter the loggers that print messages and SDPs, and the handlers of the root
    logger and of the running kernel application's logger (idempotent; any thread)."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    app_log = _kernel_app_logger()
    if app_log is not None:
        loggers.append(app_log)
    for logger in loggers:
        _add(logger)
    for logger in [logging.getLogger(), *loggers]:
        for handler in list(logger.handlers):
            _add(handler)


def _kernel_app_logger() -> logging.Logger | None:
    """The logger of the running kernel application (``IPKernelApp``), if any."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        log = getattr(getattr(ip, "kernel", None), "log", None)
    except Exception:
        return None
    return log if isinstance(log, logging.Logger) else None
