"""The widgets users make (re-exported from ``nbrtc``).

``base`` (``SignalingWidget``: what every widget with a protocol presence shares, and
the ports through which the manager and streams reach a widget), ``stream_widget``
(``StreamWidget``: the widgets with kernel peers, with the teaching controls),
``camera``, ``microphone``, ``video_view``, ``grid``, ``room`` (a mesh of browsers whose
signaling the kernel relays; ``room_members``: its members and their reports;
``room_refusals``: the words for the kernel-peer controls a room has not),
``device_pick`` (what the view's device picker may switch to), and ``kernel_owned``
(traits a page may not write).
"""
