"""The single source of nbrtc's version (pyproject reads it; the JS bundle is checked against it)."""

__version__ = "0.1.0"
