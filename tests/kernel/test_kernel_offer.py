"""The kernel's offer (``nbrtc.config.kernel_offer``, _signaling/preoffer.py): the camera's
kernel offers as the widget is displayed, the page answers. Real manager, real aiortc page
(``FakeBrowser.answer_kernel``, shaped like js/peer/peer.js ``_answerKernel``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import nbrtc
from nbrtc._signaling import preoffer as _preoffer

from ._browser import FakeBrowser, wait_for


@pytest.fixture
def kernel_offers() -> Iterator[None]:
    was = nbrtc.config.kernel_offer
    nbrtc.config.kernel_offer = True
    try:
        yield
    finally:
        nbrtc.config.kernel_offer = was


def _displayed(browser: FakeBrowser, widgets: list[nbrtc.Camera], **kw: object) -> nbrtc.Camera:
    """A camera the page sees displayed: the display hook runs (and makes the offer)."""
    cam = nbrtc.Camera(**kw)  # type: ignore[arg-type]
    widgets.append(cam)
    browser.attach(cam)
    cam._repr_mimebundle_()
    return cam


def _refusals(page: FakeBrowser, sid: str) -> list[dict[str, object]]:
    """The kernel's refusals of ``page``'s answer to the offer ``sid``."""
    errors = [m["payload"] for m in page.of_type("error", sid)]
    return [e for e in errors if e["ref"]["type"] == "answer"]


def _offer_id(browser: FakeBrowser, cam: nbrtc.Camera) -> str:
    sid = cam._kernel_offer
    assert sid, "the display made no kernel offer"
    wait_for(lambda: browser.kernel_offer(cam, sid), 5, what="the kernel's offer at the page")
    return sid


def test_answered_offer_goes_live_as_the_kernels_stream(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    pre = nbrtc.manager().offers.get(sid)
    assert pre is not None
    wait_for(lambda: pre.expiry is not None, 5, what="the offer's 30 s expiry set")
    offer = browser.kernel_offer(cam, sid)
    # what the page would have offered: video, and the data section of the control channel
    assert "m=video" in offer and "m=application" in offer and "a=setup:actpass" in offer
    browser.answer_kernel(cam, sid)
    cam.wait("live", timeout=10)
    frame = cam.snapshot(timeout=5)
    assert frame.shape == (240, 320, 3)
    (stream,) = cam.streams
    assert stream["id"] == sid
    assert cam._kernel_offer == ""  # taken: a view rendered later offers itself
    assert pre.expiry is None and pre.pc is None  # taken: no timer holds it for 30 s
    kstream = nbrtc.manager()._streams[sid]
    first = kstream.sdp_rounds[0]
    assert first["offerer"] == "kernel" and first["offer"] == offer
    # the lesson's view says who offered: the kernel's SDP is the offer this time
    view = cam.sdp
    assert view.offerer == "kernel"
    assert view.local.type == "offer" and view.offer.text == offer
    assert view.remote.type == "answer" and "a=setup:active" in view.remote.text
    # the kernel's control channel carries the page's heartbeat
    wait_for(lambda: kstream.control.open, 5, what="the control channel open")
    states = [m["payload"]["state"] for m in browser.of_type("state", sid)]
    assert states[:1] == ["connecting"]


def test_processed_video_comes_back_on_the_offered_section(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    cam.process(lambda x: 255 - x)
    browser.answer_kernel(cam, sid)
    cam.wait("live", timeout=10)
    wait_for(lambda: browser.frame_counts.get(sid, 0) >= 3, 10, what="processed frames")
    assert np.asarray(browser.frames[sid][-1]).shape[2] == 3


def test_a_second_answer_is_refused_and_the_first_stream_lives_on(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    browser.answer_kernel(cam, sid)
    cam.wait("live", timeout=10)
    # every page hears that the offer was taken (one whose view did not answer closes
    # the answer it prepared, js/peer/early-answer.js); sent once, with no payload
    taken = browser.of_type("offer-taken", sid)
    assert [m["payload"] for m in taken] == [None], taken
    other = FakeBrowser()
    try:
        other.attach(cam)  # the second page hears the kernel from now on
        other.received.extend(browser.of_type("offer", sid))  # it had seen the offer too
        other.answer_kernel(cam, sid)

        wait_for(lambda: _refusals(other, sid), 5, what="the refusal")
        assert _refusals(other, sid)[0]["code"] == "unknown-stream"
        assert len(cam.streams) == 1 and cam.streams[0]["state"] == "live"
    finally:
        browser.attach(cam)
        other.close()


def test_an_offer_nobody_answers_closes_with_its_widget(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    mgr = nbrtc.manager()
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    assert mgr.resources()["peers"] >= 1  # the offer's peer waits
    cam.close()
    wait_for(lambda: not mgr.offers, 5, what="the offer dropped")
    # a late answer takes nothing: it is refused, no stream is made
    browser.answer_kernel(cam, sid)
    browser.barrier(cam)
    assert not mgr.streams()


def test_an_offer_nobody_answers_expires(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera],
    kernel_offers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_preoffer, "TTL", 0.3)
    mgr = nbrtc.manager()
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    wait_for(lambda: browser.of_type("bye", sid), 5, what="the offer's bye")
    wait_for(lambda: not mgr.offers, 5, what="the offer dropped")
    assert cam._kernel_offer == ""
    # the next display makes a new offer, which goes live
    cam._repr_mimebundle_()
    again = _offer_id(browser, cam)
    assert again != sid
    browser.answer_kernel(cam, again)
    cam.wait("live", timeout=10)


def test_a_view_that_offers_itself_drops_the_waiting_offer(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    """A page that never saw the kernel's offer (Voila's connects after the cells ran)
    offers itself: the kernel's peer for that offer goes then, not 30 s later."""
    mgr = nbrtc.manager()
    cam = _displayed(browser, widgets)
    _offer_id(browser, cam)
    assert len(mgr.offers) == 1
    browser.start(cam)
    cam.wait("live", timeout=10)
    wait_for(lambda: not mgr.offers, 5, what="the waiting offer dropped")
    assert cam._kernel_offer == ""
    wait_for(lambda: mgr.resources()["peers"] == 1 + 1, 5, what="the stream's peer and the page's")


