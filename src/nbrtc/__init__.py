"""nbrtc: Jupyter widgets for live media over WebRTC.

import nbrtc
cam = nbrtc.Camera()          # browser camera -> kernel, previewed in the cell
nbrtc.VideoView()             # kernel -> browser, a synthetic test pattern by default
nbrtc.manager().streams()     # every live stream of this kernel
nbrtc.Inspector(cam)          # a live look inside the connection (SDP, ICE, states, stats)
"""

from . import _upstream, sources
from ._config import Config, config
from ._inspection.controls import SDPView
from ._inspection.doctor import Doctor, doctor
from ._inspection.inspector import Inspector
from ._inspection.sdp import ParsedSDP
from ._media.audio import AudioArray
from ._media.frames import FrameIterator
from ._media.recorder import Recorder
from ._sfu.broadcast import Broadcast
from ._sfu.feed import JanusFeed
from ._sfu.janus import Janus
from ._signaling.manager import PeerManager, manager
from ._transport.channel import Channel
from ._transport.turn import TurnRestServer, turn
from ._version import __version__
from ._widgets.camera import Camera, ScreenShare
from ._widgets.grid import Grid
from ._widgets.microphone import Microphone
from ._widgets.room import Room
from ._widgets.video_view import AudioView, VideoView
from .errors import (
    CameraError,
    JanusError,
    NbrtcError,
    NotDisplayedError,
    StreamClosedError,
    StreamError,
    StreamTimeoutError,
)

# aiortc/aioice in their tested ranges, and every private internal nbrtc uses present:
# ImportError in words otherwise (or a warning for a feature that degrades), now rather
# than a puzzling failure in the middle of a stream.
_upstream.check()

__all__ = [
    "AudioArray",
    "AudioView",
    "Broadcast",
    "Camera",
    "CameraError",
    "Channel",
    "Config",
    "Doctor",
    "FrameIterator",
    "Grid",
    "Inspector",
    "Janus",
    "JanusError",
    "JanusFeed",
    "Microphone",
    "NbrtcError",
    "NotDisplayedError",
    "ParsedSDP",
    "PeerManager",
    "Recorder",
    "Room",
    "SDPView",
    "ScreenShare",
    "StreamClosedError",
    "StreamError",
    "StreamTimeoutError",
    "TurnRestServer",
    "VideoView",
    "__version__",
    "config",
    "doctor",
    "manager",
    "sources",
    "turn",
]
