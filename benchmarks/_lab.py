"""The benchmarks' door into the shared real-browser lab, ``tests/lab``.

The benchmarks run in the stack the end-to-end tests drive and reuse its tools rather
than copy them: the JupyterLab + Debian Chromium harness (``tests/lab/jupyter.py``,
which knows nothing of nbrtc), the notebook-video helpers (``tests/lab/video.py``) and
the network namespaces lab (``tests/lab/netlab.py``): a public package of the repo's
test tree, meant for both (not a test's private helper). Every benchmark module reaches
it through here, under its ``tests.lab`` name, so each module is imported once (two
names for one module would give two registries of open notebooks).

``netlab()`` imports the network lab on first use: only ``comm.py --cap`` and
``net_paths.py`` need it (root, namespaces, nftables).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `tests` is a namespace package at the repository root
    sys.path.insert(0, str(REPO))

from tests.lab import jupyter as harness  # noqa: E402
from tests.lab import video as video  # noqa: E402

__all__ = ["REPO", "harness", "netlab", "video"]


def netlab() -> ModuleType:
    """``tests/lab/netlab.py``, imported on first use (the network scenarios only)."""
    return importlib.import_module("tests.lab.netlab")
