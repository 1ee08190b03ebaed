"""``nbrtc._upstream``: the one layer over aiortc/aioice internals (issue 11).

Pure and fast: no peer connection, no socket. Three things are checked:

* ``check()`` passes on the installed aiortc/aioice and fails in words (package, installed
  version, tested range, what to do) on a version outside the tested range;
* a private internal that disappears is named, with the feature it costs: an error for one
  nothing works without, a warning for one whose feature degrades;
* no module of ``src/nbrtc`` other than ``_upstream.py`` names an aiortc/aioice private
  (parsed, not imported), so new reach-ins go through the layer and its check.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from nbrtc import _upstream
from nbrtc._inspection import netem as _netem
from nbrtc._transport import ice_restart as _ice_restart
from nbrtc._transport import rtp_recovery as _rtp_recovery

SRC = Path(__file__).resolve().parents[2] / "src" / "nbrtc"
UPSTREAM = ("aiortc", "aioice")


def _fake_versions(monkeypatch: pytest.MonkeyPatch, **versions: str) -> None:
    real = metadata.version
    monkeypatch.setattr(
        _upstream.metadata, "version", lambda dist: versions.get(dist) or real(dist)
    )


# --- versions -----------------------------------------------------------------------------------
def test_check_passes_on_the_installed_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_upstream.ALLOW_UNTESTED, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _upstream.UpstreamWarning)
        _upstream.check()
    for dist in UPSTREAM:
        assert _upstream.version_problem(dist) is None, dist


@pytest.mark.parametrize(
    ("dist", "version"),
    [("aiortc", "1.17.0"), ("aiortc", "1.15.2"), ("aioice", "0.14.0"), ("aioice", "1.0")],
)
def test_an_untested_version_fails_in_words(
    monkeypatch: pytest.MonkeyPatch, dist: str, version: str
) -> None:
    monkeypatch.delenv(_upstream.ALLOW_UNTESTED, raising=False)
    _fake_versions(monkeypatch, **{dist: version})
    with pytest.raises(ImportError) as info:
        _upstream.check()
    text = str(info.value)
    spec = _upstream.tested_range(dist)
    assert f"{dist} {version} is installed" in text
    assert f"tested with {dist}{spec}" in text
    assert f"pip install '{dist}{spec}'" in text
    assert _upstream.ALLOW_UNTESTED in text  # the way out, named


def test_an_untested_version_only_warns_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_upstream.ALLOW_UNTESTED, "1")
    _fake_versions(monkeypatch, aiortc="1.18.1")
    with pytest.warns(_upstream.UpstreamWarning, match=r"aiortc 1\.18\.1 is installed"):
        _upstream.check()


def test_versions_in_range_with_suffixes_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_versions(monkeypatch, aiortc="1.16.3.post1", aioice="0.13.9rc1")
    assert _upstream.version_problem("aiortc") is None
    assert _upstream.version_problem("aioice") is None
    _fake_versions(monkeypatch, aiortc="1.16")
    assert _upstream.version_problem("aiortc") is None


def test_pyproject_declares_the_tested_ranges() -> None:
    text = (SRC.parents[1] / "pyproject.toml").read_text()
    for dist in UPSTREAM:
        assert f'"{dist}{_upstream.tested_range(dist)}"' in text, dist


# --- private internals ------------------------------------------------------------------------
def test_a_missing_method_of_a_degradable_feature_warns_and_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(RTCDtlsTransport, "_handle_rtcp_data")
    with pytest.warns(_upstream.UpstreamWarning) as record:
        _upstream.check()
    [text] = [str(w.message) for w in record]
    assert "network impairment is unavailable" in text
    assert "RTCDtlsTransport._handle_rtcp_data()" in text
    assert "set_network() raises RuntimeError" in text  # what degrades
    assert "aiortc 1." in text and "pip install" in text
    with pytest.raises(RuntimeError, match=r"RTCDtlsTransport\._handle_rtcp_data"):
        _netem._check_aiortc()  # and the feature itself refuses in words


def test_a_missing_name_mangled_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    init = RTCRtpReceiver.__init__

    def without_jitter_buffer(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        del self._RTCRtpReceiver__jitter_buffer

    monkeypatch.setattr(RTCRtpReceiver, "__init__", without_jitter_buffer)
    with pytest.warns(_upstream.UpstreamWarning, match=r"RTCRtpReceiver\.__jitter_buffer"):
        _upstream.check()
    monkeypatch.setattr(_rtp_recovery, "_supported", None)
    with pytest.raises(RuntimeError, match=r"video recovery .* RTCRtpReceiver\.__jitter_buffer"):
        _rtp_recovery.check_supported()


def test_ice_restart_names_a_missing_aioice_method(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aioice.ice.Connection, "query_consent")
    with pytest.warns(_upstream.UpstreamWarning, match=r"ICE restart .*Connection\.query_consent"):
        _upstream.check()
    monkeypatch.setattr(_ice_restart, "_supported", False)
    with pytest.raises(RuntimeError, match=r"Connection\.query_consent"):
        _ice_restart.check_supported()


def test_a_missing_internal_nothing_works_without_is_an_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(aioice.ice, "get_host_addresses")
    with pytest.raises(ImportError, match=r"aioice\.ice\.get_host_addresses\(\).*cannot run"):
        _upstream.check()


# --- nobody else reaches in -------------------------------------------------------------------
#: name-mangled privates of aiortc/aioice classes, e.g. ``_RTCRtpReceiver__codecs``
MANGLED = re.compile(r"_(RTC\w+|MediaPlayer|Transaction|Connection|JitterBuffer|NackGenerator)__")


def _upstream_private_names() -> set[str]:
    """``_x`` names aiortc/aioice define on their objects (``self._x``, ``def _x``)."""
    names: set[str] = set()
    for package in UPSTREAM:
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in root.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"self\.(_[A-Za-z]\w*)", text))
            names |= set(re.findall(r"def (_[A-Za-z]\w*)", text))
    return {n for n in names if not n.startswith("__")}


def _own_names(sources: dict[str, str]) -> set[str]:
    """``_x`` attributes nbrtc's own classes set on ``self`` (``widget._closed``...)."""
    return {
        n for text in sources.values() for n in re.findall(r"self\.(_[A-Za-z]\w*)\s*[:=]", text)
    }


