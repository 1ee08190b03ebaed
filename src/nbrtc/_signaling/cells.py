"""The cell runtime: which cell runs, is the kernel busy, and "this cell runs again".

The manager needs three facts from the notebook host, and each host tells them its own
way. ``CellRuntime`` is that seam; the manager picks one with :func:`detect` when the
first widget registers (always on the kernel's main thread, inside a running cell).

- ``IPythonCells`` (Jupyter, Voilà, VS Code, Colab): IPython's ``pre_run_cell`` and
  ``post_run_cell`` hooks; the cell id is the one JupyterLab sends in the request.
- ``MarimoCells`` (``marimo edit``/``marimo run``): marimo has no IPython shell. Its
  runtime context names the running cell (``ctx.execution_context``, set and cleared
  around each cell in ``marimo/_runtime/runtime.py``), and its cell lifecycle registry
  (``marimo/_runtime/cell_lifecycle_registry.py``) calls ``dispose`` on items of a cell
  before that cell runs again and when it is deleted. Widget messages reach the kernel
  through its control queue, which is served only between cells
  (``marimo/_runtime/kernel_lifecycle.py``), so, as in ipykernel, they queue behind a
  running cell: ``busy`` must be true while one runs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("nbrtc")

#: called with a cell id when that cell runs again or is deleted (kernel main thread)
OnRerun = Callable[[str], None]


class CellRuntime(Protocol):
    """What the manager knows about cells, whichever host runs them."""

    @property
    def busy(self) -> bool:
        """A cell is running, so the page's messages queue behind it. Any thread."""

    @property
    def current_cell(self) -> str | None:
        """The running cell's id, None between cells or when the host has none."""

    def mark_busy(self, busy: bool) -> None:
        """Say a cell runs (True) or ended (False) when the host cannot (tests). Any thread."""

    def adopt(self, cell_id: str | None) -> None:
        """A widget was made in ``cell_id``: arrange that this cell's next run (or its
        deletion) calls back. Kernel main thread."""


class IPythonCells:
    """IPython's hooks: ``pre_run_cell`` marks busy and reports the re-run cell,
    ``post_run_cell`` marks idle. Behaviour of nbrtc before the seam, unchanged."""

    name = "ipython"

    def __init__(self, on_rerun: OnRerun) -> None:
        self._on_rerun = on_rerun
        self._busy = False
        self._current: str | None = None

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def current_cell(self) -> str | None:
        return self._current

    def mark_busy(self, busy: bool) -> None:
        self._busy = busy

    def adopt(self, cell_id: str | None) -> None:
        """Nothing to arrange: ``pre_run_cell`` reports every cell that starts."""

    def install(self) -> None:
        """Register the hooks on the running IPython shell, if any (main thread, once)."""
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:  # pragma: no cover
            ip = None
        if ip is None:
            return
        ip.events.register("pre_run_cell", self.pre_run_cell)
        ip.events.register("post_run_cell", self.post_run_cell)
        # The hooks are installed by the first nbrtc widget, i.e. from inside a running
        # cell whose pre_run_cell has already fired: learn that cell from the kernel's
        # current request so it is treated like any other.
        running, cell_id = _current_execution(ip)
        if running:
            self._busy = True
            self._current = cell_id

    def pre_run_cell(self, info: Any) -> None:
        """A cell starts: busy; if it has an id, its previous run's widgets must close."""
        self._busy = True
        cell_id = getattr(info, "cell_id", None)
        self._current = cell_id
        if cell_id:
            self._on_rerun(cell_id)

    def post_run_cell(self, _result: Any) -> None:
        self._busy = False
        self._current = None


class MarimoCells:
    """marimo's runtime context (read from any thread: plain attribute reads of the
    context captured when the first widget registered) and its cell lifecycle registry.

    ``busy`` reads the first context only: in ``marimo run``, where several sessions
    share one process (and so one manager), a cell running in another session does not
    count. Re-run cleanup uses each widget's own session."""

    name = "marimo"

    def __init__(self, ctx: Any, on_rerun: OnRerun) -> None:
        self._ctx = ctx
        self._on_rerun = on_rerun
        self._forced = False
        #: cells with a pending disposer in marimo's registry (one per cell and run)
        self._adopted: set[str] = set()

    @property
    def busy(self) -> bool:
        return self._forced or getattr(self._ctx, "execution_context", None) is not None

    @property
    def current_cell(self) -> str | None:
        ec = getattr(self._ctx, "execution_context", None)
        cell_id = getattr(ec, "cell_id", None)
        return str(cell_id) if cell_id is not None else None

    def mark_busy(self, busy: bool) -> None:
        self._forced = busy

    def adopt(self, cell_id: str | None) -> None:
        if not cell_id or cell_id in self._adopted:
            return
        # `marimo run` runs each session's kernel in a thread of one server process: the
        # cell belongs to the registry of the context of the thread that made the widget
        ctx = marimo_context() or self._ctx
        registry = getattr(ctx, "cell_lifecycle_registry", None)
        if registry is None:  # pragma: no cover - a marimo without the registry
            log.debug("marimo has no cell lifecycle registry: re-runs will not close widgets")
            return
        registry.inject(cell_id, _disposer(self, cell_id))
        self._adopted.add(cell_id)

    def disposed(self, cell_id: str) -> None:
        """marimo disposes ``cell_id`` (it runs again or is deleted). Main thread."""
        self._adopted.discard(cell_id)
        self._on_rerun(cell_id)


def _disposer(cells: MarimoCells, cell_id: str) -> Any:
    """A marimo ``CellLifecycleItem`` that reports the disposal of ``cell_id``."""
    from marimo._runtime.cell_lifecycle_item import CellLifecycleItem

    class _CloseWidgets(CellLifecycleItem):
        def create(self, context: Any) -> None:
            pass

        def dispose(self, context: Any, deletion: bool) -> bool:
            try:
                cells.disposed(cell_id)
            except Exception:  # never break marimo's own cleanup of the cell
                log.exception("closing the widgets of marimo cell %s failed", cell_id)
            return True

    return _CloseWidgets()


def marimo_context() -> Any | None:
    """marimo's runtime context when this code runs inside a marimo cell, else None."""
    if "marimo" not in sys.modules:  # never import marimo where it is not running
        return None
    try:
        from marimo._runtime.context import safe_get_context
    except ImportError:  # pragma: no cover - a marimo without this module
        return None
    return safe_get_context()


def detect(ipython: IPythonCells, on_rerun: OnRerun) -> CellRuntime:
    """The runtime of the host this kernel runs in: marimo's when called inside a
    marimo cell, else ``ipython`` with its hooks installed. Kernel main thread, once."""
    ctx = marimo_context()
    if ctx is not None:
        return MarimoCells(ctx, on_rerun)
    ipython.install()
    return ipython


def _current_execution(ip: Any) -> tuple[bool, str | None]:
    """(a cell is executing, its JupyterLab cell id) from ipykernel's parent request."""
    kernel = getattr(ip, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:
        return False, None
    if not parent or parent.get("header", {}).get("msg_type") != "execute_request":
        return False, None
    cell_id = (parent.get("metadata") or {}).get("cellId")
    return True, cell_id if isinstance(cell_id, str) else None
