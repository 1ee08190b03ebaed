"""What a user meets first: ``help()`` on the widgets' traits and the repr of every public
object (issue 12: "help() on every public trait ... a useful repr for every public
object"). Fast: widgets are made and closed without a page."""

from __future__ import annotations

import inspect

import traitlets

import nbrtc

#: the public classes that are widgets (their traits are part of the API)
WIDGETS = [
    nbrtc.Camera,
    nbrtc.ScreenShare,
    nbrtc.Microphone,
    nbrtc.VideoView,
    nbrtc.AudioView,
    nbrtc.Room,
    nbrtc.Inspector,
    nbrtc.Doctor,
    nbrtc.Grid,
]


def _own_public_traits(cls: type) -> dict[str, traitlets.TraitType]:
    """The public traits nbrtc defines on ``cls`` (not those of anywidget/ipywidgets)."""
    return {
        name: trait
        for name, trait in cls.class_traits().items()  # type: ignore[attr-defined]
        if not name.startswith("_") and trait.this_class.__module__.startswith("nbrtc")
    }


def test_every_public_trait_says_what_it_is() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls in WIDGETS
        for name, trait in _own_public_traits(cls).items()
        if len(trait.help.strip()) < 15
    ]
    assert not missing, f"traits without help text: {missing}"
    # and help() shows it (traitlets puts it in the descriptor's __doc__)
    assert "getUserMedia" in (nbrtc.Camera.constraints.__doc__ or "")


def test_every_public_class_has_its_own_repr() -> None:
    """No public object prints as ``<... object at 0x...>``: each class in ``nbrtc``'s
    ``__all__`` (exceptions and plain data aside) defines a repr in nbrtc."""
    plain = {"AudioArray"}  # an ndarray: numpy's repr is the useful one
    lacking = []
    for name in nbrtc.__all__:
        obj = getattr(nbrtc, name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException) or name in plain:
            continue
        where = getattr(obj.__repr__, "__module__", "") or ""
        if not where.startswith("nbrtc"):
            lacking.append(f"{name} ({where or 'builtin'})")
    assert not lacking, f"classes with a default repr: {lacking}"


def test_reprs_of_live_objects_say_what_they_are(widgets) -> None:
    cam = nbrtc.Camera()
    widgets.append(cam)
    inspector = nbrtc.Inspector(cam)
    widgets.append(inspector)
    frames = cam.frames(timeout=1)
    try:
        for text, words in (
            (repr(cam), "nbrtc.Camera state='new'"),
            (repr(inspector), "nbrtc.Inspector of <nbrtc.Camera"),
            (repr(nbrtc.manager()), "nbrtc.PeerManager streams="),
            (repr(frames), "cam.frames(): open, 0 taken"),
            (repr(nbrtc.config), "nbrtc.Config("),
        ):
            assert words in text and " at 0x" not in text, text
    finally:
        frames.close()
    assert "ended" in repr(frames)


def test_facing_mode_picks_a_phone_camera(widgets) -> None:
    """``facing_mode`` (the most asked-for camera option of streamlit-webrtc's users): the
    front ("user") or back ("environment") camera, sent to the page as a constraint."""
    import pytest

    cam = nbrtc.Camera(facing_mode="environment")
    widgets.append(cam)
    assert cam.constraints["facing_mode"] == "environment"
    cam.constraints = {"facing_mode": "user"}
    assert cam.constraints["facing_mode"] == "user"
    with pytest.raises(ValueError, match=r"facing_mode must be one of .*'environment' the back"):
        nbrtc.Camera(facing_mode="back")
    with pytest.raises(traitlets.TraitError, match="facing_mode"):
        cam.constraints = {"facing_mode": "rear"}
    assert cam.constraints["facing_mode"] == "user", "a refused change loses nothing"


def test_vs_code_capture_refusal_is_a_camera_error_in_words() -> None:
    """The page's ``HostNoCapture`` (VS Code's notebook view denies getUserMedia) reaches
    Python as a CameraError that says where capture works, not "allow camera access"."""
    from nbrtc._signaling.stream_words import browser_error

    err = browser_error("HostNoCapture", "", "camera")
    assert isinstance(err, nbrtc.CameraError)
    assert "VS Code's notebook view does not allow" in str(err)
    assert "JupyterLab or Jupyter Notebook in a browser" in str(err)
    assert "VideoView" in str(err)
