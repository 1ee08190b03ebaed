"""Media servers: nbrtc's clients of SFUs that carry media for it (Janus Gateway).

``janus_api`` is the asyncio client of Janus's API (sessions, handles, transactions,
keep-alives, events), running on nbrtc's media loop like every aiortc object;
``janus_words`` turns Janus's error codes into sentences; ``janus`` is the public front
door, ``nbrtc.Janus``. Nothing here imports a widget: widgets built on a server import
this layer, never the reverse.
"""
