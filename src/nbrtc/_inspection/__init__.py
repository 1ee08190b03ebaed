"""Inspection and teaching: look inside a connection and explain it.

SDP (``sdp`` front door over ``sdp_lines``/``sdp_parse``/``sdp_words*``/``sdp_diff``),
``stats``, ``netem`` (simulated network conditions), ``history`` (the signaling
timeline), ``controls`` (the teaching methods of peer widgets), the ``inspector`` widget
and the connectivity ``doctor`` (``doctor_*``).
"""
