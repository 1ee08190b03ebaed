"""End-to-end harness: a JupyterLab server, Debian Chromium and notebook helpers.

Nothing here knows about nbrtc. The fixtures in ``conftest.py`` build on these pieces:

* :func:`start_jupyter_server` runs ``jupyter lab`` (which also serves Notebook 7) on a
  free port with isolated config, runtime and workspace folders, and no news or update
  checks. The data path is left alone so installed lab extensions (anywidget) load.
* :func:`open_notebook`, :func:`run_cell`, :func:`run_all`, :func:`cell_output_text`,
  :func:`clear_cell_output`, :func:`delete_cell`, :func:`restart_kernel` and
  :func:`shutdown_kernel` drive the notebook UI the way a person would.
* :func:`kernel_eval` runs code in the notebook's own kernel over ZMQ (its connection
  file), bypassing the UI, so tests can ask the kernel what it holds while the page is
  open.
* :func:`wait_for` polls to a deadline and returns the elapsed time. Nothing in this
  module sleeps for a fixed time to "let things settle".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(os.environ.get("NBRTC_ARTIFACTS", REPO_ROOT / "test-artifacts"))
COUNTERS_JS = Path(__file__).with_name("counters.js")
CHROMIUM = os.environ.get("NBRTC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--allow-loopback-in-peer-connection",
]
VIEWPORT = {"width": 1280, "height": 900}

UI = Literal["lab", "notebook7"]

# One notebook panel per page: these selectors hold in JupyterLab 4 and Notebook 7.
CELLS = ".jp-Notebook .jp-Cell"
PROMPT = ".jp-InputPrompt"
OUTPUT = ".jp-OutputArea-output"
KERNEL_INDICATOR = ".jp-Notebook-ExecutionIndicator"
DIALOG = ".jp-Dialog"
DIALOG_ACCEPT = ".jp-Dialog .jp-Dialog-button.jp-mod-accept"
_DONE_PROMPT = re.compile(r"^\[(\d+)\]:?$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class HarnessError(AssertionError):
    """The harness could not do what a test asked (page, server or kernel misbehaved)."""


class KernelEvalError(HarnessError):
    """Code run by :func:`kernel_eval` raised; the message carries the traceback."""


# --------------------------------------------------------------------------- polling


def record_figure(path: Path, name: str, value: object, echo: bool = False) -> None:
    """Keep ``value`` under ``name`` in the JSON file ``path`` (other names kept; a file
    that does not parse starts afresh); ``echo`` also prints it."""
    if echo:
        print(f"\n[figure] {name}: {json.dumps(value, default=str)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[name] = value
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | None = None,
    ignore: tuple[type[BaseException], ...] = (),
) -> float:
    """Poll ``predicate`` until it returns something truthy; return the seconds it took.

    Raises :class:`TimeoutError` naming ``message`` (or the predicate) and its last value
    when ``timeout`` seconds pass. Exceptions listed in ``ignore`` count as "not yet".
    """
    start = time.monotonic()
    deadline = start + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except ignore as exc:
            last = exc
        else:
            if last:
                return time.monotonic() - start
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise TimeoutError(f"{what}: not true after {timeout:.1f} s (last: {last!r})")
        time.sleep(interval)  # poll interval (wait_for)


def wait_equal(
    fn: Callable[[], Any],
    want: Any,
    timeout: float = 10.0,
    message: str | None = None,
    detail: Callable[[], str] | None = None,
) -> float:
    """:func:`wait_for` ``fn() == want``; its timeout names ``fn``'s last value (and
    ``detail()``, e.g. the page's last console lines), not just ``False``."""
    last: list[Any] = []

    def equal() -> bool:
        last[:] = [fn()]
        return last[0] == want

    try:
        return wait_for(equal, timeout=timeout, message=message)
    except TimeoutError as exc:
        extra = f"; {detail()}" if detail else ""
        got = last[0] if last else None
        raise TimeoutError(f"{exc}: wanted {want!r}, last {got!r}{extra}") from None


def sample_for(fn: Callable[[], Any], seconds: float, interval: float = 0.05) -> list[Any]:
    """Call ``fn`` every ``interval`` for ``seconds`` and return what it returned.

    For checks whose subject IS a duration (does the video keep moving, does nothing
    appear afterwards); waiting for something to happen is :func:`wait_for`'s job.
    """
    out: list[Any] = []
    end = time.monotonic() + seconds
    while True:
        out.append(fn())
        if time.monotonic() >= end:
            return out
        time.sleep(interval)  # window: sample_for samples a duration


def assert_holds(
    predicate: Callable[[], Any], seconds: float, interval: float = 0.05, message: str = ""
) -> int:
    """Fail as soon as ``predicate`` is falsy during ``seconds``; return how often it held."""
    n = 0
    for ok in sample_for(lambda: _check(predicate, message), seconds, interval):
        n += bool(ok)
    return n


