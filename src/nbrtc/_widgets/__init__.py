"""The widgets users import (re-exported from ``nbrtc``).

``stream_widget`` (the base of every widget with kernel peers), ``camera``,
``microphone``, ``video_view``, ``grid``, ``room`` (a mesh of browsers relayed by the
kernel), ``kernel_owned`` (traits a page may not write).
"""
