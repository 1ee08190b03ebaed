"""Fixtures for end-to-end tests: JupyterLab + Debian Chromium driven by Playwright.

Every test under tests/e2e is marked ``e2e``. Fixtures:

* ``jupyter_server`` (session): a ``jupyter lab`` on a free port with isolated config,
  runtime and workspaces; log in ``test-artifacts/jupyter-server.log``.
* ``browser`` (session): headless Debian Chromium with fake camera and microphone.
* ``page`` (function): a JupyterLab tab (camera+microphone granted, 1280x900, the
  counting init script ``counters.js``): the one the previous test handed over when
  nothing of that test can reach this one (its notebooks closed, nothing live, no init
  script added, no failure; see ``_refuse_reuse``), else a fresh context. Console saved to
  test-artifacts on failure, the kernels of notebooks it opened shut down afterwards.
* ``kernel_eval`` (function): ``kernel_eval(code, timeout=30) -> str`` in the kernel of
  the notebook open in ``page``.
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from lab import jupyter as h

E2E_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_e2e(item) -> bool:
    return str(item.path).startswith(E2E_DIR + os.sep)


def pytest_collection_modifyitems(config, items):
    """Mark e2e tests, and run them after all others.

    Playwright's sync API leaves an asyncio loop marked as running in the main thread
    while the session-scoped browser lives, so ``asyncio.run()`` in a later non-e2e test
    would fail ("cannot be called from a running event loop"). Running e2e last (and
    cheap tests first) avoids that.
    """
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)
    items[:] = [i for i in items if not _is_e2e(i)] + [i for i in items if _is_e2e(i)]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("jupyter")
    server = h.start_jupyter_server(base, h.ARTIFACTS_DIR / "jupyter-server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    if not h.chromium_available():
        msg = f"Debian Chromium not found at {h.CHROMIUM}; run scripts/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=h.CHROMIUM, headless=True, args=h.CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


#: A reused page is let go after this many tests: what a renderer accumulates (heap,
#: evaluated widget modules) stays bounded.
MAX_USES = 20
#: NBRTC_E2E_FRESH_PAGE=1 gives every test a fresh page (to rule the reuse out).
FRESH_PAGES = os.environ.get("NBRTC_E2E_FRESH_PAGE") == "1"

_CLOSE_NOTEBOOKS_JS = """
() => { for (const w of Array.from(window.jupyterapp.shell.widgets('main'))) w.dispose(); }
"""


@pytest.fixture(scope="session")
def _spare_tab():
    """The booted JupyterLab page the last test handed over: {"context", "page", "uses"}."""
    spare: dict = {"context": None, "page": None, "uses": 0, "fresh": 0, "reused": 0, "why": {}}
    try:
        yield spare
    finally:
        # how often a test got a booted page, and why the others did not (for the record)
        summary = {k: spare[k] for k in ("fresh", "reused", "why")}
        h.record_figure(h.ARTIFACTS_DIR / "e2e-pages.json", "pages", summary)
        if spare["context"] is not None:
            with contextlib.suppress(Exception):
                spare["context"].close()


def _new_tab(browser, jupyter_server):
    """A fresh context and page (h.capture_context) whose console lines go to the list
    ``page.console_messages`` of the test holding it, and whose ``add_init_script`` marks
    it single-use (an init script runs in every later document of the page)."""
    context = h.capture_context(browser, jupyter_server.url)
    pg = context.new_page()

    def line(text: str) -> None:
        pg.console_messages.append(f"{time.monotonic() - pg.console_t0:8.3f} {text}")

    pg.on("console", lambda m: line(f"[{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: line(f"[pageerror] {e}"))
    pg.on("crash", lambda _p: line("[crash] page crashed"))
    native_add_init_script = pg.add_init_script

    def add_init_script(*args, **kwargs):
        h.single_use(pg, "the test added an init script")
        return native_add_init_script(*args, **kwargs)

    pg.add_init_script = add_init_script
    pg._harness_native_add_init_script = native_add_init_script  # h.add_observer_script
    return context, pg


def _refuse_reuse(pg, context, jupyter_server, request, uses: int) -> str | None:
    """Why ``pg`` may not go to the next test, or None once it is ready to: the test's
    notebooks are closed (their views removed, so nbrtc closes their streams), nothing is
    live in the page's counters (then reset), no dialog is open."""
    if FRESH_PAGES:
        return "NBRTC_E2E_FRESH_PAGE=1"
    if _failed(request):
        return "the test failed"
    if uses >= MAX_USES:
        return f"used by {uses} tests"
    why = h.single_use_reason(pg)
    if why:
        return why
    if pg.is_closed() or len(context.pages) != 1:
        return "the test closed it or left other tabs open"
    if not h.lab_booted_for(pg, jupyter_server):
        return "not the JupyterLab the harness booted (navigated, reloaded or crashed)"
    try:
        pg.evaluate(_CLOSE_NOTEBOOKS_JS)

        def quiet() -> bool:
            c = h.counters(pg)
            return c["peersLive"] == 0 and c["tracksLive"] == 0

        h.wait_for(quiet, timeout=5, message="nothing live once the notebooks closed")
        if pg.locator(h.DIALOG).count():
            return "a dialog is open"
        if not pg.evaluate("() => window.__counters.reset()"):
            return "the counters refused to reset"
    except Exception as exc:  # a page that cannot answer is not handed on
        return f"not ready for another test: {exc}"
    return None


@pytest.fixture
def page(browser, jupyter_server, request, _spare_tab):
    """A JupyterLab tab for one test: the page the previous test handed over (its notebooks
    closed, nothing live, counters at zero; the first ``open_notebook`` opens in it), else
    a fresh one. Console lines in ``page.console_messages``, saved on failure."""
    spare = _spare_tab
    if spare["page"] is not None:
        context, pg = spare["context"], spare["page"]
        spare["context"] = spare["page"] = None
        h.allow_open_in_app(pg)
        spare["reused"] += 1
    else:
        context, pg = _new_tab(browser, jupyter_server)
        spare["uses"] = 0
        spare["fresh"] += 1
    spare["uses"] += 1
    pg.console_messages = []  # tests may inspect it
    pg.console_t0 = time.monotonic()
    try:
        yield pg
    finally:
        console = pg.console_messages
        stem = h.artifact_name(request.node.nodeid)
        if _failed(request) or os.environ.get("NBRTC_KEEP_CONSOLE"):
            h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            (h.ARTIFACTS_DIR / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
            if _failed(request):
                with contextlib.suppress(Exception):
                    h.screenshot(pg, f"{stem}.failure")
        h.forget_page(pg)
        refused = _refuse_reuse(pg, context, jupyter_server, request, spare["uses"])
        if refused is None:
            spare["context"], spare["page"] = context, pg
        else:
            spare["why"][refused] = spare["why"].get(refused, 0) + 1
            context.close()
        # Tests run one at a time: end every session and kernel this test started, so
        # the next test starts from a quiet server.
        jupyter_server.shutdown_sessions()


@pytest.fixture
def kernel_eval(page):
    """``kernel_eval(code, timeout=30) -> str`` in the kernel of the page's notebook."""

    def run(code: str, timeout: float = 30.0) -> str:
        return h.kernel_eval(page, code, timeout=timeout)

    return run
