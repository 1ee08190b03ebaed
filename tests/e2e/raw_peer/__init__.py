"""A bare WebRTC peer for e2e tests that need aiortc without JupyterLab.

``RawPeer`` (``server.py``) serves ``page.html`` and answers the page's offers with one
aiortc peer connection, all on its own asyncio loop thread inside the pytest process, so a
test can inspect the aiortc/aioice objects directly.
"""
