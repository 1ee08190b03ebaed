"""Media: frames in and out of Python, whatever transport carried them.

``frames`` (newest-frame-wins delivery, numpy conversion), ``process`` (a user function
on every frame, on a worker thread), ``recorder``, ``fanout`` (one source to many
peers), ``audio``, ``receiver`` (a kernel peer's incoming tracks), ``pattern`` (the
synthetic source), ``worker`` (threads for user code). Public sources live in
``nbrtc.sources``.
"""
