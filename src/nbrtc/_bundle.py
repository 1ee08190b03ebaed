"""The front-end bundles, as anywidget's ``_esm`` wants them.

anywidget accepts a path for ``_esm``, but then connects every new widget instance to the
file's change signal with a strong reference (anywidget 0.9 ``AnyWidget.__init__``:
``value.changed.connect(lambda new_contents: setattr(self, key, new_contents))``), so no
widget made from a path-based class is ever freed: each closed Camera kept its history,
stats and frames for the life of the kernel (about 0.16 MiB per open/close cycle in
``benchmarks/run.py``). Given the bundle's text instead, anywidget connects nothing.
With ``ANYWIDGET_HMR=1`` (front-end development: reload the bundle on change) the path
is given, leak and all.
"""

from __future__ import annotations

import os
import pathlib

STATIC = pathlib.Path(__file__).parent / "static"


def esm(name: str) -> str | pathlib.Path:
    """``static/<name>``'s text (or its path under ANYWIDGET_HMR=1); a clear error when
    the bundle was never built."""
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"nbrtc's front-end bundle {path} is missing: build it with `npm run build` "
            "(or `pip install .`, which builds it)"
        )
    if os.environ.get("ANYWIDGET_HMR") == "1":
        return path
    text = path.read_text(encoding="utf-8")
    # anywidget takes a one-line string ending in .js for a path; a bundle has lines
    return text if "\n" in text else text + "\n"
