"""nbrtc's version: pyproject reads it; the JS build checks package.json against it."""

__version__ = "0.1.0"
