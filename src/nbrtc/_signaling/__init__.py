"""Signaling: the kernel's one router and every stream's life.

``manager`` (the router: validates each page message and dispatches it to the widget's
registered handler or by stream id, cell-rerun hooks, shutdown), ``stream`` (one kernel
peer per browser peer: negotiation, media, teardown; built from ``stream_core`` and
its parts ``stream_ice``, ``stream_comm``, ``stream_inspect``; ``stream_words``),
``liveness`` (the one watchdog that pings a page and judges its silence, for streams and
room members alike),
``tombstones`` (the one bounded record of ended ids, for the manager and rooms),
``protocol`` (the message envelope and its bounds), ``candidate`` (the one ICE candidate
parser), ``renegotiate`` (mid-stream offers), ``owner`` (the typed seams between a
stream, the manager and a widget's port). Nothing here imports a widget: widgets reach
this layer through ``owner``'s Protocols, implemented by their ports.
"""