def reach_ins(name: str, text: str, private: set[str]) -> list[str]:
    """Where module ``name`` (source ``text``) names an upstream private or monkeypatches an
    upstream object: ``"name:line: what"`` for each."""
    tree = ast.parse(text)
    upstream_names = set()  # names bound to aiortc/aioice modules or objects in this module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UPSTREAM:
                    upstream_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UPSTREAM:
            upstream_names |= {alias.asname or alias.name for alias in node.names}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Attribute):
            base = node.value
            own = isinstance(base, ast.Name) and base.id in ("self", "cls")
            if MANGLED.match(node.attr) or (node.attr in private and not own):
                what = node.attr
            elif isinstance(node.ctx, ast.Store):
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in upstream_names:
                    what = f"assignment to {ast.unparse(node)}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (MANGLED.match(node.value) or node.value in private)
        ):
            what = repr(node.value)
        if what is not None:
            found.append((node.lineno, what))
    return [f"{name}:{line}: {what}" for line, what in sorted(found)]


def test_the_reach_in_detector_finds_each_kind() -> None:
    sample = (
        "import aioice.ice\n"
        "from aiortc.rtcrtpreceiver import RTCRtpReceiver\n"
        "conn = pc._connection\n"
        "codecs = getattr(receiver, '_RTCRtpReceiver__codecs')\n"
        "aioice.ice.get_host_addresses = lambda **kw: []\n"
        "RTCRtpReceiver.handle = None\n"
        "self._connection = None\n"  # an object's own attribute is its business
    )
    found = reach_ins("sample", sample, {"_connection"})
    assert [f.split(": ", 1)[1] for f in found] == [
        "_connection",
        "'_RTCRtpReceiver__codecs'",
        "assignment to aioice.ice.get_host_addresses",
        "assignment to RTCRtpReceiver.handle",
    ], found


