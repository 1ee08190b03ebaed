"""The cell runtime seam (``_signaling/cells.py``): marimo's cells drive re-run cleanup
and the liveness watchdog the way IPython's hooks do, with a real marimo lifecycle
registry and a real aiortc peer standing in for the page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

import nbrtc
from nbrtc._signaling import cells

from ._browser import FakeBrowser, assert_holds, wait_for

registry_mod = pytest.importorskip(
    "marimo._runtime.cell_lifecycle_registry", reason="marimo is in the test extras"
)


def make(widgets: list, browser: FakeBrowser, widget):  # type: ignore[no-untyped-def]
    widgets.append(widget)
    browser.attach(widget)
    return widget


@pytest.fixture
def marimo(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """The manager on a marimo-shaped runtime context (what marimo's kernel passes to
    ``safe_get_context()``): ``execution_context`` names the running cell, and a real
    ``CellLifecycleRegistry`` disposes a cell's items before it runs again."""
    mgr = nbrtc.manager()
    mgr._install_hooks()
    ctx = SimpleNamespace(
        execution_context=None, cell_lifecycle_registry=registry_mod.CellLifecycleRegistry()
    )
    # dispose asks marimo's context only to hand it to the items; ours ignore it
    monkeypatch.setattr("marimo._runtime.context.get_context", lambda: ctx)
    saved = mgr._cells
    mgr._cells = cells.MarimoCells(ctx, mgr._close_cell)
    try:
        yield ctx
    finally:
        mgr._cells = saved


def run(ctx: SimpleNamespace, cell_id: str) -> None:
    """marimo starts ``cell_id``: dispose its previous run (runtime.py), then mark it running."""
    ctx.cell_lifecycle_registry.dispose(cell_id, deletion=False)
    ctx.execution_context = SimpleNamespace(cell_id=cell_id)


def end(ctx: SimpleNamespace) -> None:
    ctx.execution_context = None


def test_marimo_rerun_closes_only_that_cells_widgets(browser, widgets, marimo):
    mgr = nbrtc.manager()
    run(marimo, "cell-A")
    cam = make(widgets, browser, nbrtc.Camera())
    end(marimo)
    run(marimo, "cell-B")
    other = make(widgets, browser, nbrtc.VideoView())
    end(marimo)
    assert cam._cell_id == "cell-A" and other._cell_id == "cell-B"
    browser.start(cam)
    cam.wait("live", timeout=10)
    run(marimo, "cell-A")  # cell A runs again
    try:
        assert cam.state == "closed"
        wait_for(lambda: not mgr.streams(), 1.0, what="the old stream closed within 1 s")
        assert not other._closed
        again = make(widgets, browser, nbrtc.Camera())  # the new run's widget
    finally:
        end(marimo)
    # the new run's widget is adopted again: deleting the cell closes it too
    marimo.cell_lifecycle_registry.dispose("cell-A", deletion=True)
    assert again._closed and not other._closed


def test_marimo_busy_follows_the_running_cell_on_any_thread(marimo):
    mgr = nbrtc.manager()
    seen: list[tuple[bool, str | None]] = []

    def read() -> None:  # the media loop reads busy from its own thread
        seen.append((mgr.busy, mgr.current_cell))

    marimo.execution_context = SimpleNamespace(cell_id="c7")
    t = threading.Thread(target=read)
    t.start()
    t.join()
    end(marimo)
    read()
    assert seen == [(True, "c7"), (False, None)]


def test_marimo_watchdog_waits_while_a_cell_runs(browser, widgets, marimo, monkeypatch):
    import nbrtc._signaling.manager as m

    monkeypatch.setattr(m, "BROWSER_TIMEOUT", 0.5)
    mgr = nbrtc.manager()
    cam = make(widgets, browser, nbrtc.Camera())
    browser.start(cam)
    cam.wait("live", timeout=10)
    browser.silent = True  # the page stops pinging (its pings would queue behind the cell)
    marimo.execution_context = SimpleNamespace(cell_id="long")  # a long marimo cell
    try:
        assert_holds(lambda: cam.state == "live", 1.5, "stream stays live during the cell")
    finally:
        end(marimo)
    # the cell ended: the silent page is taken for dead within the bound
    wait_for(lambda: not mgr.streams(), 5, what="watchdog fires once the cell ends")


def test_detect_picks_marimo_only_inside_a_marimo_cell(monkeypatch):
    ipy = cells.IPythonCells(lambda _cell: None)
    assert cells.detect(ipy, lambda _cell: None) is ipy  # pytest: not a marimo cell
    ctx = SimpleNamespace(execution_context=SimpleNamespace(cell_id="x"))
    monkeypatch.setattr(cells, "marimo_context", lambda: ctx)
    picked = cells.detect(ipy, lambda _cell: None)
    assert isinstance(picked, cells.MarimoCells) and picked.current_cell == "x"


def test_ipython_path_reports_reruns_and_busy():
    rerun: list[str] = []
    ipy = cells.IPythonCells(rerun.append)
    ipy.pre_run_cell(SimpleNamespace(cell_id=None))
    assert ipy.busy and ipy.current_cell is None and rerun == []
    ipy.post_run_cell(None)
    ipy.pre_run_cell(SimpleNamespace(cell_id="a"))
    assert ipy.busy and ipy.current_cell == "a" and rerun == ["a"]
    ipy.post_run_cell(None)
    assert not ipy.busy and ipy.current_cell is None