def _check(predicate: Callable[[], Any], message: str) -> bool:
    value = predicate()
    if not value:
        raise AssertionError(message or f"{predicate} stopped holding (got {value!r})")
    return True


# ----------------------------------------------------------------------------- server


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` process (Notebook 7 is served by it too)."""

    url: str  # ends with "/"
    token: str
    root_dir: Path
    runtime_dir: Path
    config_dir: Path
    workspaces_dir: Path
    log_path: Path
    port: int
    process: subprocess.Popen = field(repr=False)

    # --- REST -------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call the server's REST API (``path`` like ``"api/sessions"``); JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def sessions(self) -> list[dict]:
        return self.api("GET", "api/sessions")

    def kernels(self) -> list[dict]:
        return self.api("GET", "api/kernels")

    def session_for(self, path: str) -> dict | None:
        """The session of notebook ``path`` (relative to ``root_dir``), or None."""
        for s in self.sessions():
            if s.get("path") == path and s.get("kernel"):
                return s
        return None

    def connection_file(self, kernel_id: str) -> Path:
        return self.runtime_dir / f"kernel-{kernel_id}.json"

    def shutdown_sessions(self) -> None:
        """Delete every session, then shut any remaining kernel down (best effort)."""
        try:
            sessions = self.sessions()
        except (OSError, urllib.error.URLError):
            sessions = []
        for s in sessions:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("DELETE", f"api/sessions/{s['id']}")
        self.shutdown_kernels()

    def shutdown_kernels(self) -> None:
        """Shut every kernel down through the REST API (best effort)."""
        try:
            kernels = self.kernels()
        except (OSError, urllib.error.URLError):
            return
        for k in kernels:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("DELETE", f"api/kernels/{k['id']}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Shut kernels down, then SIGTERM the server; SIGKILL its process group if stuck."""
        if self.process.poll() is None:
            self.shutdown_kernels()
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # The server runs in its own session (start_new_session=True): its group
                # holds only it and the kernels it spawned.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _write_jupyter_config(config_dir: Path) -> None:
    """Config that keeps a headless test run quiet and deterministic."""
    server_config = {
        "LabApp": {
            "news_url": None,  # no "get notified about Jupyter news?" toast
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "expose_app_in_browser": True,  # window.jupyterapp, for debugging
        },
        "JupyterNotebookApp": {"expose_app_in_browser": True},
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config, indent=1))
    # User settings live under <config dir>/lab/user-settings for Lab and Notebook 7.
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


def start_jupyter_server(
    base_dir: Path,
    log_path: Path,
    timeout: float = 90.0,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    ip: str = "127.0.0.1",
    command_prefix: list[str] | None = None,
) -> JupyterServer:
    """Start ``jupyter lab`` under ``base_dir`` (root/, config/, runtime/, workspaces/).

    Waits until ``/api/status`` answers. The server's output goes to ``log_path``.
    ``ip`` is the address it listens on (and its URL's host); ``command_prefix`` runs it
    through another command that ends by exec'ing it, e.g. ``["ip", "netns", "exec",
    NS]`` (tests/net). The free port is probed, and ``/api/status`` asked, in the
    caller's network namespace: with a prefix that changes namespace, call this from a
    thread that is in that namespace.
    """
    base_dir = Path(base_dir)
    root, config, runtime, workspaces = (
        base_dir / n for n in ("root", "config", "runtime", "workspaces")
    )
    for d in (root, config, runtime, workspaces):
        d.mkdir(parents=True, exist_ok=True)
    _write_jupyter_config(config)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    child_env = dict(os.environ)
    child_env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    child_env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    child_env.pop("JUPYTERLAB_WORKSPACES_DIR", None)
    child_env.update(env or {})

    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = _free_port(ip)
        cmd = [
            *(command_prefix or []),
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--ServerApp.token={token}",
            f"--ServerApp.ip={ip}",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={workspaces}",
            *(extra_args or []),
        ]
        log = open(log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        server = JupyterServer(
            url=f"http://{ip}:{port}/",
            token=token,
            root_dir=root,
            runtime_dir=runtime,
            config_dir=config,
            workspaces_dir=workspaces,
            log_path=log_path,
            port=port,
            process=proc,
        )

        def ready(server: JupyterServer = server, proc: subprocess.Popen = proc) -> bool:
            if proc.poll() is not None:
                raise HarnessError(f"jupyter lab exited with {proc.returncode}")
            try:
                server.api("GET", "api/status", timeout=2)
            except (OSError, urllib.error.URLError):
                return False
            return True

        try:
            wait_for(ready, timeout=timeout, interval=0.1, message="jupyter /api/status")
            return server
        except (HarnessError, TimeoutError) as exc:
            last_error = f"{exc}\n--- server log ---\n{server.log_tail()}"
            server.stop(timeout=5)
    raise HarnessError(f"could not start jupyter lab: {last_error}")


# -------------------------------------------------------------------------- notebooks


def write_notebook(
    server: JupyterServer, name: str, cells: list[str], kernel: str | None = "python3"
) -> str:
    """Write a notebook of code cells into the server root; return its server path.

    The notebook names ``kernel`` so that no "Select Kernel" dialog is needed; with
    ``kernel=None`` it names none, as a hand-made notebook might.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    if kernel is not None:
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    target = server.root_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return name


@dataclass
class OpenNotebook:
    """What :func:`open_notebook` opened; kept per page so helpers need only the page."""

    page: Any = field(repr=False)
    server: JupyterServer = field(repr=False)
    path: str
    ui: UI
    url: str
    kernel_id: str
    dialogs_accepted: list[str] = field(default_factory=list)  # titles
    probe: KernelProbe | None = field(default=None, repr=False)


_opened: weakref.WeakKeyDictionary[Any, OpenNotebook] = weakref.WeakKeyDictionary()


def notebook_of(page) -> OpenNotebook:
    try:
        return _opened[page]
    except KeyError:
        raise HarnessError("no notebook was opened on this page (use open_notebook)") from None


def forget_page(page) -> OpenNotebook | None:
    """Drop the page's notebook record and close its kernel probe; return the record."""
    nb = _opened.pop(page, None)
    if nb is not None and nb.probe is not None:
        nb.probe.close()
        nb.probe = None
    return nb


def _accept_dialogs(page, accepted: list[str] | None = None) -> int:
    """Accept every visible JupyterLab dialog ("Select Kernel", ...); return how many.

    The title of each accepted dialog is appended to ``accepted``.
    """
    n = 0
    buttons = page.locator(DIALOG_ACCEPT)
    while n < 5 and buttons.count() and buttons.first.is_visible():
        title = page.locator(f"{DIALOG} .jp-Dialog-header")
        text = title.first.inner_text() if title.count() else "?"
        buttons.first.click(timeout=5000)
        n += 1
        if accepted is not None:
            accepted.append(text.strip())
    return n


def _ui_kernel_status(page) -> str | None:
    ind = page.locator(KERNEL_INDICATOR)
    if not ind.count():
        return None
    return ind.first.get_attribute("data-status")


def _wait_kernel_idle(
    page, server: JupyterServer, path: str, timeout: float, accepted: list[str] | None = None
) -> str:
    """Wait until the notebook's kernel is idle for the server and the page; return id."""
    found: dict[str, str] = {}

    def idle() -> bool:
        _accept_dialogs(page, accepted)
        if page.locator(DIALOG).count():
            return False
        s = server.session_for(path)
        if not s or s["kernel"].get("execution_state") != "idle":
            return False
        found["id"] = s["kernel"]["id"]
        return _ui_kernel_status(page) == "idle"

    wait_for(idle, timeout=timeout, interval=0.1, message=f"kernel of {path} idle")
    return found["id"]


# ------------------------------------------------------------- a booted JupyterLab, again
#
# Booting JupyterLab in a fresh page costs ~3.5 s of this machine's time per test, opening a
# notebook in a page that has it booted ~0.8 s. The e2e ``page`` fixture therefore hands a
# page whose JupyterLab a previous test booted to the next test, when nothing of that test
# can reach the next (tests/e2e/conftest.py decides; docs/architecture.md "Tests"): its
# first :func:`open_notebook` then opens the notebook in the running JupyterLab.

#: window property naming the server whose JupyterLab this document booted (a reload, a
#: navigation or a crash loses it, and with it the page's claim to be reused)
_BOOTED = "__harnessLabOf"


def lab_booted_for(page, server: JupyterServer) -> bool:
    """Whether ``page``'s document is a JupyterLab that :func:`open_notebook` booted for
    ``server`` (False for a closed or crashed page, another document, another server)."""
    try:
        return page.evaluate(f"() => window.{_BOOTED} || null") == server.url
    except Exception:
        return False


def single_use(page, why: str) -> None:
    """Say that ``page`` must not be handed to another test: ``why`` (e.g. an init script
    was added, which would run in every later document of the page, or a JupyterLab
    setting was changed). Tests call it right where they change such things."""
    page._harness_single_use = why


def single_use_reason(page) -> str | None:
    """What :func:`single_use` recorded for ``page``, or None."""
    return getattr(page, "_harness_single_use", None)


def add_observer_script(page, script: str) -> None:
    """Run ``script`` in ``page``'s current document and, as an init script, in every later
    one, *without* making the page single-use: for scripts that only watch (wrap an API to
    record its calls) and start their records again when run a second time in a document,
    so a test that handed the page over leaves nothing the next one would see."""
    native = getattr(page, "_harness_native_add_init_script", page.add_init_script)
    native(script)
    page.evaluate(f"() => {{ {script} }}")


def allow_open_in_app(page) -> None:
    """Let the next :func:`open_notebook` on ``page`` open its notebook in the page's running
    JupyterLab (the e2e fixture's reused page); any open consumes the permission."""
    page._harness_open_in_app = True


_OPEN_IN_APP_JS = """
(path) => {
  const app = window.jupyterapp;
  for (const w of Array.from(app.shell.widgets('main'))) w.dispose();
  // not awaited: the command settles seconds after the notebook shows
  app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
}
"""


def open_notebook(
    page, server: JupyterServer, path: str, ui: UI = "lab", timeout: float = 60.0
) -> OpenNotebook:
    """Open notebook ``path`` in JupyterLab (fresh workspace) or Notebook 7.

    Accepts any dialog that shows up while loading (e.g. "Select Kernel") and returns
    once the cells are rendered and the kernel is idle both on the server and in the UI.
    On a page the e2e fixture reused (:func:`allow_open_in_app`, the first open of a test)
    the notebook opens in the JupyterLab already running there; else the page navigates.
    """
    quoted = urllib.parse.quote(path)
    token = urllib.parse.quote(server.token)
    if ui == "lab":
        # A fresh workspace name per open: Lab restores nothing from earlier tests.
        workspace = "t" + secrets.token_hex(5)
        url = f"{server.url}lab/workspaces/{workspace}/tree/{quoted}?reset&token={token}"
    elif ui == "notebook7":
        url = f"{server.url}notebooks/{quoted}?token={token}"
    else:
        raise ValueError(f"ui must be 'lab' or 'notebook7', not {ui!r}")
    in_app = (
        ui == "lab"
        and getattr(page, "_harness_open_in_app", False)
        and single_use_reason(page) is None
        and lab_booted_for(page, server)
    )
    page._harness_open_in_app = False
    forget_page(page)

    accepted: list[str] = []

    def cells_shown() -> bool:
        _accept_dialogs(page, accepted)
        return page.locator(CELLS).count() > 0

    if in_app:
        page.evaluate(_OPEN_IN_APP_JS, path)
        try:
            wait_for(cells_shown, timeout=15, interval=0.05, message=f"cells of {path} shown")
            url = page.url
        except TimeoutError:
            print(f"[harness] {path} did not open in the running JupyterLab; loading it afresh")
            in_app = False
    if not in_app:
        page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        wait_for(cells_shown, timeout=timeout, interval=0.1, message=f"cells of {path} shown")
        if ui == "lab":
            page.evaluate(f"(u) => {{ window.{_BOOTED} = u; }}", server.url)
    kernel_id = _wait_kernel_idle(page, server, path, timeout, accepted)
    nb = OpenNotebook(
        page=page,
        server=server,
        path=path,
        ui=ui,
        url=url,
        kernel_id=kernel_id,
        dialogs_accepted=accepted,
    )
    _opened[page] = nb
    return nb


# ---------------------------------------------------------------------------- cells


def _cell(page, index: int, timeout: float = 5.0):
    """Cell ``index`` of the open notebook (negative counts from the end).

    A notebook opened a moment ago may not have laid out all its cells yet (JupyterLab
    adds them as it renders, seen in a second tab of the same notebook), so a missing
    cell is waited for a little, scrolling the notebook to its end meanwhile.
    """
    cells = page.locator(CELLS)
    deadline = time.monotonic() + timeout
    while True:
        n = cells.count()
        if -n <= index < n:
            return cells.nth(index % n)
        if time.monotonic() > deadline:
            raise IndexError(f"cell {index} does not exist (the notebook shows {n} cells)")
        if n:
            with contextlib.suppress(Exception):
                cells.nth(n - 1).scroll_into_view_if_needed(timeout=1000)
        page.wait_for_timeout(100)


def _select_cell(page, index: int):
    """Select cell ``index`` in command mode (click its prompt, then Escape)."""
    cell = _cell(page, index)
    cell.locator(PROMPT).first.click()
    page.keyboard.press("Escape")
    wait_for(
        lambda: "jp-mod-selected" in (cell.get_attribute("class") or ""),
        timeout=5,
        message=f"cell {index} selected",
    )
    return cell


_WATCH_PROMPTS_JS = """
(cells) => {
  for (const cell of cells) {
    const prompt = cell.querySelector('.jp-InputPrompt');
    if (cell.__harnessObserver) cell.__harnessObserver.disconnect();
    cell.__harnessPromptChanges = 0;
    if (!prompt) continue;
    const obs = new MutationObserver(() => { cell.__harnessPromptChanges += 1; });
    obs.observe(prompt, {childList: true, characterData: true, subtree: true});
    cell.__harnessObserver = obs;
  }
}
"""

# For each code cell: [prompt changed since watch started, prompt text, source empty].
_PROMPT_STATE_JS = """
(cells) => cells.map((cell) => {
  const prompt = cell.querySelector('.jp-InputPrompt');
  const editor = cell.querySelector('.cm-content');
  return [
    (cell.__harnessPromptChanges || 0) > 0,
    prompt ? prompt.textContent.trim() : '',
    cell.classList.contains('jp-CodeCell') && !!editor && editor.textContent.trim() === '',
    cell.classList.contains('jp-CodeCell'),
  ];
})
"""


def _prompt_done(changed: bool, text: str) -> int | None:
    m = _DONE_PROMPT.match(text)
    return int(m.group(1)) if changed and m else None


def _wait_started(page, cell, index: int, timeout: float = 5.0) -> None:
    """Return once cell ``index``'s prompt has changed since the key press.

    JupyterLab sets the prompt to ``[*]`` in the same task that sends the execute
    request (queued or running alike), so a prompt unchanged after ``timeout`` means the
    key press never reached the notebook (focus taken between the click and the key):
    the cell is selected and run once more. Only then is it an error, naming the page's
    kernel state. A second press can therefore never run a cell twice.
    """

    def started() -> bool:
        return bool(cell.evaluate(f"(c) => ({_PROMPT_STATE_JS.strip()})([c])[0][0]"))

    try:
        wait_for(started, timeout=timeout, message=f"cell {index} started")
        return
    except TimeoutError:
        pass
    print(f"[harness] cell {index}: no [*] {timeout:.0f} s after Ctrl+Enter; pressing it again")
    _select_cell(page, index)
    page.keyboard.press("Control+Enter")
    try:
        wait_for(started, timeout=timeout, message=f"cell {index} started")
    except TimeoutError as exc:
        state = page_kernel_state(page)
        msg = f"{exc} (Ctrl+Enter pressed twice); the page's kernel: {state}"
        raise TimeoutError(msg) from None


def run_cell(page, index: int, timeout: float = 60.0, wait: bool = True) -> int | None:
    """Run code cell ``index`` with Ctrl+Enter; return its execution count.

    Ctrl+Enter ("run, stay on the cell") is used rather than Shift+Enter so that running
    the last cell does not append a new one. With ``wait`` the call returns when the
    prompt went through ``[*]`` and shows ``[n]`` again; without it, as soon as the
    prompt shows the cell started (:func:`_wait_started`).
    """
    cell = _cell(page, index)
    if "jp-CodeCell" not in (cell.get_attribute("class") or ""):
        raise HarnessError(f"cell {index} is not a code cell")
    cell.evaluate(f"(c) => ({_WATCH_PROMPTS_JS.strip()})([c])")
    _select_cell(page, index)
    page.keyboard.press("Control+Enter")
    _wait_started(page, cell, index)
    if not wait:
        return None
    result: dict[str, int] = {}

    def done() -> bool:
        changed, text, _empty, _code = cell.evaluate(f"(c) => ({_PROMPT_STATE_JS.strip()})([c])[0]")
        count = _prompt_done(changed, text)
        if count is None:
            return False
        result["count"] = count
        return True

    try:
        wait_for(done, timeout=timeout, message=f"cell {index} finished")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the page's kernel: {page_kernel_state(page)}") from None
    return result["count"]


def _click_menu(page, menu: str, item: str) -> None:
    """Click ``menu`` in the main menu bar, then its entry ``item`` (exact label)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).first.click()
    entry = page.locator(
        ".lm-Menu-item .lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")
    ).first
    entry.click()


def run_all(page, timeout: float = 120.0) -> float:
    """Run every cell through the Run menu ("Run All Cells"); return the seconds it took.

    Returns when every non-empty code cell shows a fresh ``[n]`` and the kernel is idle.
    A cell that raises stops Run All (JupyterLab skips the cells after it), so an idle
    kernel with cells left unrun for a few seconds fails at once with the error shown,
    instead of waiting out ``timeout`` with nothing to say.
    """
    cells = page.locator(CELLS)
    # A cell counts as run when its prompt shows an execution count above every count
    # shown before Run All. (Watching each prompt's DOM node for changes, as run_cell
    # does, misses cells JupyterLab renders anew while Run All scrolls through a long
    # notebook: seen in CI, a finished last cell reported "not run".)
    before = [
        _prompt_done(True, text) or 0 for _c, text, _e, _k in cells.evaluate_all(_PROMPT_STATE_JS)
    ]
    baseline = max(before, default=0)
    start = time.monotonic()
    _click_menu(page, "Run", "Run All Cells")
    idle_since: list[float] = []

    def all_done() -> bool:
        states = cells.evaluate_all(_PROMPT_STATE_JS)
        pending = [
            i
            for i, (_changed, text, empty, code) in enumerate(states)
            if code and not empty and (_prompt_done(True, text) or 0) <= baseline
        ]
        idle = _ui_kernel_status(page) == "idle"
        if not pending:
            return idle
        if not idle or any(text == "[*]:" or text == "[*]" for _c, text, _e, _k in states):
            idle_since.clear()
        elif not idle_since:
            idle_since.append(time.monotonic())
        elif time.monotonic() - idle_since[0] > 5.0:
            raise HarnessError(
                f"Run All stopped with cells {pending} not run; " + _run_all_report(page, states)
            )
        return False

    try:
        wait_for(all_done, timeout=timeout, message="all cells finished")
    except TimeoutError as exc:
        states = cells.evaluate_all(_PROMPT_STATE_JS)
        raise TimeoutError(f"{exc}; {_run_all_report(page, states)}") from None
    return time.monotonic() - start


def _run_all_report(page, states: list) -> str:
    """Each code cell's prompt, the head of its source, and any error it printed."""
    cells = page.locator(CELLS)
    lines = []
    for i, (_changed, text, _empty, code) in enumerate(states):
        if not code:
            continue
        cell = cells.nth(i)
        try:
            cell.scroll_into_view_if_needed(timeout=2000)
            source = cell.locator(".cm-content").first.inner_text(timeout=2000)
            errors = cell.locator(f"{OUTPUT}[data-mime-type*='error']").all_inner_texts()
        except Exception as exc:  # a report must not hide the real failure
            source, errors = f"<unreadable: {exc.__class__.__name__}>", []
        head = source.strip().splitlines()[0][:70] if source.strip() else ""
        lines.append(f"  cell {i} {text or '[ ]'} {head}")
        for err in errors:
            lines.append("    " + _ANSI.sub("", err).strip()[-1500:].replace("\n", "\n    "))
    return "cells:\n" + "\n".join(lines)


def cell_output_text(page, index: int) -> str:
    """The visible text of cell ``index``'s outputs, joined by newlines."""
    outputs = _cell(page, index).locator(OUTPUT)
    return "\n".join(t.rstrip() for t in outputs.all_inner_texts()).strip()


def clear_cell_output(page, index: int) -> None:
    """Clear cell ``index``'s output the way a person does (Edit > Clear Cell Output)."""
    cell = _select_cell(page, index)
    _click_menu(page, "Edit", "Clear Cell Output")
    wait_for(
        lambda: cell.locator(OUTPUT).count() == 0,
        timeout=10,
        message=f"output of cell {index} cleared",
    )


def delete_cell(page, index: int) -> None:
    """Delete cell ``index`` with the command-mode shortcut ``D, D``."""
    before = page.locator(CELLS).count()
    _select_cell(page, index)
    page.keyboard.press("d")
    page.keyboard.press("d")
    wait_for(
        lambda: page.locator(CELLS).count() == before - 1,
        timeout=10,
        message=f"cell {index} deleted",
    )


# --------------------------------------------------------------------------- kernels


def current_kernel_id(page) -> str | None:
    """The kernel id of the page's notebook session, as the server now sees it."""
    nb = notebook_of(page)
    s = nb.server.session_for(nb.path)
    if s:
        nb.kernel_id = s["kernel"]["id"]
        return nb.kernel_id
    return None


def restart_kernel(page, via: Literal["ui", "api"] = "ui", timeout: float = 60.0) -> float:
    """Restart the notebook's kernel; return the seconds until it is usable again.

    ``via="ui"``: Kernel menu > "Restart Kernel…", accept the dialog, and wait until the
    page showed a non-idle status and both page and server say idle again.

    ``via="api"``: ``POST /api/kernels/<id>/restart`` (as another client would), then
    wait until the server says idle, the kernel answers, and the page's own kernel
    connection has settled (connected, not restarting, no dialog) for half a second: on a
    loaded machine the page may learn of the restart late and drop an execution sent
    before it did. JupyterLab 4.6 often keeps showing "Starting" after such a restart until
    the next execution (it misses the kernel's idle status), so "starting" counts as settled.
    """
    nb = notebook_of(page)
    kid = current_kernel_id(page) or nb.kernel_id
    if nb.probe is not None:
        nb.probe.close()
        nb.probe = None
    start = time.monotonic()
    if via == "ui":
        indicator = page.locator(KERNEL_INDICATOR).first
        indicator.evaluate(_WATCH_STATUS_JS)
        _click_menu(page, "Kernel", "Restart Kernel…")
        page.locator(DIALOG_ACCEPT).first.click(timeout=10000)
        wait_for(
            lambda: indicator.evaluate(
                "(el) => (el.__harnessStatuses || []).some((s) => s !== 'idle')"
            ),
            timeout=timeout,
            message="page showed the kernel restarting",
        )
        _wait_kernel_idle(page, nb.server, nb.path, timeout)
    elif via == "api":
        nb.server.api("POST", f"api/kernels/{kid}/restart", timeout=timeout)

        def server_idle() -> bool:
            s = nb.server.session_for(nb.path)
            return bool(s) and s["kernel"].get("execution_state") == "idle"

        wait_for(server_idle, timeout=timeout, message="restarted kernel idle (server)")
        kernel_probe(page, timeout=timeout)  # connects and waits for kernel_info
        _wait_page_kernel_settled(page, kid, timeout)
    else:
        raise ValueError(f"via must be 'ui' or 'api', not {via!r}")
    return time.monotonic() - start


_PAGE_KERNEL_JS = """
() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k) return null;
  return {id: k.id, status: k.status, connection: k.connectionStatus,
          pending: (k._pendingMessages || []).length};
}
"""


def page_kernel_state(page) -> dict[str, Any] | None:
    """The page's own view of its notebook's kernel connection (JupyterLab internals,
    exposed by the test server's ``expose_app_in_browser``): id, status, connection
    status and queued messages; ``None`` when there is none. For waits and diagnostics."""
    try:
        return page.evaluate(_PAGE_KERNEL_JS)
    except Exception as exc:  # a closed or crashed page
        return {"error": str(exc)}


def _wait_page_kernel_settled(page, kid: str | None, timeout: float) -> None:
    """Wait until the page's kernel connection is connected to ``kid``, neither restarting
    nor unknown, with no dialog up, on two polls 0.25 s apart."""
    streak = {"n": 0}

    def settled() -> bool:
        _accept_dialogs(page)  # "Kernel Restarting" after an external restart
        state = page_kernel_state(page) or {}
        ok = (
            not page.locator(DIALOG).count()
            and state.get("connection") == "connected"
            and state.get("status") in ("starting", "idle", "busy")
            and (kid is None or state.get("id") == kid)
        )
        streak["n"] = streak["n"] + 1 if ok else 0
        return streak["n"] >= 2

    try:
        wait_for(settled, timeout=timeout, interval=0.25, message="page's kernel settled")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the page's kernel: {page_kernel_state(page)}") from None


_WATCH_STATUS_JS = """
(el) => {
  if (el.__harnessStatusObserver) el.__harnessStatusObserver.disconnect();
  el.__harnessStatuses = [];
  const obs = new MutationObserver(() => {
    el.__harnessStatuses.push(el.getAttribute('data-status'));
  });
  obs.observe(el, {attributes: true, attributeFilter: ['data-status']});
  el.__harnessStatusObserver = obs;
}
"""


def shutdown_kernel(page, via: Literal["ui", "api"] = "ui", timeout: float = 30.0) -> float:
    """Shut the notebook's kernel down; return seconds until the server has no such kernel."""
    nb = notebook_of(page)
    kid = current_kernel_id(page) or nb.kernel_id
    if nb.probe is not None:
        nb.probe.close()
        nb.probe = None
    start = time.monotonic()
    if via == "api":
        nb.server.api("DELETE", f"api/kernels/{kid}", timeout=timeout)
    elif via == "ui":
        _click_menu(page, "Kernel", "Shut Down Kernel")
    else:
        raise ValueError(f"via must be 'api' or 'ui', not {via!r}")

    def gone() -> bool:
        _accept_dialogs(page)  # some versions ask for confirmation
        return not any(k["id"] == kid for k in nb.server.kernels())

    wait_for(gone, timeout=timeout, message=f"kernel {kid} gone")
    return time.monotonic() - start


class KernelProbe:
    """A second client of a notebook's kernel, talking ZMQ through its connection file.

    Code runs in the same process and namespace as the notebook's cells. It queues
    behind a cell that is running (a kernel executes one request at a time).
    """

    def __init__(self, connection_file: Path, ready_timeout: float = 30.0, context: Any = None):
        """``context``: the ``zmq.Context`` to use (default: the process-wide instance)."""
        from jupyter_client import BlockingKernelClient

        self.connection_file = Path(connection_file)
        kwargs = {} if context is None else {"context": context}
        self.client = BlockingKernelClient(connection_file=str(self.connection_file), **kwargs)
        self.client.load_connection_file()
        self.client.start_channels()
        self._wait_ready(ready_timeout)
        self.last_stderr = ""

    def _wait_ready(self, timeout: float) -> None:
        """Until the kernel answers a kernel_info request (bounded by ``timeout``).

        Not jupyter_client's ``wait_for_ready``: after the reply it reads IOPub until
        0.2 s pass without a message, which never happens while a stream on the comm
        broadcasts its frames there (a probe then waited 26-250 s)."""
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self.client.kernel_info()
            left = deadline - time.monotonic()
            try:
                next(self._replies(self.client.get_shell_msg, msg_id, min(2.0, max(left, 0.1)), ""))
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the kernel did not answer within {timeout} s") from None

    def eval(self, code: str, timeout: float = 30.0) -> str:
        """Run ``code``; return the ``text/plain`` result, else the captured stdout.

        Raises :class:`KernelEvalError` with the traceback when the code raises, and
        :class:`TimeoutError` when no reply arrives within ``timeout``.
        """
        kc = self.client
        msg_id = kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        result: str | None = None
        stdout: list[str] = []
        stderr: list[str] = []
        error: dict | None = None
        late = f"kernel did not finish within {timeout} s: {code[:200]!r}"
        for msg in self._replies(kc.get_iopub_msg, msg_id, timeout, late):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_result":
                result = content["data"].get("text/plain", "")
            elif kind == "stream":
                (stdout if content.get("name") == "stdout" else stderr).append(content["text"])
            elif kind == "error":
                error = content
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        self.last_stderr = "".join(stderr)
        if error is not None:
            tb = _ANSI.sub("", "\n".join(error.get("traceback") or []))
            raise KernelEvalError(
                f"{error.get('ename')}: {error.get('evalue')}\n{tb}\n(code: {code[:500]!r})"
            )
        if result is not None:
            return result
        out = "".join(stdout)
        return out[:-1] if out.endswith("\n") else out

    __call__ = eval

    def query(self, expr: str, timeout: float = 20.0) -> str:
        """``expr`` evaluated as a silent user_expression; its text/plain.

        A silent request fires no pre_run_cell/post_run_cell hook (so it never counts as a
        cell re-run) and does not enter the history; it still queues behind a running cell.
        """
        kc = self.client
        msg_id = kc.execute(
            "", silent=True, store_history=False, user_expressions={"r": expr}, allow_stdin=False
        )
        late = f"no reply to a silent query within {timeout} s: {expr[:100]!r}"
        # replies to eval()'s requests, which it never reads, are skipped by _replies
        msg = next(self._replies(kc.get_shell_msg, msg_id, timeout, late))
        r = msg["content"].get("user_expressions", {}).get("r")
        if not r or r.get("status") != "ok":
            raise KernelEvalError(f"silent query failed: {msg['content']!r}")
        return r["data"]["text/plain"]

    @staticmethod
    def _replies(
        read: Callable[..., dict], msg_id: str, timeout: float, late: str
    ) -> Iterator[dict]:
        """Messages from ``read`` (a channel's get_*_msg) answering ``msg_id``, others
        skipped, until the caller stops; TimeoutError(``late``) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(late)
            try:
                msg = read(timeout=min(remaining, 1.0))
            except Exception:  # queue.Empty
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                yield msg

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()


def kernel_probe(page, timeout: float = 30.0) -> KernelProbe:
    """The (cached) :class:`KernelProbe` of the page's notebook's current kernel."""
    nb = notebook_of(page)
    kid = current_kernel_id(page)
    if kid is None:
        raise HarnessError(f"notebook {nb.path} has no kernel session")
    if nb.probe is not None and nb.probe.connection_file != nb.server.connection_file(kid):
        nb.probe.close()
        nb.probe = None
    if nb.probe is None:
        cf = nb.server.connection_file(kid)
        wait_for(cf.exists, timeout=timeout, message=f"connection file {cf}")
        nb.probe = KernelProbe(cf, ready_timeout=timeout)
    return nb.probe


def kernel_eval(page, code: str, timeout: float = 30.0) -> str:
    """Run ``code`` in the kernel of the notebook open in ``page``; see KernelProbe.eval."""
    return kernel_probe(page, timeout=timeout).eval(code, timeout=timeout)


def kernel_query(page, expr: str, timeout: float = 20.0) -> str:
    """``expr`` evaluated silently in the page's kernel; see KernelProbe.query."""
    return kernel_probe(page).query(expr, timeout=timeout)


# --------------------------------------------------------------------------- browser


def capture_context(browser, origin: str):
    """A Playwright context as a person's tab of ``origin``: camera and microphone granted,
    the counting init script (``counters.js``: live peers and tracks, independent of
    nbrtc), a 1280x900 viewport and a 30 s default timeout. Close it when done."""
    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["camera", "microphone"], origin=origin.rstrip("/"))
    context.add_init_script(path=str(COUNTERS_JS))
    context.set_default_timeout(30_000)
    return context


def crash_renderer(page) -> None:
    """Crash ``page``'s renderer as a tab crash does: no pagehide, no unload. A
    browser-initiated ``chrome://crash`` is a debug URL the renderer crashes itself on
    (CDP's Page.crash does the same, but its reply never comes and Playwright's sync
    send() hangs). Raises AssertionError when the renderer did not crash within 5 s."""
    crashed = threading.Event()
    page.on("crash", lambda _p: crashed.set())
    with contextlib.suppress(Exception):  # the navigation is aborted by the crash
        page.goto("chrome://crash", timeout=10_000)
    with contextlib.suppress(Exception):
        page.wait_for_event("crash", timeout=5_000)
    assert crashed.is_set(), "the renderer did not crash"


def counters(page) -> dict[str, int]:
    """The counting init script's snapshot: peersCreated/peersLive/tracksCreated/tracksLive."""
    return page.evaluate("() => window.__counters.snapshot()")


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a PNG of ``page`` as ``test-artifacts/<name>.png``; return its path."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    target = ARTIFACTS_DIR / (safe if safe.endswith(".png") else safe + ".png")
    page.screenshot(path=str(target), full_page=full_page)
    return target


def artifact_name(nodeid: str) -> str:
    """A file-name-safe stem for a pytest node id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None