def test_two_displays_share_the_waiting_offer(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    cam._repr_mimebundle_()
    assert cam._kernel_offer == sid and len(nbrtc.manager().offers) == 1
    # a view that finds it taken offers itself: a second stream of its own
    browser.answer_kernel(cam, sid)
    second = browser.start(cam)
    wait_for(lambda: len([s for s in cam.streams if s["state"] == "live"]) == 2, 10, what="two")
    assert {s["id"] for s in cam.streams} == {sid, second}


def test_off_when_switched_off_and_never_for_the_comm_or_turn_logins(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera],
    kernel_offers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nbrtc.config.kernel_offer = False
    assert _displayed(browser, widgets)._kernel_offer == ""
    nbrtc.config.kernel_offer = True
    with monkeypatch.context() as m:  # Voila runs the cells before its page connects
        m.setenv("VOILA_APP_PORT", "8866")
        assert _displayed(browser, widgets)._kernel_offer == ""
    assert _displayed(browser, widgets, transport="comm")._kernel_offer == ""
    turn = [{"urls": "turn:192.0.2.1:3478", "username": "u", "credential": "p"}]
    assert _displayed(browser, widgets, ice_servers=turn)._kernel_offer == ""
    assert not nbrtc.manager().offers


def test_renegotiation_of_a_kernel_offered_stream(
    browser: FakeBrowser, widgets: list[nbrtc.Camera], kernel_offers: None
) -> None:
    """The kernel asks the page for a new offer (as the Inspector's codec or bitrate
    controls do): the page, which answered first, offers now, and the stream lives on."""
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    browser.answer_kernel(cam, sid)
    cam.wait("live", timeout=10)
    kstream = nbrtc.manager()._streams[sid]
    mgr = nbrtc.manager()
    assert mgr.media.submit(_renegotiate(kstream)).result(5)
    wait_for(lambda: len(kstream.sdp_rounds) >= 2, 10, what="the renegotiated round")
    assert kstream.sdp_rounds[-1].get("offerer") is None  # the page offered this time
    count = cam.frame_count
    wait_for(lambda: cam.frame_count > count + 5, 10, what="frames after the renegotiation")
    assert cam.streams[0]["state"] == "live"


async def _renegotiate(stream: object) -> bool:
    return bool(stream.renegotiate("test"))  # type: ignore[attr-defined]


def test_a_grid_offers_for_its_cameras_at_once(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera | nbrtc.VideoView],
    kernel_offers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A displayed ``Grid``'s hook offers for each of its cameras (one wait for all), not
    for its other feeds; each camera's view answers its own offer and goes live. Past
    ``max_streams`` the rest get none and offer themselves (refused in words as before)."""
    mgr = nbrtc.manager()
    cams = [nbrtc.Camera() for _ in range(3)]
    view = nbrtc.VideoView(nbrtc.sources.test_pattern(160, 120, 15))
    widgets.extend([*cams, view])
    grid = nbrtc.Grid([*cams, view], columns=2)
    for w in (*cams, view):
        browser.attach(w)
    monkeypatch.setattr(nbrtc.config, "_max_streams", 2)
    grid._repr_mimebundle_()
    ids = [c._kernel_offer for c in cams]
    assert ids[0] and ids[1] and len(set(ids[:2])) == 2 and ids[2] == ""
    assert len(mgr.offers) == 2
    for cam, sid in zip(cams[:2], ids[:2], strict=True):
        _offer_id(browser, cam)
        browser.answer_kernel(cam, sid)
    for cam in cams[:2]:
        cam.wait("live", timeout=10)
        assert cam.snapshot(timeout=5).shape == (240, 320, 3)
    assert not mgr.offers
    assert {s["id"] for c in cams[:2] for s in c.streams} == set(ids[:2])
    grid.close()


def test_an_answer_crossing_the_close_is_refused_as_closed(
    browser: FakeBrowser,
    widgets: list[nbrtc.Camera],
    kernel_offers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page's answer reaches the kernel after ``close()`` began but before its offers
    were dropped: the refusal says ``closed`` (the view then starts nothing; any other
    code makes it offer again, a second peer for a closed widget)."""
    mgr = nbrtc.manager()
    cam = _displayed(browser, widgets)
    sid = _offer_id(browser, cam)
    # close() has begun (the widget reads closed) and is dropping its offer (gone from
    # the waiting ones, not yet tombstoned): the moment the answer is handled in that race
    monkeypatch.setattr(cam, "_closed", True)
    with mgr.offers._lock:
        pre = mgr.offers._waiting.pop(sid)
    browser.answer_kernel(cam, sid)

    wait_for(lambda: _refusals(browser, sid), 5, what="the refusal")
    assert _refusals(browser, sid)[0]["code"] == "closed"
    assert not mgr.streams()
    mgr.media.run(pre.close("test"), 5)  # the drop's end
    monkeypatch.undo()
