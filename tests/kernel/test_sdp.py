"""nbrtc._inspection.sdp: parsing, explaining and comparing real offers and answers.

The SDP comes from aiortc (generated here, in one asyncio loop, without ICE servers so
nothing leaves the machine) and from a checked-in Chromium offer. Assertions are about
what a learner would notice in the Inspector: every line explained, the ICE password
never shown, codec tables right, and the answer's choices marked and summarised.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_to_sdp

from nbrtc._inspection.sdp import ParsedSDP, annotate, diff, parse, parse_candidate

CHROME_FINGERPRINT = (
    "6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"
    "DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"
)
DEPENDENCY_DESCRIPTOR = (
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
)
CHROME_PWD = "k3X9wVb7Jp2Lr8Tq1Ns6Hc4d"

# A Chrome 120+ style offer of an nbrtc camera: video sendrecv, audio sendonly and the
# control data channel, taken after gathering (mDNS host, srflx, TCP and relay candidates).
CHROME_OFFER = (
    "\r\n".join(
        [
            "v=0",
            "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1 2",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS 6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e",
            "m=video 54321 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 45 46 114"
            " 115 116",
            "c=IN IP4 203.0.113.7",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=candidate:1467250027 1 udp 2122260223 7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local"
            " 54321 typ host generation 0 network-id 1 network-cost 10",
            "a=candidate:842163049 1 udp 1686052607 203.0.113.7 54321 typ srflx raddr 0.0.0.0"
            " rport 0 generation 0 network-id 1 network-cost 10",
            "a=candidate:3127624913 1 tcp 1518280447 7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local 9"
            " typ host tcptype active generation 0 network-id 1 network-cost 10",
            "a=candidate:2999745851 1 udp 41885439 198.51.100.20 61542 typ relay raddr 203.0.113.7"
            " rport 54321 generation 0 network-id 1 network-cost 10",
            "a=ice-ufrag:Zq3F",
            "a=ice-pwd:k3X9wVb7Jp2Lr8Tq1Ns6Hc4d",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {CHROME_FINGERPRINT}",
            "a=setup:actpass",
            "a=mid:0",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 urn:3gpp:video-orientation",
            "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
            "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
            "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
            "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            f"a=extmap:12 {DEPENDENCY_DESCRIPTOR}",
            "a=extmap:13 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
            "a=sendrecv",
            "a=msid:6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e 0b5c1a7e-93f2-4d8a-8c61-5e2f4a9d7b30",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtpmap:96 VP8/90000",
            "a=rtcp-fb:96 goog-remb",
            "a=rtcp-fb:96 transport-cc",
            "a=rtcp-fb:96 ccm fir",
            "a=rtcp-fb:96 nack",
            "a=rtcp-fb:96 nack pli",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=96",
            "a=rtpmap:98 VP9/90000",
            "a=rtcp-fb:98 goog-remb",
            "a=rtcp-fb:98 transport-cc",
            "a=rtcp-fb:98 ccm fir",
            "a=rtcp-fb:98 nack",
            "a=rtcp-fb:98 nack pli",
            "a=fmtp:98 profile-id=0",
            "a=rtpmap:99 rtx/90000",
            "a=fmtp:99 apt=98",
            "a=rtpmap:100 VP9/90000",
            "a=rtcp-fb:100 goog-remb",
            "a=rtcp-fb:100 transport-cc",
            "a=rtcp-fb:100 ccm fir",
            "a=rtcp-fb:100 nack",
            "a=rtcp-fb:100 nack pli",
            "a=fmtp:100 profile-id=2",
            "a=rtpmap:101 rtx/90000",
            "a=fmtp:101 apt=100",
            "a=rtpmap:102 H264/90000",
            "a=rtcp-fb:102 goog-remb",
            "a=rtcp-fb:102 transport-cc",
            "a=rtcp-fb:102 ccm fir",
            "a=rtcp-fb:102 nack",
            "a=rtcp-fb:102 nack pli",
            "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
            "a=rtpmap:103 rtx/90000",
            "a=fmtp:103 apt=102",
            "a=rtpmap:104 H264/90000",
            "a=rtcp-fb:104 goog-remb",
            "a=rtcp-fb:104 transport-cc",
            "a=rtcp-fb:104 ccm fir",
            "a=rtcp-fb:104 nack",
            "a=rtcp-fb:104 nack pli",
            "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            "a=rtpmap:105 rtx/90000",
            "a=fmtp:105 apt=104",
            "a=rtpmap:106 H264/90000",
            "a=rtcp-fb:106 goog-remb",
            "a=rtcp-fb:106 transport-cc",
            "a=rtcp-fb:106 ccm fir",
            "a=rtcp-fb:106 nack",
            "a=rtcp-fb:106 nack pli",
            "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
            "a=rtpmap:107 rtx/90000",
            "a=fmtp:107 apt=106",
            "a=rtpmap:45 AV1/90000",
            "a=rtcp-fb:45 goog-remb",
            "a=rtcp-fb:45 transport-cc",
            "a=rtcp-fb:45 ccm fir",
            "a=rtcp-fb:45 nack",
            "a=rtcp-fb:45 nack pli",
            "a=fmtp:45 level-idx=5;profile=0;tier=0",
            "a=rtpmap:46 rtx/90000",
            "a=fmtp:46 apt=45",
            "a=rtpmap:114 red/90000",
            "a=rtpmap:115 rtx/90000",
            "a=fmtp:115 apt=114",
            "a=rtpmap:116 ulpfec/90000",
            "a=ssrc-group:FID 3061532480 1702343871",
            "a=ssrc:3061532480 cname:Qm3PZc5Lr9XvT2aB",
            "a=ssrc:3061532480 msid:6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e"
            " 0b5c1a7e-93f2-4d8a-8c61-5e2f4a9d7b30",
            "a=ssrc:1702343871 cname:Qm3PZc5Lr9XvT2aB",
            "a=ssrc:1702343871 msid:6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e"
            " 0b5c1a7e-93f2-4d8a-8c61-5e2f4a9d7b30",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:Zq3F",
            "a=ice-pwd:k3X9wVb7Jp2Lr8Tq1Ns6Hc4d",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {CHROME_FINGERPRINT}",
            "a=setup:actpass",
            "a=mid:1",
            "a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=sendonly",
            "a=msid:6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e 9a4e2c71-5b8d-4f06-b3a2-7c1d0e6f8a94",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtpmap:111 opus/48000/2",
            "a=rtcp-fb:111 transport-cc",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:63 red/48000/2",
            "a=fmtp:63 111/111",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:13 CN/8000",
            "a=rtpmap:110 telephone-event/48000",
            "a=rtpmap:126 telephone-event/8000",
            "a=ssrc:2741608155 cname:Qm3PZc5Lr9XvT2aB",
            "a=ssrc:2741608155 msid:6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e"
            " 9a4e2c71-5b8d-4f06-b3a2-7c1d0e6f8a94",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=ice-ufrag:Zq3F",
            "a=ice-pwd:k3X9wVb7Jp2Lr8Tq1Ns6Hc4d",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {CHROME_FINGERPRINT}",
            "a=setup:actpass",
            "a=mid:2",
            "a=sctp-port:5000",
            "a=max-message-size:262144",
        ]
    )
    + "\r\n"
)


def _pwd(sdp: str) -> str:
    m = re.search(r"^a=ice-pwd:(\S+)", sdp, re.M)
    assert m, "no ice-pwd in the SDP"
    return m.group(1)


def _without_candidates(sdp: str) -> str:
    """What a trickling browser sends (and keeps aiortc from resolving mDNS names)."""
    return "".join(ln for ln in sdp.splitlines(True) if not ln.startswith("a=candidate"))


async def _negotiate() -> dict[str, str]:
    config = RTCConfiguration(iceServers=[])
    pcs = [RTCPeerConnection(config) for _ in range(3)]
    try:
        offerer, answerer, kernel = pcs
        offerer.addTransceiver("video", direction="sendrecv")
        offerer.addTransceiver("audio", direction="sendrecv")
        offerer.createDataChannel("chat")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        for t in answerer.getTransceivers():
            t.direction = "recvonly" if t.kind == "video" else "sendrecv"
        await answerer.setLocalDescription(await answerer.createAnswer())

        chrome = RTCSessionDescription(sdp=_without_candidates(CHROME_OFFER), type="offer")
        await kernel.setRemoteDescription(chrome)
        await kernel.setLocalDescription(await kernel.createAnswer())
        return {
            "offer": offerer.localDescription.sdp,
            "answer": answerer.localDescription.sdp,
            "chrome_answer": kernel.localDescription.sdp,
        }
    finally:
        for pc in pcs:
            await pc.close()


@pytest.fixture(scope="module")
def sdps() -> dict[str, str]:
    return asyncio.run(_negotiate())


def _section(parsed: ParsedSDP, kind: str) -> dict[str, Any]:
    return next(m for m in parsed.media if m["kind"] == kind)


def _line_no(sdp: str, prefix: str) -> int:
    lines = re.split(r"\r\n|\n", sdp)
    return next(i for i, ln in enumerate(lines) if ln.startswith(prefix))


# ---------------------------------------------------------------------------
# parse()
# ---------------------------------------------------------------------------


def test_parse_aiortc_offer(sdps: dict[str, str]) -> None:
    p = parse(sdps["offer"], "offer")
    assert p.type == "offer" and p.text == sdps["offer"]
    assert [m["kind"] for m in p.media] == ["video", "audio", "application"]
    assert [m["mid"] for m in p.media] == ["0", "1", "2"]
    assert p.session["groups"] == [{"semantic": "BUNDLE", "mids": ["0", "1", "2"]}]
    assert p.session["origin"]["username"] == "-"
    video = _section(p, "video")
    assert video["proto"] == "UDP/TLS/RTP/SAVPF"
    assert all(isinstance(f, int) for f in video["formats"])
    assert video["direction"] == "sendrecv"
    assert video["rtcp_mux"] is True
    assert video["setup"] == "actpass"
    assert video["fingerprint"]["algorithm"] == "sha-256"
    assert len(video["fingerprint"]["value"].split(":")) == 32
    assert video["ice"]["pwd_length"] == len(_pwd(sdps["offer"]))
    assert video["ice"]["ufrag"]
    assert video["end_of_candidates"] is True
    vp8 = next(c for c in video["codecs"] if c["name"] == "VP8")
    rtx = next(c for c in video["codecs"] if c["rtx_for"] == vp8["pt"])
    assert rtx["name"] == "rtx" and rtx["fmtp"] == {"apt": str(vp8["pt"])}
    assert vp8["clock_rate"] == 90000 and "nack pli" in vp8["rtcp_fb"]
    fid = video["ssrc_groups"][0]
    assert fid["semantics"] == "FID" and len(fid["ssrcs"]) == 2
    assert {s["ssrc"] for s in video["ssrcs"]} == set(fid["ssrcs"])
    assert all("cname" in s["attributes"] for s in video["ssrcs"])
    data = _section(p, "application")
    assert data["formats"] == ["webrtc-datachannel"]
    assert data["sctp_port"] == 5000 and data["max_message_size"] == 262144
    assert data["direction"] is None and data["codecs"] == []
    # all candidates of all sections, each tagged with its section
    assert p.candidates and {c["mid"] for c in p.candidates} == {"0", "1", "2"}
    assert sum(len(m["candidates"]) for m in p.media) == len(p.candidates)


def test_parse_chrome_offer() -> None:
    p = parse(CHROME_OFFER)
    s = p.session
    assert s["extmap_allow_mixed"] is True and s["ice_lite"] is False
    assert s["msid_semantic"] == {
        "semantic": "WMS",
        "ids": ["6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e"],
    }
    assert s["origin"]["session_id"] == "4611731400430051336"
    video, audio, data = p.media
    assert video["formats"][:4] == [96, 97, 98, 99]
    by_pt = {c["pt"]: c for c in video["codecs"]}
    assert [c["pt"] for c in video["codecs"]] == video["formats"]
    assert by_pt[98]["name"] == "VP9" and by_pt[98]["fmtp"] == {"profile-id": "0"}
    assert by_pt[104]["fmtp"]["profile-level-id"] == "42e01f"
    assert by_pt[104]["fmtp_raw"].startswith("level-asymmetry-allowed=1;")
    assert by_pt[45]["name"] == "AV1" and by_pt[46]["rtx_for"] == 45
    assert by_pt[96]["rtcp_fb"] == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    assert by_pt[116]["name"] == "ulpfec" and by_pt[116]["rtx_for"] is None
    assert video["rtcp_rsize"] is True
    assert video["msid"] == {
        "stream": "6f1c8f0e-2d11-4b0b-9a4f-3b1f7a325c2e",
        "track": "0b5c1a7e-93f2-4d8a-8c61-5e2f4a9d7b30",
    }
    assert video["ssrc_groups"] == [{"semantics": "FID", "ssrcs": [3061532480, 1702343871]}]
    assert video["ssrcs"][0]["attributes"]["cname"] == "Qm3PZc5Lr9XvT2aB"
    assert video["ice"] == {"ufrag": "Zq3F", "pwd_length": len(CHROME_PWD), "options": ["trickle"]}
    ext = {e["id"]: e for e in video["extmap"]}
    assert ext[4]["uri"].endswith("transport-wide-cc-extensions-01")
    assert ext[12]["uri"] == DEPENDENCY_DESCRIPTOR and ext[12]["direction"] is None
    assert [c["type"] for c in video["candidates"]] == ["host", "srflx", "host", "relay"]
    assert audio["direction"] == "sendonly"
    opus = audio["codecs"][0]
    assert (opus["name"], opus["clock_rate"], opus["channels"]) == ("opus", 48000, 2)
    assert opus["fmtp"] == {"minptime": "10", "useinbandfec": "1"}
    assert [c["name"] for c in audio["codecs"]][2:5] == ["G722", "PCMU", "PCMA"]
    assert audio["candidates"] == [] and audio["end_of_candidates"] is False
    assert data["mid"] == "2" and data["port"] == 9
    assert repr(p).startswith("<ParsedSDP offer: video(mid 0, VP8/VP9/H264...)")
    assert "application(mid 2)" in repr(p)


def test_codec_table_is_dataframe_friendly(sdps: dict[str, str]) -> None:
    p = parse(CHROME_OFFER)
    rows = p.codecs()
    assert len(rows) == sum(len(m["codecs"]) for m in p.media)
    assert all(isinstance(v, (str, int, type(None))) for r in rows for v in r.values())
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(rows[0]))}  # same columns
    vp8 = next(r for r in rows if r["name"] == "VP8")
    assert vp8 == {
        "mid": "0",
        "mline_index": 0,
        "kind": "video",
        "direction": "sendrecv",
        "pt": 96,
        "name": "VP8",
        "clock_rate": 90000,
        "channels": None,
        "fmtp": None,
        "rtcp_fb": "goog-remb, transport-cc, ccm fir, nack, nack pli",
        "rtx_for": None,
    }
    rtx = next(r for r in rows if r["pt"] == 97)
    assert rtx["rtx_for"] == 96 and rtx["fmtp"] == "apt=96"
    assert [r["name"] for r in rows if r["mid"] == "1"][:2] == ["opus", "red"]
    answer_rows = parse(sdps["chrome_answer"], "answer").codecs()
    assert {r["name"] for r in answer_rows if r["kind"] == "video"} <= {"VP8", "H264", "rtx"}


def test_to_dict_is_json_and_has_no_password(sdps: dict[str, str]) -> None:
    for text in (CHROME_OFFER, sdps["offer"], sdps["answer"]):
        p = parse(text)
        d = p.to_dict()
        dumped = json.dumps(d)
        assert json.loads(dumped) == d
        assert _pwd(text) not in dumped
        assert _pwd(text) not in repr(p) and _pwd(text) not in str(p)
        assert _pwd(text) not in json.dumps(p.codecs())
        assert d["media"][0]["ice"]["pwd_length"] == len(_pwd(text))
        d["media"][0]["codecs"].clear()  # a copy: the parsed object is unchanged
        assert p.media[0]["codecs"]


def test_parse_is_robust_to_odd_but_readable_sdp() -> None:
    text = "\n".join(
        [
            "v=0",
            "o=alice 1 1 IN IP4 192.0.2.1",
            "s=Lecture",
            "",
            "t=0 0",
            "a=fingerprint:SHA-1 AA:BB",
            "a=ice-ufrag:sess",
            "a=ice-pwd:sessionsecretpassword",
            "a=x-made-up:42",
            "this line is not SDP",
            "m=audio 9 RTP/AVP 0 8 9 77",
            "b=AS:64",
            "b=TIAS:64000",
            "a=candidate:broken",
            "a=rtpmap:120 opus/48000/2",
            "m=video 0 RTP/AVP 31",
            "a=inactive",
            "m=application 9 DTLS/SCTP 5000",
            "a=sctpmap:5000 webrtc-datachannel 1024",
        ]
    )
    p = parse(text)
    assert p.session["name"] == "Lecture"
    assert p.session["fingerprint"] == {"algorithm": "sha-1", "value": "AA:BB"}
    assert p.session["other_attributes"] == [{"name": "x-made-up", "value": "42"}]
    audio, video, data = p.media
    assert audio["mid"] is None and audio["direction"] == "sendrecv"
    names = [(c["pt"], c["name"], c["clock_rate"], c["static"]) for c in audio["codecs"]]
    assert names == [
        (0, "PCMU", 8000, True),
        (8, "PCMA", 8000, True),
        (9, "G722", 8000, True),
        (77, None, None, False),
    ]
    assert audio["bandwidth"] == {"AS": 64, "TIAS": 64000}
    # session-level ICE and fingerprint apply to every section
    assert audio["ice"] == {"ufrag": "sess", "pwd_length": 21, "options": []}
    assert audio["fingerprint"]["algorithm"] == "sha-1"
    bad = [a for a in audio["other_attributes"] if a["name"] == "candidate"]
    assert bad and "not an ICE candidate" in bad[0]["error"]
    assert audio["candidates"] == []
    assert video["rejected"] is True and video["direction"] == "inactive"
    assert video["codecs"][0]["name"] == "H261"
    assert data["sctp_port"] == 5000 and data["formats"] == [5000]
    assert repr(p) == (
        "<ParsedSDP offer: audio(section 0, PCMU/PCMA/G722), "
        "video(section 1, H261, rejected), application(section 2)>"
    )
    assert "sessionsecretpassword" not in json.dumps(p.to_dict())
    lines = annotate(text)
    assert [ln["section"] for ln in lines][10:12] == ["m0", "m0"]
    assert lines[3]["key"] == "" and "empty line" in lines[3]["explain"]
    assert lines[9]["key"] == "?" and "not an sdp line" in lines[9]["explain"].lower()
    assert "does not explain" in lines[8]["explain"]
    assert "cannot be read" in lines[13]["explain"]
    assert "64 kbit/s" in lines[11]["explain"] and "64000 bit/s" in lines[12]["explain"]
    assert "not listed on the m= line" in lines[14]["explain"]
    assert "Port 0" in lines[15]["explain"]
    assert "sessionsecretpassword" not in json.dumps(lines)


def test_mangled_sdp_never_raises() -> None:
    """Deleted, cut and garbage lines: parse, annotate and diff still answer."""
    rnd = random.Random(7)
    base = CHROME_OFFER.rstrip("\r\n").split("\r\n")
    junk = [
        "",
        "=",
        "a=",
        "a=rtpmap:\u00b2 x",
        f"m=video {'9' * 5000} RTP/AVP 96",
        "a=fmtp:96 ;;=;profile-level-id=zz",
        "a=extmap:/ ",
        "a=ssrc-group:FID x",
        "m=application",
        "b=AS:lots",
        "a=candidate:1 1 udp 1 x 1 typ",
        "\x00\ufeff",
    ]
    for _ in range(150):
        lines = list(base)
        for _ in range(rnd.randint(1, 5)):
            k = rnd.randrange(1, len(lines))
            op = rnd.random()
            if op < 0.3:
                del lines[k]
            elif op < 0.6:
                lines.insert(k, rnd.choice(junk))
            else:
                lines[k] = lines[k][: rnd.randrange(len(lines[k]) + 1)]
        text = "\r\n".join(lines)
        n_lines = len(lines) - (lines[-1] == "")  # a final line ending adds no line
        parsed = parse(text)
        json.dumps(parsed.to_dict())
        assert repr(parsed).startswith("<ParsedSDP offer")
        assert len(annotate(text)) == n_lines
        d = diff(CHROME_OFFER, text)
        assert len(d["answer"]) == n_lines and d["summary"]
        assert CHROME_PWD not in json.dumps([d, annotate(text), parsed.to_dict()])


def test_line_endings_and_blank_lines_do_not_matter() -> None:
    crlf = CHROME_OFFER
    lf = crlf.replace("\r\n", "\n")
    assert parse(crlf).to_dict() == parse(lf).to_dict()
    assert parse(lf + "\n\n").to_dict() == parse(lf).to_dict()
    assert [a["explain"] for a in annotate(crlf)] == [a["explain"] for a in annotate(lf)]
    assert len(annotate(crlf)) == len(crlf.split("\r\n")) - 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   \r\n\r\n", "empty"),
        ("hello world", "starts with 'v=0'"),
        ("<html><body>502 Bad Gateway</body></html>", "starts with 'v=0'"),
        ('{"type": "offer", "sdp": "v=0..."}', "starts with 'v=0'"),
        ("v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\n", "only SDP version is 0"),
        ("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nv=0\r\n", "first line is 'm=video"),
    ],
)
def test_not_sdp_raises_a_clear_error(text: str, words: str) -> None:
    for call in (parse, annotate):
        with pytest.raises(ValueError, match="not SDP") as info:
            call(text)
        assert words in str(info.value)
    with pytest.raises(ValueError, match="the answer is not SDP"):
        diff(CHROME_OFFER, text)
    with pytest.raises(ValueError, match="the offer is not SDP"):
        diff(text, CHROME_OFFER)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="'offer' or 'answer'"):
        parse(CHROME_OFFER, "pranswer")
    with pytest.raises(ValueError, match="'offer' or 'answer'"):
        annotate(CHROME_OFFER, "Offer")
    with pytest.raises(TypeError, match="string"):
        parse(CHROME_OFFER.encode())  # type: ignore[arg-type]
    # a password on a garbage first line is not echoed back in the error
    with pytest.raises(ValueError) as info:
        parse("a=ice-pwd:topsecretvalue123\r\nv=0\r\n")
    assert "topsecretvalue123" not in str(info.value)


# ---------------------------------------------------------------------------
# parse_candidate()
# ---------------------------------------------------------------------------


def test_parse_candidate_mdns_host() -> None:
    c = parse_candidate(
        "candidate:1467250027 1 UDP 2122260223 7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local "
        "54321 typ host generation 0 ufrag Zq3F network-id 1 network-cost 10"
    )
    assert c == {
        "foundation": "1467250027",
        "component": 1,
        "protocol": "udp",
        "priority": 2122260223,
        "address": "7d1c9a0e-3f4b-4c1e-9a55-2b8f6e1d0c3a.local",
        "port": 54321,
        "type": "host",
        "related_address": None,
        "related_port": None,
        "tcptype": None,
        "generation": 0,
        "ufrag": "Zq3F",
        "network_id": 1,
        "network_cost": 10,
        "extensions": {},
    }


def test_parse_candidate_variants() -> None:
    srflx = parse_candidate(
        "a=candidate:842163049 1 udp 1686052607 203.0.113.7 61234 typ srflx "
        "raddr 192.168.1.20 rport 54321"
    )
    assert (srflx["type"], srflx["related_address"], srflx["related_port"]) == (
        "srflx",
        "192.168.1.20",
        54321,
    )
    assert srflx["generation"] is None and srflx["network_cost"] is None
    tcp = parse_candidate(
        "candidate:3127624913 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active"
    )
    assert (tcp["protocol"], tcp["tcptype"], tcp["port"]) == ("tcp", "active", 9)
    relay = parse_candidate(
        "candidate:2 2 udp 41885438 2001:db8::5 3478 typ relay raddr 203.0.113.7 rport 61234 "
        "x-custom yes"
    )
    assert relay["component"] == 2 and relay["address"] == "2001:db8::5"
    assert relay["extensions"] == {"x-custom": "yes"}
    # the form aiortc's own helper writes (no "candidate:" prefix)
    bare = parse(CHROME_OFFER).media[0]["candidates"][0]
    assert bare["address"].endswith(".local") and bare["mid"] == "0"
    from aiortc.sdp import candidate_from_sdp

    aiortc_form = candidate_to_sdp(candidate_from_sdp("1 1 udp 5 10.0.0.1 5000 typ host"))
    assert parse_candidate(aiortc_form)["address"] == "10.0.0.1"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("", "end of candidates"),
        ("candidate:", "end of candidates"),
        ("candidate:1 1 udp 5 10.0.0.1 5000", "only 6 fields"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 type host", "the word 'typ'"),
        ("candidate:1 x udp 5 10.0.0.1 5000 typ host", "component must be a number"),
        ("candidate:1 1 udp high 10.0.0.1 5000 typ host", "priority"),
        ("candidate:1 1 udp 5 10.0.0.1 70000 typ host", "port must be 0 to 65535"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx raddr", "has no value"),
        ("candidate:1 1 udp 5 10.0.0.1 5000 typ srflx rport x", "rport must be a whole number"),
    ],
)
def test_parse_candidate_malformed(line: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_candidate(line)
    assert words in str(info.value)


# ---------------------------------------------------------------------------
# annotate()
# ---------------------------------------------------------------------------


def test_every_line_is_explained(sdps: dict[str, str]) -> None:
    for text, type_ in (
        (CHROME_OFFER, "offer"),
        (sdps["offer"], "offer"),
        (sdps["answer"], "answer"),
        (sdps["chrome_answer"], "answer"),
    ):
        raw = re.split(r"\r\n|\n", text.rstrip("\r\n"))
        lines = annotate(text, type_)
        assert [ln["n"] for ln in lines] == list(range(len(raw)))
        for ln, original in zip(lines, raw, strict=True):
            assert ln["explain"] and ln["explain"][0].isupper() and ln["explain"].endswith(".")
            # every line of real browser/aiortc SDP gets specific words, not the fallback
            assert "does not explain" not in ln["explain"], ln
            assert ln["masked"] == original.startswith("a=ice-pwd:")
            if not ln["masked"]:
                assert ln["line"] == original
            expected_key = original[:1] if original[:2] != "a=" else original.split(":")[0]
            assert ln["key"] == expected_key
        sections = [ln["section"] for ln in lines]
        assert sections[0] == "session" and sections[-1] == "2"


def test_password_is_masked_everywhere(sdps: dict[str, str]) -> None:
    pairs = [(CHROME_OFFER, sdps["chrome_answer"]), (sdps["offer"], sdps["answer"])]
    for offer, answer in pairs:
        outputs = [
            annotate(offer),
            annotate(answer, "answer"),
            diff(offer, answer),
            parse(offer).to_dict(),
            parse(answer, "answer").to_dict(),
        ]
        dumped = json.dumps(outputs)
        assert _pwd(offer) not in dumped and _pwd(answer) not in dumped
        masked = [ln for ln in annotate(offer) if ln["masked"]]
        assert masked and all(ln["key"] == "a=ice-pwd" for ln in masked)
        n = len(_pwd(offer))
        assert masked[0]["line"] == f"a=ice-pwd:<hidden, {n} characters>"
        assert "credential" in masked[0]["explain"]


def _explain(text: str, prefix: str, type_: str = "offer", **names: str) -> str:
    lines = annotate(text, type_, **names)
    return lines[_line_no(text, prefix)]["explain"]


def test_m_line_words() -> None:
    words = _explain(CHROME_OFFER, "m=audio")
    assert "Port 9 is a placeholder" in words and "ICE candidates" in words
    assert "SRTP" in words and "DTLS" in words and "RTCP feedback" in words
    assert "111 = opus, 63 = redundant coding (RED), 9 = G722, 0 = PCMU" in words
    words = _explain(CHROME_OFFER, "m=video")
    assert "96 = VP8, 97 = retransmission (RTX) of 96" in words
    assert "104 = H264 (Constrained Baseline, mode 1)" in words
    assert "Port 54321 is the port of the default candidate" in words
    words = _explain(CHROME_OFFER, "m=application")
    assert "SCTP" in words and "data channels" in words and "webrtc-datachannel" in words


def test_codec_words() -> None:
    o = CHROME_OFFER
    assert _explain(o, "a=rtpmap:96 ").startswith(
        "Payload type 96 carries VP8 video; its RTP clock runs at 90 kHz"
    )
    assert "retransmissions (RTX) of payload type 96 (VP8)" in _explain(o, "a=rtpmap:97 ")
    apt = _explain(o, "a=fmtp:97 ")
    assert "retransmission (RTX) stream for payload type 96 (VP8)" in apt and "NACK" in apt
    h264 = _explain(o, "a=fmtp:104 ")
    assert "Constrained Baseline profile, level 3.1" in h264
    assert "packetization-mode=1" in h264 and "level-asymmetry-allowed=1" in h264
    assert "Baseline profile, level 3.1" in _explain(o, "a=fmtp:102 ")
    assert "Constrained High profile" in _explain(o, "a=fmtp:106 ")
    assert "VP9 profile 2" in _explain(o, "a=fmtp:100 ")
    assert "AV1 level 3.1" in _explain(o, "a=fmtp:45 ")
    opus = _explain(o, "a=fmtp:111 ")
    assert "minptime=10" in opus and "10 ms" in opus and "forward error correction" in opus
    assert "48 kHz" in _explain(o, "a=rtpmap:111 ")
    assert "16 kHz" in _explain(o, "a=rtpmap:9 ")
    assert "DTMF" in _explain(o, "a=rtpmap:110 ")
    assert "2 blocks of payload type 111" in _explain(o, "a=fmtp:63 ")
    stereo = _explain(o.replace("minptime=10", "stereo=1;minptime=10"), "a=fmtp:111 ")
    assert "the browser prefers to receive stereo" in stereo


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("a=rtcp-fb:96 nack\r", "lost packets"),
        ("a=rtcp-fb:96 nack pli", "picture loss indication"),
        ("a=rtcp-fb:96 ccm fir", "full intra request"),
        ("a=rtcp-fb:96 goog-remb", "estimated maximum bitrate"),
        ("a=rtcp-fb:96 transport-cc", "transport-wide congestion control"),
        ("a=setup:actpass", "either role"),
        ("a=fingerprint:", "signaling"),
        ("a=ice-ufrag:", "username fragment"),
        ("a=ice-options:trickle", "one by one"),
        ("a=group:BUNDLE", "share one transport"),
        ("a=mid:0", "sdpMid"),
        ("a=msid:", "event.streams[0].id"),
        ("a=msid-semantic:", "MediaStream"),
        ("a=ssrc:3061532480 cname:", "lip sync"),
        ("a=ssrc:3061532480 msid:", "stream and track"),
        ("a=ssrc-group:FID", "SSRC 1702343871 carries the retransmissions (RTX) of SSRC"),
        ("a=extmap-allow-mixed", "two-byte"),
        ("a=rtcp-mux", "share one port"),
        ("a=rtcp-rsize", "reduced-size"),
        ("a=rtcp:9 IN IP4 0.0.0.0", "placeholder"),
        ("c=IN IP4 0.0.0.0", "placeholder"),
        ("c=IN IP4 203.0.113.7", "default candidate"),
        ("v=0", "version"),
        ("o=-", "origin"),
        ("s=-", "session name"),
        ("t=0 0", "not bounded in time"),
        ("a=sctp-port:5000", "not a UDP port"),
        ("a=max-message-size:262144", "262144 bytes (256 KiB)"),
        ("a=extmap:1 ", "transmission time offset"),
        ("a=extmap:2 ", "absolute send time"),
        ("a=extmap:3 ", "video orientation"),
        ("a=extmap:4 ", "transport-wide sequence number"),
        ("a=extmap:5 ", "playout delay"),
        ("a=extmap:6 ", "screen share"),
        ("a=extmap:7 ", "video timing"),
        ("a=extmap:8 ", "colour space"),
        ("a=extmap:9 ", "mid of the section"),
        ("a=extmap:10 ", "simulcast layer"),
        ("a=extmap:11 ", "names the stream they repair"),
        ("a=extmap:12 ", "dependency descriptor"),
        ("a=extmap:13 ", "absolute capture time"),
        ("a=extmap:14 ", "active speaker"),
    ],
)
def test_attribute_words(prefix: str, words: str) -> None:
    lines = re.split(r"\r\n", CHROME_OFFER)
    n = next(i for i, ln in enumerate(lines) if (ln + "\r").startswith(prefix))
    assert words.lower() in annotate(CHROME_OFFER)[n]["explain"].lower()


def test_candidate_words() -> None:
    o = CHROME_OFFER
    host = _explain(o, "a=candidate:1467250027")
    assert "host candidate" in host and "mDNS" in host and "hides the real local IP" in host
    assert "over UDP" in host and "rtcp-mux" in host and "network-cost 10" in host
    srflx = _explain(o, "a=candidate:842163049")
    assert "server-reflexive" in srflx and "NAT" in srflx and "0.0.0.0:0 is hidden" in srflx
    tcp = _explain(o, "a=candidate:3127624913")
    assert "over TCP" in tcp and "tcptype active" in tcp and "port 9 is a placeholder" in tcp
    relay = _explain(o, "a=candidate:2999745851")
    assert "TURN server" in relay and "203.0.113.7:54321" in relay
    assert "no more candidates" in _explain(
        o.replace("a=ice-ufrag:Zq3F", "a=end-of-candidates\r\na=ice-ufrag:Zq3F", 1),
        "a=end-of-candidates",
    )


def test_direction_words_follow_the_writer(sdps: dict[str, str]) -> None:
    sendonly = _explain(CHROME_OFFER, "a=sendonly")
    assert sendonly.startswith("The browser wants only to send audio")
    answer = sdps["chrome_answer"]
    recv = _explain(answer, "a=recvonly", "answer")
    assert recv.startswith("The kernel will only receive video here; the browser sends it")
    named = _explain(answer, "a=recvonly", "answer", offerer="Alice", answerer="Bob")
    assert named.startswith("Bob will only receive video here; Alice sends it")
    active = _explain(answer, "a=setup:active", "answer")
    assert "The kernel is the DTLS client: it starts the DTLS handshake" in active


def test_ice_lite_and_unknown_attributes() -> None:
    text = CHROME_OFFER.replace("a=extmap-allow-mixed", "a=ice-lite\r\na=x-new-thing:1")
    assert parse(text).session["ice_lite"] is True
    assert "never starts them" in _explain(text, "a=ice-lite")
    assert "an attribute this guide does not explain ('x-new-thing')" in _explain(
        text, "a=x-new-thing"
    ).replace("An attribute", "an attribute")


# ---------------------------------------------------------------------------
# diff()
# ---------------------------------------------------------------------------


def _status(text: str, statuses: list[str], prefix: str) -> str:
    return statuses[_line_no(text, prefix)]


def test_diff_chrome_offer_against_the_kernels_answer(sdps: dict[str, str]) -> None:
    offer, answer = CHROME_OFFER, sdps["chrome_answer"]
    d = diff(offer, answer)
    assert len(d["offer"]) == len(annotate(offer))
    assert len(d["answer"]) == len(annotate(answer, "answer"))
    assert set(d["offer"]) <= {"same", "changed", "removed", "side"}
    assert set(d["answer"]) <= {"same", "changed", "added", "side"}
    o = d["offer"]
    # codecs the kernel does not support are dropped
    for prefix in ("a=rtpmap:98 VP9", "a=fmtp:98 ", "a=rtpmap:45 AV1", "a=rtpmap:116 ulpfec"):
        assert _status(offer, o, prefix) == "removed", prefix
    assert _status(offer, o, "a=rtpmap:96 VP8") == "same"
    assert _status(offer, o, "a=rtcp-fb:96 nack pli") == "same"
    assert _status(offer, o, "a=rtcp-fb:96 transport-cc") == "removed"
    assert _status(offer, o, "a=extmap:1 ") == "removed"
    assert _status(offer, o, "a=sendrecv") == "changed"
    assert _status(offer, o, "a=setup:actpass") == "changed"
    assert _status(offer, o, "m=video") == "changed"  # fewer payload types
    for prefix in ("a=candidate:", "a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "a=ssrc:", "o="):
        assert _status(offer, o, prefix) == "side", prefix
    a = d["answer"]
    assert _status(answer, a, "a=recvonly") == "changed"
    assert _status(answer, a, "a=setup:active") == "changed"
    assert _status(answer, a, "a=candidate:") == "side"
    assert _status(answer, a, "a=rtpmap:96 VP8") == "same"
    video, audio, data = d["sections"]
    assert video["mid"] == "0" and video["kind"] == "video"
    assert video["offer_codecs"] == ["VP8", "VP9", "H264", "AV1", "red", "ulpfec"]
    assert video["answer_codecs"] == ["VP8", "H264"]
    assert video["removed_codecs"] == ["VP9", "AV1", "red", "ulpfec"]
    assert 98 in video["removed_payload_types"] and 96 not in video["removed_payload_types"]
    assert (video["offer_direction"], video["answer_direction"]) == ("sendrecv", "recvonly")
    assert video["setup"] == {"offer": "actpass", "answer": "active"}
    assert (audio["offer_direction"], audio["answer_direction"]) == ("sendonly", "recvonly")
    assert data["kind"] == "application" and not data["rejected"]
    summary = " ".join(d["summary"])
    assert (
        "Video (mid 0): the answer keeps VP8, H264 of the 6 codecs offered and drops VP9, AV1, "
        "red, ulpfec" in summary
    )
    assert (
        "Video (mid 0): the offer says sendrecv, the answer says recvonly: only the browser "
        "sends video" in summary
    )
    assert "Audio (mid 1): the offer says sendonly, the answer says recvonly" in summary
    assert (
        "DTLS roles: the offer says actpass (either role), the answer picks active: the kernel "
        "starts the DTLS handshake" in summary
    )
    assert "own ICE credentials and candidates (marked 'side')" in summary
    assert "drops toffset" in summary  # header extensions the kernel does not use
    assert "sctp-port 5000 on both sides" in summary


def test_diff_between_two_aiortc_peers(sdps: dict[str, str]) -> None:
    offer, answer = sdps["offer"], sdps["answer"]
    d = diff(offer, answer, offerer="the notebook", answerer="the server")
    o, a = d["offer"], d["answer"]
    assert _status(offer, o, "a=rtpmap:") == "same"
    assert _status(offer, o, "a=group:BUNDLE") == "same"
    assert _status(offer, o, "a=sendrecv") == "changed"
    assert _status(answer, a, "a=recvonly") == "changed"
    assert _status(offer, o, "a=candidate:") == "side"
    assert _status(offer, o, "a=end-of-candidates") == "side"
    assert _status(offer, o, "m=video") in ("same", "side")  # only the port may differ
    assert "removed" not in o and "added" not in a
    video = d["sections"][0]
    assert video["removed_codecs"] == [] and video["answer_codecs"] == ["VP8", "H264"]
    summary = d["summary"]
    assert "Video (mid 0): the answer keeps both codecs offered (VP8, H264)" in summary
    assert any("only the notebook sends video" in s for s in summary)
    assert any("Audio (mid 1): offer and answer both say sendrecv" in s for s in summary)
    assert any("the server starts the DTLS handshake" in s for s in summary)
    assert any("bundle mids 0 1 2" in s for s in summary)


def test_diff_of_a_rejected_section_and_passive_answer() -> None:
    offer = CHROME_OFFER
    answer = (
        CHROME_OFFER.replace(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63", "m=audio 0 UDP/TLS/RTP/SAVPF 111"
        )
        .replace("a=setup:actpass", "a=setup:passive")
        .replace("a=sendonly", "a=inactive")
    )
    d = diff(offer, answer)
    audio = d["sections"][1]
    assert audio["rejected"] is True
    assert _status(answer, d["answer"], "m=audio") == "changed"
    summary = " ".join(d["summary"])
    assert "Audio (mid 1): the answer rejects this section (port 0)" in summary
    assert "the answer picks passive: the kernel waits, so the browser starts" in summary


def test_sdes_keys_are_masked_too() -> None:
    key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
    text = (
        f"v=0\r\nm=audio 9 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20\r\n"
    )
    lines = annotate(text)
    assert lines[2]["masked"] and "inline:<hidden, 40 characters>|2^20" in lines[2]["line"]
    assert key not in json.dumps([lines, parse(text).to_dict(), diff(text, text)])
