"""Signaling: the kernel's one router and every stream's life.

``manager`` (the router: validates each page message and dispatches it by stream id,
tombstones, cell-rerun hooks, shutdown), ``stream`` (one kernel peer per browser peer:
offer/answer, candidates, liveness, teardown), ``protocol`` (the message envelope and its
bounds), ``candidate`` (the one ICE candidate parser), ``renegotiate`` (mid-stream
offers), ``owner`` (the typed seams between a stream, the manager and a widget).
Nothing here imports a widget: widgets reach this layer through ``owner``.
"""
