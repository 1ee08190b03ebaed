"""The secrets filter formats only records a handler will print.

ipykernel's application logger sits at DEBUG with a WARNING handler (traitlets' default):
every shell message makes DEBUG records, some with a traceback. The filter must not format
those (it did, at the cost of ipykernel's threads), and must still mask what is printed.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from nbrtc import _redact


class _Counted:
    """An argument that counts how often the record's text was made."""

    def __init__(self) -> None:
        self.made = 0

    def __str__(self) -> str:
        self.made += 1

        return "a=ice-pwd:SECRETsecret123"


@pytest.fixture
def app_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger like IPKernelApp's: level DEBUG, one WARNING handler, the filter on both."""
    log = logging.getLogger("nbrtc-test-redact-app")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setLevel(logging.WARNING)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    log.addFilter(_redact.RedactSecrets())
    handler.addFilter(_redact.RedactSecrets())
    yield log, out
    log.removeHandler(handler)
    log.filters.clear()


def test_a_record_no_handler_prints_is_not_formatted(
    app_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = app_logger
    # pytest's log capture hangs level-0 handlers on the logger during the test: what a
    # kernel has is only the application's own WARNING handler
    log.handlers[:] = [h for h in log.handlers if getattr(h, "stream", None) is out]
    arg = _Counted()
    try:
        raise ValueError("signal only works in main thread")
    except ValueError:
        log.debug("Unable to signal in pre_handler_hook: %s", arg, exc_info=True)
    assert arg.made == 0, "the filter made the text of a record nobody prints"
    assert out.getvalue() == ""


def test_a_printed_record_is_still_masked(app_logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = app_logger
    arg = _Counted()
    log.warning("offer: %s", arg)
    assert arg.made >= 1
    assert "SECRETsecret123" not in out.getvalue()
    assert _redact.MASK in out.getvalue()


def test_with_a_debug_handler_debug_records_are_masked(
    app_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = app_logger
    log.handlers[0].setLevel(logging.DEBUG)  # ipykernel --debug
    log.debug("content: %s", _Counted())
    assert "SECRETsecret123" not in out.getvalue() and _redact.MASK in out.getvalue()
