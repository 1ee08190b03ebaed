"""Unit tests: pure functions and objects, with no aiortc peer, event loop or network.

What needs a peer or a loop (a fake browser page, loopback media, the recorder's
encoder thread) lives in tests/kernel; a real browser in tests/e2e; real networks in
tests/net. ``conftest.py`` here fails a test that breaks the rule.
"""
