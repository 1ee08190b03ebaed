"""The wheel carries the JS bundle, and the Python and JS versions agree.

Editable installs hide a missing bundle (the file is in the source tree); building a
real wheel does not.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

import nbrtc

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_versions_agree() -> None:
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["version"] == nbrtc.__version__


@pytest.mark.skipif(os.environ.get("NBRTC_SKIP_WHEEL") == "1", reason="NBRTC_SKIP_WHEEL=1")
def test_wheel_contains_the_bundle(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("nbrtc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nbrtc/static/widget.js" in names, names
    assert "nbrtc/static/loader.js" in names, names
    assert "nbrtc/static/inspector.js" in names, names  # the Inspector's own bundle
    # the stylesheets anywidget gets as `_css` (the views inject no style of their own)
    assert "nbrtc/static/widget.css" in names, names
    assert "nbrtc/static/inspector.css" in names, names
    assert "nbrtc/__init__.py" in names
    # the Jupyter server extension and the file that enables it where the wheel goes
    assert "nbrtc_server/__init__.py" in names, names
    config = [n for n in names if n.endswith("etc/jupyter/jupyter_server_config.d/nbrtc.json")]
    assert config and ".data/data/" in config[0], names
    enabled = json.loads(zipfile.ZipFile(wheel).read(config[0]))
    assert enabled == {"ServerApp": {"jpserver_extensions": {"nbrtc_server": True}}}
    # PEP 561 marker: without it a user's type checker ignores nbrtc's annotations
    assert "nbrtc/py.typed" in names, names


def test_widgets_carry_their_stylesheet() -> None:
    """Every widget hands anywidget its bundle's CSS as ``_css`` (text, not a path: see
    nbrtc/_bundle.py), and the page styles come only from there."""
    widget_css = (ROOT / "src" / "nbrtc" / "static" / "widget.css").read_text(encoding="utf-8")
    for cls in (nbrtc.Camera, nbrtc.Microphone, nbrtc.VideoView, nbrtc.Room):
        css = cls._css  # type: ignore[attr-defined]
        assert isinstance(css, str) and "\n" in css, cls  # text: no file watcher, no leak
        assert css.strip() == widget_css.strip(), cls
        for selector in (".nbrtc-root", ".nbrtc-room-grid", ".nbrtc-doctor-table"):
            assert selector in css, (cls, selector)
    inspector_css = nbrtc.Inspector._css  # type: ignore[attr-defined]
    assert ".nbrtc-inspector" in inspector_css and ".nbrtc-sdp-line" in inspector_css
    assert ".nbrtc-inspector" not in nbrtc.Camera._css  # type: ignore[attr-defined]


def _declared() -> dict[str, str]:
    """pyproject's dependencies: distribution name (normalized) -> the requirement."""
    import re

    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower().replace("_", "-"): d for d in deps}


#: top-level module -> its distribution, for the third-party modules src/nbrtc imports
MODULE_DIST = {
    "aiortc": "aiortc",
    "aioice": "aioice",
    "av": "av",
    "anywidget": "anywidget",
    "ipywidgets": "ipywidgets",
    "traitlets": "traitlets",
    "numpy": "numpy",
    "IPython": "ipython",
    "uvloop": "uvloop",
}
#: imported only inside ``try: ... except Exception`` for an optional feature: not declared
OPTIONAL = {
    "jupyter_core": "the config file lookup in _config.py works without it",
    "marimo": "imported only when marimo already runs the kernel (_signaling/cells.py)",
    "aiohttp": "nbrtc.Janus only, imported on first use (the `janus` extra; _sfu/janus_link.py)",
}


def _third_party_imports() -> set[str]:
    import ast

    found: set[str] = set()
    for path in (ROOT / "src" / "nbrtc").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "nbrtc"}


def test_declared_dependencies_match_the_imports() -> None:
    """Every third-party package src/nbrtc imports is declared in pyproject.toml (with a
    range), and every declared one is imported: a missing one breaks a fresh install, an
    extra one (ipykernel was) drags a kernel into environments that bring their own."""
    imported = _third_party_imports()
    unknown = imported - set(MODULE_DIST) - set(OPTIONAL)
    assert not unknown, f"imported but not in MODULE_DIST/OPTIONAL: {sorted(unknown)}"
    declared = _declared()
    needed = {MODULE_DIST[m] for m in imported if m in MODULE_DIST}
    assert needed - set(declared) == set(), f"imported, not declared: {needed - set(declared)}"
    assert set(declared) - needed == set(), f"declared, not imported: {set(declared) - needed}"
    for dist, req in declared.items():
        assert any(op in req for op in (">=", "<", "==", "~=")), f"{dist} has no tested range"


def test_bundles_are_lean() -> None:
    """Release bundles carry no source map: anywidget syncs ``_esm`` with every widget
    model, into saved notebooks and HTML exports (an inline map made widget.js 6x
    larger). ``npm run dev`` keeps maps; this checks what the package ships."""
    for name in ("widget.js", "inspector.js", "widget.css", "inspector.css"):
        text = (ROOT / "src" / "nbrtc" / "static" / name).read_text(encoding="utf-8")
        assert "sourceMappingURL" not in text, f"{name} carries a source map"
    size = (ROOT / "src" / "nbrtc" / "static" / "widget.js").stat().st_size
    print(f"\nwidget.js: {size / 1024:.0f} KiB")
    assert size < 200 * 1024, f"widget.js is {size / 1024:.0f} KiB: a debug build?"


@pytest.mark.skipif(os.environ.get("NBRTC_SKIP_WHEEL") == "1", reason="NBRTC_SKIP_WHEEL=1")
def test_sdist_installs_without_node(tmp_path: pathlib.Path) -> None:
    """The sdist carries the built front end: a wheel built from it with no ``node`` or
    ``npm`` on the PATH (an offline or conda-forge build) still holds the bundles, the
    LICENSE and py.typed."""
    import shutil
    import tarfile

    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [sdist] = tmp_path.glob("nbrtc-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    for want in ("src/nbrtc/static/widget.js", "src/nbrtc/static/widget.css", "LICENSE"):
        assert any(n.endswith(want) for n in names), (want, names)
    # a PATH without node or npm: only the directories of python and the basic tools
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "env", "tar", "gzip", "git"):
        found = shutil.which(tool)
        if found:
            (bare / tool).symlink_to(found)
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{bare}"}
    assert shutil.which("npm", path=env["PATH"]) is None
    assert shutil.which("node", path=env["PATH"]) is None
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(sdist)],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    [wheel] = out.glob("nbrtc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("nbrtc/static/widget.js", "nbrtc/static/inspector.css", "nbrtc/py.typed"):
        assert want in names, (want, names)
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names), names
