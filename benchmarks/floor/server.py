"""The floor: a minimal aiortc peer behind aiohttp, with no nbrtc at all.

Serves ``page.html`` and takes one non-trickle offer per session at ``POST /offer``
(``{"id", "mode", "stamps", "sdp", "type"}``), like aiortc's ``examples/server``:

* ``mode="recv"``: a task pulls every frame of the browser's camera track and counts it.
* ``mode="echo"``: the camera track is sent straight back (an identity track whose
  ``recv()`` counts the frame and returns it), for the page to measure the round trip.
* ``mode="view"``: a ``w x h`` moving pattern at 30 fps is sent to a receive-only page.

With ``stamps`` every received frame's page-clock stamp is decoded (luma plane) and kept
with ``time.time()`` at receipt. ``GET /result?id=`` returns the session's counters
(``frames``, ``created_epoch``: the offer taken, ``answer_epoch``: the answer made,
``first_frame_epoch``) and the stamps collected since the last call; ``POST /close?id=``
closes it; ``GET /sessions`` lists the open ones. A page opened at ``/?auto=ID`` starts a
receive session on load. Run: ``python server.py --port P``; prints ``READY <port> <pid>``
when listening. It runs in its own process so that its CPU time is the floor's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stamp import stamp_of

HERE = Path(__file__).resolve().parent


class Session:
    """One peer connection and what it received."""

    def __init__(self, sid: str, mode: str, stamps: bool) -> None:
        self.id = sid
        self.mode = mode
        self.want_stamps = stamps
        self.created_epoch = time.time()  # before the pc, as nbrtc's stream is made first
        self.pc = RTCPeerConnection()
        self.answer_epoch: float | None = None  # the answer made, as it leaves in the reply
        self.first_frame_epoch: float | None = None
        self.frames = 0
        self.stamps: list[tuple[float, int]] = []
        self.task: asyncio.Task[None] | None = None

    def got(self, frame: Any) -> None:
        now = time.time()
        self.frames += 1
        if self.first_frame_epoch is None:
            self.first_frame_epoch = now
        if self.want_stamps:
            self.stamps.append((now * 1000, stamp_of(frame.to_ndarray(format="gray"))))


class EchoTrack(MediaStreamTrack):
    """Returns every frame of the browser's track unchanged (counted on the way)."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, session: Session) -> None:
        super().__init__()
        self.source = source
        self.session = session

    async def recv(self) -> Any:
        frame = await self.source.recv()
        self.session.got(frame)
        return frame


class PatternTrack(VideoStreamTrack):
    """30 fps of moving vertical bars, ``w x h`` (30 frames made once, then cycled)."""

    def __init__(self, w: int, h: int) -> None:
        super().__init__()
        x = np.arange(w, dtype=np.int32)
        self.frames = []
        for k in range(30):
            row = ((x + k * w // 30) * 255 // w).astype(np.uint8)
            rgb = np.stack(
                [np.tile(row, (h, 1)), np.full((h, w), 128, np.uint8), np.tile(row[::-1], (h, 1))],
                axis=2,
            )
            self.frames.append(
                VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            )
        self.n = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self.frames[self.n % len(self.frames)]  # reused: only pts changes
        self.n += 1
        frame.pts = pts
        frame.time_base = time_base or fractions.Fraction(1, 90000)
        return frame


sessions: dict[str, Session] = {}


async def consume(track: MediaStreamTrack, session: Session) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        session.got(frame)


async def offer(request: web.Request) -> web.Response:
    params = await request.json()
    s = Session(params["id"], params["mode"], bool(params.get("stamps")))
    sessions[s.id] = s

    @s.pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind != "video":
            return
        if s.mode == "echo":
            s.pc.addTrack(EchoTrack(track, s))
        else:
            s.task = asyncio.ensure_future(consume(track, s))

    if s.mode == "view":
        s.pc.addTrack(PatternTrack(int(params["w"]), int(params["h"])))
    await s.pc.setRemoteDescription(RTCSessionDescription(sdp=params["sdp"], type=params["type"]))
    await s.pc.setLocalDescription(await s.pc.createAnswer())
    d = s.pc.localDescription
    s.answer_epoch = time.time()
    return web.json_response({"sdp": d.sdp, "type": d.type})


async def result(request: web.Request) -> web.Response:
    s = sessions[request.query["id"]]
    stamps, s.stamps = s.stamps, []
    return web.json_response(
        {
            "frames": s.frames,
            "created_epoch": s.created_epoch,
            "answer_epoch": s.answer_epoch,
            "first_frame_epoch": s.first_frame_epoch,
            "stamps": stamps,
            "state": s.pc.connectionState,
        }
    )


async def open_sessions(_request: web.Request) -> web.Response:
    return web.json_response({"open": sorted(sessions)})


async def close(request: web.Request) -> web.Response:
    s = sessions.pop(request.query["id"], None)
    if s is not None:
        if s.task is not None:
            s.task.cancel()
        await s.pc.close()
    return web.json_response({"closed": s is not None, "open": len(sessions)})


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "page.html")


async def on_shutdown(_app: web.Application) -> None:
    await asyncio.gather(*(s.pc.close() for s in sessions.values()))
    sessions.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    app = web.Application()
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", index)
    app.router.add_post("/offer", offer)
    app.router.add_get("/result", result)
    app.router.add_post("/close", close)
    app.router.add_get("/sessions", open_sessions)

    async def ready(_app: web.Application) -> None:
        print(f"READY {args.port}", flush=True)

    app.on_startup.append(ready)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
