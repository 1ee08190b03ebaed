"""Media: frames in and out of Python, whatever transport carried them.

``frames`` (newest-frame-wins delivery, numpy conversion), ``process`` (a user function
on every frame, on a worker thread), the recorder (``recorder``: the public ``Recorder``;
``recording_formats``, ``recording_writer``: encode and mux; ``recording_file``: the
file a failing disk is written to), ``fanout`` (one source to many peers), ``audio``,
``receiver`` (a kernel peer's incoming tracks), ``file_track`` (a file or URL decoded
as a source), ``pattern`` (the synthetic source), ``video_clock``, ``worker`` (threads for
user code). The public sources are ``nbrtc.sources``.
"""
