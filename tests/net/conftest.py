"""Fixtures for tests/net: JupyterLab, the kernel and coturn in a "server" network
namespace, Debian Chromium in a "client" namespace, nftables scenarios in between.

Module-scoped (one of each per test module, created and removed by it):

* ``lab``: the :class:`~lab.netlab.NetLab` (two namespaces, a veth pair, 192.0.2.1/.2).
* ``egress``: a :class:`~lab.netlab.Firewall` table in the server namespace that counts and
  drops every packet to an address outside 192.0.2.0/24 and loopback, for the whole
  module (so nothing can leave the lab, and a test can read what tried to).
* ``coturn``: a :class:`~lab.netlab.Coturn` on 192.0.2.1:3478 (user ``u``, password ``p``).
* ``in_server_ns``: the test process's main thread lives in the server namespace while
  the module runs, so the harness's REST calls and kernel probes (ZMQ on the server
  namespace's 127.0.0.1) reach Jupyter and the kernel.
* ``net_server``: ``jupyter lab`` started through ``ip netns exec`` on 192.0.2.1.
* ``net_browser``: Debian Chromium in the client namespace (Playwright launches a wrapper
  script that execs it there).

Per test: ``page`` (a fresh context with camera/microphone granted and the counting init
script), ``kernel_eval``, ``scenario`` (a Firewall in the server namespace, removed after
the test) and ``open_nb`` (write + open a notebook; its kernel probe uses the module's
zmq context).

Skipped, saying why, when not root or when ``ip netns`` is unavailable. Missing nft or
turnserver is an error: scripts/setup.sh installs them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab import jupyter as h
from lab import netlab as nl

NET_DIR = Path(__file__).resolve().parent


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


@pytest.fixture(scope="module")
def lab() -> Iterator[nl.NetLab]:
    reason = nl.unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = nl.missing_tools()
    if missing:
        pytest.fail(f"missing {missing}: run scripts/setup.sh (apt: nftables coturn)")
    if not h.chromium_available():
        pytest.fail(f"Debian Chromium not found at {h.CHROMIUM}; run scripts/setup.sh")
    with nl.NetLab() as net:
        yield net


@pytest.fixture(scope="module")
def egress(lab) -> Iterator[nl.Firewall]:
    with nl.Firewall(lab, lab.server, "nbrtc_egress").egress_counter() as fw:
        yield fw


@pytest.fixture(scope="module")
def coturn(lab, tmp_path_factory) -> Iterator[nl.Coturn]:
    turn = nl.Coturn(lab, tmp_path_factory.mktemp("coturn"))
    turn.start()
    try:
        yield turn
    finally:
        turn.stop()
        h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            (h.ARTIFACTS_DIR / "net-turnserver.log").write_bytes(turn.log_path.read_bytes())


@pytest.fixture(scope="module")
def in_server_ns(lab) -> Iterator[None]:
    with lab.enter(lab.server):
        yield


@pytest.fixture(scope="module")
def zmq_context(in_server_ns):
    """A zmq context made inside the server namespace (its I/O threads stay there)."""
    import zmq

    ctx = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.destroy(linger=0)


@pytest.fixture(scope="module")
def net_server(lab, egress, in_server_ns, tmp_path_factory) -> Iterator[h.JupyterServer]:
    server = h.start_jupyter_server(
        tmp_path_factory.mktemp("jupyter-net"),
        h.ARTIFACTS_DIR / "net-jupyter-server.log",
        ip=lab.server_ip,
        command_prefix=lab.prefix(lab.server),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def net_browser(lab, net_server, in_server_ns, tmp_path_factory):
    """Chromium in the client namespace. The notebook's origin, http://192.0.2.1:PORT, is
    not a secure context (only localhost and https are), so Chromium would offer no
    camera there (and refuses to grant the permission): it is declared secure with
    ``--unsafely-treat-insecure-origin-as-secure``, as an https JupyterHub would be."""
    from playwright.sync_api import sync_playwright

    wrapper = nl.chromium_wrapper(lab, tmp_path_factory.mktemp("chromium"), h.CHROMIUM)
    origin = net_server.url.rstrip("/")
    args = [*h.CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(wrapper), headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(net_browser, net_server, request):
    context = h.capture_context(net_browser, net_server.url)
    pg = context.new_page()
    console: list[str] = []
    t0 = time.monotonic()
    pg.on("console", lambda m: console.append(f"{time.monotonic() - t0:8.3f} [{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"{time.monotonic() - t0:8.3f} [pageerror] {e}"))
    pg.console_messages = console
    try:
        yield pg
    finally:
        stem = "net-" + h.artifact_name(request.node.nodeid)
        if _failed(request) or os.environ.get("NBRTC_KEEP_CONSOLE"):
            h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            (h.ARTIFACTS_DIR / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
            if _failed(request):
                with contextlib.suppress(Exception):
                    h.screenshot(pg, f"{stem}.failure")
        h.forget_page(pg)
        context.close()
        net_server.shutdown_sessions()


@pytest.fixture
def open_nb(page, net_server, zmq_context) -> Callable[[str, list[str]], str]:
    """``open_nb(name, cells) -> path``: write the notebook, open it in ``page`` and give
    it a kernel probe on the module's zmq context. The file is removed afterwards."""
    written: list[str] = []

    def open_(name: str, cells: list[str]) -> str:
        path = h.write_notebook(net_server, name, cells)
        written.append(path)
        nb = h.open_notebook(page, net_server, path)
        cf = net_server.connection_file(nb.kernel_id)
        h.wait_for(cf.exists, timeout=30, message=f"connection file {cf}")
        nb.probe = h.KernelProbe(cf, context=zmq_context)
        return path

    yield open_
    for path in written:
        with contextlib.suppress(OSError):
            (net_server.root_dir / path).unlink()


@pytest.fixture
def kernel_eval(page) -> Callable[..., str]:
    def run(code: str, timeout: float = 30.0) -> str:
        return h.kernel_eval(page, code, timeout=timeout)

    return run


@pytest.fixture
def scenario(lab) -> Iterator[nl.Firewall]:
    """An empty scenario table in the server namespace; removed after the test."""
    with nl.Firewall(lab, lab.server, "nbrtc_scenario") as fw:
        yield fw
