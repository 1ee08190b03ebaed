"""nbrtc: Jupyter widgets for live media over WebRTC.

import nbrtc
cam = nbrtc.Camera()          # browser camera -> kernel, previewed in the cell
nbrtc.VideoView()             # kernel -> browser, a synthetic test pattern by default
nbrtc.manager().streams()     # every live stream of this kernel
nbrtc.Inspector(cam)          # a live look inside the connection (SDP, ICE, states, stats)
"""

from . import _upstream, sources
from ._audio import AudioArray
from ._config import Config, config
from ._doctor import Doctor, doctor
from ._manager import PeerManager, manager
from ._recorder import Recorder
from ._sdp import ParsedSDP
from ._teaching import SDPView
from ._turn import TurnRestServer, turn
from ._version import __version__
from .camera import Camera, ScreenShare
from .channel import Channel
from .errors import (
    CameraError,
    NbrtcError,
    NotDisplayedError,
    StreamClosedError,
    StreamError,
    StreamTimeoutError,
)
from .grid import Grid
from .inspector import Inspector
from .microphone import Microphone
from .room import Room
from .video_view import AudioView, VideoView

# aiortc/aioice in their tested ranges, and every private internal nbrtc uses present:
# ImportError in words otherwise (or a warning for a feature that degrades), now rather
# than a puzzling failure in the middle of a stream.
_upstream.check()

__all__ = [
    "AudioArray",
    "AudioView",
    "Camera",
    "CameraError",
    "Channel",
    "Config",
    "Doctor",
    "Grid",
    "Inspector",
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