def test_only_upstream_reaches_into_aiortc_and_aioice() -> None:
    sources = {
        str(path.relative_to(SRC)): path.read_text(encoding="utf-8")
        for path in sorted(SRC.rglob("*.py"))
    }
    upstream_text = sources.pop("_upstream.py")
    # a name both nbrtc and upstream use for their own objects (``_closed``) is no reach-in,
    # unless _upstream itself reaches for it on an upstream object
    used_by_layer = {n for n in re.findall(r"\.(_[A-Za-z]\w*)", upstream_text)}
    private = _upstream_private_names() - (_own_names(sources) - used_by_layer)
    assert {"_connection", "_nominated", "_send_rtp", "_origin"} <= private
    found = [hit for name, text in sources.items() for hit in reach_ins(name, text, private)]
    assert not found, (
        "these modules reach into aiortc/aioice internals; add a named function to "
        "src/nbrtc/_upstream.py (and a probe to its check()) and call that instead:\n"
        + "\n".join(found)
    )


# --- ipykernel ----------------------------------------------------------------------------------
def test_a_pages_comm_messages_stay_on_the_subshell_it_named() -> None:
    """ipykernel 7 sends a comm's incoming messages to the subshell of the request that was
    current when the kernel last sent on it (a cell's ``send_state``: the main shell, behind
    the running cell); nbrtc's widgets keep the page's own choice."""
    comm_mod = pytest.importorskip("ipykernel.comm.comm")
    # the class ipykernel's create_comm makes for every widget; no kernel: nothing is sent
    comm = comm_mod.BaseComm(target_name="nbrtc-test", primary=False)
    if not hasattr(comm, "_reply_subshell_for"):
        assert _upstream.route_comm_by_header(comm) is False
        pytest.skip("this ipykernel has no per-comm subshell routing")
    comm._reply_subshell_id = None  # what a send from a running cell leaves behind
    assert comm._reply_subshell_for({"method": "custom"}, "page-subshell") is None
    assert _upstream.route_comm_by_header(comm) is True
    assert comm._reply_subshell_for({"method": "custom"}, "page-subshell") == "page-subshell"
    assert comm._reply_subshell_for({"content": {"id": "x"}}, None) is None
    assert _upstream.route_comm_by_header(None) is False


class _Sample:
    """A class whose body has what a cut by indentation must keep."""

    def method(
        self,
        x: int,
    ) -> int:
        # a comment at the body's indentation

        return x  # the blank line above is inside

    @staticmethod
    def decorated() -> None:
        pass


def test_probe_sources_are_inspects_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probes' fast source reader gives exactly what ``inspect.getsource`` gives, for
    every upstream class and function the probes read and for a class of multi-line
    signatures, comments, blank lines and decorators; '' where no source exists."""
    import inspect

    from aiortc import rtcicetransport, rtcpeerconnection
    from aiortc.contrib.media import MediaPlayer

    targets: list[Any] = [
        RTCRtpReceiver,
        RTCDtlsTransport,
        rtcicetransport.RTCIceGatherer.__init__,
        rtcicetransport.RTCIceTransport.start,
        rtcpeerconnection.RTCPeerConnection,
        aioice.ice.Connection.connect,
        aioice.ice.Connection._check_list_maybe_complete,
        aioice.stun.Transaction,
        MediaPlayer,
        _Sample,
        _Sample.method,
        _Sample.decorated,
    ]
    for target in targets:
        assert _upstream._source(target) == inspect.getsource(target), target
    assert _upstream._source(len) == ""
    assert _upstream._source(None) == ""


def test_every_probe_reads_the_same_with_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every feature's probe finds the same with the fast reader as with
    ``inspect.getsource`` (nothing missing on the installed versions)."""
    import inspect

    features = [f for f in vars(_upstream).values() if isinstance(f, _upstream.Feature)]
    features += [
        f
        for v in vars(_upstream).values()
        if isinstance(v, list | tuple)
        for f in v
        if isinstance(f, _upstream.Feature)
    ]
    assert len(features) >= 10
    fast = {f.name: f.probe() for f in features}

    def slow(obj: Any) -> str:
        try:
            return inspect.getsource(obj)
        except (OSError, TypeError):
            return ""

    monkeypatch.setattr(_upstream, "_source", slow)
    assert {f.name: f.probe() for f in features} == fast
    assert all(problems == [] for problems in fast.values())
