"""Fixtures for end-to-end tests: JupyterLab + Debian Chromium driven by Playwright.

Every test under tests/e2e is marked ``e2e``. Fixtures:

* ``jupyter_server`` (session): a ``jupyter lab`` on a free port with isolated config,
  runtime and workspaces; log in ``test-artifacts/jupyter-server.log``.
* ``browser`` (session): headless Debian Chromium with fake camera and microphone.
* ``page`` (function): a fresh context (camera+microphone granted, 1280x900, the
  counting init script ``counters.js``); console saved to test-artifacts on failure,
  the kernels of notebooks it opened shut down afterwards.
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


@pytest.fixture
def page(browser, jupyter_server, request):
    context = h.capture_context(browser, jupyter_server.url)
    pg = context.new_page()
    console: list[str] = []
    t0 = time.monotonic()

    def stamp() -> str:
        return f"{time.monotonic() - t0:8.3f}"

    pg.on("console", lambda m: console.append(f"{stamp()} [{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"{stamp()} [pageerror] {e}"))
    pg.on("crash", lambda _p: console.append(f"{stamp()} [crash] page crashed"))
    pg.console_messages = console  # tests may inspect it
    try:
        yield pg
    finally:
        stem = h.artifact_name(request.node.nodeid)
        if _failed(request) or os.environ.get("NBRTC_KEEP_CONSOLE"):
            h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            (h.ARTIFACTS_DIR / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
            if _failed(request):
                with contextlib.suppress(Exception):
                    h.screenshot(pg, f"{stem}.failure")
        h.forget_page(pg)
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
