"""``nbrtc.config.kernel_offer``: what it takes, its default, and ``$NBRTC_KERNEL_OFFER``
(the kernel's offer itself: tests/kernel/test_kernel_offer.py)."""

from __future__ import annotations

import warnings

import pytest

from nbrtc._config import Config
from nbrtc._signaling import preoffer


def test_on_by_default_and_shown() -> None:
    c = Config()
    assert c.kernel_offer is True
    c.kernel_offer = False
    assert c.kernel_offer is False and "kernel_offer=False" in repr(c)


@pytest.mark.parametrize("bad", [1, "yes", None, 0.0])
def test_only_a_bool_is_taken(bad: object) -> None:
    c = Config()
    with pytest.raises(TypeError, match=r"nbrtc.config.kernel_offer must be True or False"):
        c.kernel_offer = bad  # type: ignore[assignment]
    assert c.kernel_offer is True


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), (" 1 ", True)])
def test_the_environment_sets_it(value: str, expected: bool) -> None:
    c = Config()
    c.load_defaults(environ={"NBRTC_KERNEL_OFFER": value}, paths=[])
    assert c.kernel_offer is expected


def test_a_bad_environment_value_is_ignored_with_a_warning() -> None:
    c = Config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.load_defaults(environ={"NBRTC_KERNEL_OFFER": "on"}, paths=[])
    assert c.kernel_offer is True
    assert any("NBRTC_KERNEL_OFFER was ignored" in str(w.message) for w in caught)


def test_kernel_ids_never_look_like_a_page_id() -> None:
    ids = {preoffer.new_id() for _ in range(50)}
    assert len(ids) == 50
    for sid in ids:
        page, _, n = sid.rpartition("-")
        # a page's ids are <8 hex>-<n> with n >= 1 (js/core/router.js)
        assert page.startswith("k") and len(page) == 17 and n == "0"
