"""Transport: how a stream's media and messages travel once signaling set it up.

ICE (``ice``: RTC configuration, TURN servers, policies; ``ice_restart``; ``turn``:
short-lived TURN credentials), recovery (``reconnect``: ICE restarts and fresh peers;
``rtp_recovery``: keyframe on resume), the comm fallback when no WebRTC path exists
(``comm_media`` video, ``comm_audio`` sound) and data channels (``channel``).
"""
