"""First nbrtc run in the real browser (temporary smoke; the full suite follows)."""

from __future__ import annotations

import json

from . import _harness as h


def test_quickstart_smoke(page, jupyter_server, kernel_eval):
    cells = [
        "import nbrtc\nview = nbrtc.VideoView()\nview",
        "cam = nbrtc.Camera()\ncam",
        "import json\nframe = cam.snapshot(timeout=15)\nprint(json.dumps([frame.shape, str(frame.dtype)]))",
    ]
    path = h.write_notebook(jupyter_server, "smoke.ipynb", cells)
    h.open_notebook(page, jupyter_server, path)
    h.run_cell(page, 0)
    h.run_cell(page, 1)
    h.wait_for(lambda: page.locator('.nbrtc-root[data-state="live"]').count() == 2, 20, message="two live views")
    h.run_cell(page, 2)
    out = h.cell_output_text(page, 2)
    print(out, h.counters(page))
    assert json.loads(out) == [[480, 640, 3], "uint8"]
    h.screenshot(page, "smoke")
    print(kernel_eval("nbrtc.manager().streams()"))
    kernel_eval("cam.close(); view.close()")
    h.wait_for(lambda: h.counters(page)["peersLive"] == 0 and h.counters(page)["tracksLive"] == 0, 5)
