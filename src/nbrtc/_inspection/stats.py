"""Per-second WebRTC metrics from both ends of a stream (the Inspector, ``stats_log()``).

About once a second the browser sends its filtered ``RTCPeerConnection.getStats()``
(``js/core/stats.js``: a list of *flat* reports, ``{"id", "type", "timestamp", ...scalars}``)
and the kernel samples aiortc's ``getStats()``; :func:`flatten_aiortc` brings aiortc's
report to the browser's shape and units, :func:`metrics` turns two consecutive samples
of one side into a row of rates, and :class:`StatsSeries` keeps the samples of both
sides and serves the rows (for a DataFrame) and the chart series (for live charts).
That pace (``nbrtc.config.stats_interval``) holds while someone reads the stream's stats
(``stats()``, ``stats_log()``, an Inspector) and for :data:`READ_HOLD` seconds after;
a stream nobody reads samples both sides every ``stats_idle_interval`` seconds instead
(issue 14: a plain feed's kernel CPU), so its rows are farther apart until it is read.

Units follow webrtc-stats: timestamps are epoch milliseconds, ``jitter`` and round-trip
times are seconds, ``fractionLost`` is 0..1. aiortc 1.16 differs on two of these, which
:func:`flatten_aiortc` converts: its ``jitter`` is in RTP timestamp units (the RFC 3550
estimator, not divided by the clock rate) and its ``fractionLost`` is the raw 8-bit RTCP
value (0..255). aiortc reports much less than a browser: no frame counters, frame sizes,
codecs, candidates or candidate pairs, no ``bytesReceived`` on ``inbound-rtp``
(so the kernel's received bitrate comes from the transport's bytes, which include SRTP,
RTCP and data-channel overhead), and a round-trip time only on a stream it *sends*.

Everything here is pure except :class:`StatsSeries`, which is thread-safe.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

__all__ = [
    "CHART_IDS",
    "MAX_SAMPLES",
    "READ_HOLD",
    "ROW_FIELDS",
    "SIDES",
    "StatsSeries",
    "flatten_aiortc",
    "metrics",
    "selected_pair",
]

SIDES = ("browser", "kernel")
#: Seconds after the last read of a stream's stats during which both sides keep sampling
#: at the full rate (``stats_interval``); then at ``stats_idle_interval``.
READ_HOLD = 30.0
#: Samples kept per side: ten minutes at one a second.
MAX_SAMPLES = 600
#: The kernel's bounds of a flat report (``_protocol.MAX_STATS_FIELDS`` and its 512-char
#: strings); flatten_aiortc keeps to them so both sides' samples look alike.
_MAX_FIELDS = 64
_MAX_STRING = 512
#: RTP clock rates by kind for aiortc's jitter: its video codecs (VP8, H.264) all run at
#: 90 kHz; for audio the browser and aiortc negotiate Opus, 48 kHz (PCMU/PCMA are 8 kHz:
#: pass ``clock_rates`` if a stream uses them).
DEFAULT_CLOCK_RATES: Mapping[str, int] = {"video": 90_000, "audio": 48_000}

#: The fields of a metrics row, in order (None when the sample cannot tell).
ROW_FIELDS = (
    "t",
    "side",
    "bitrate_out_kbps",
    "bitrate_in_kbps",
    "video_bitrate_out_kbps",
    "video_bitrate_in_kbps",
    "available_out_kbps",
    "fps_out",
    "fps_in",
    "width",
    "height",
    "width_out",
    "height_out",
    "width_in",
    "height_in",
    "rtt_ms",
    "pair_rtt_ms",
    "jitter_ms",
    "packets_lost",
    "loss_pct",
    "loss_pct_remote",
    "frames_dropped",
    "dropped_per_s",
    "decode_ms",
    "encode_ms",
    "codec_out",
    "codec_in",
    "quality_limitation",
    "nack_count",
    "pli_count",
    "bytes_sent",
    "bytes_received",
    "local_candidate",
    "remote_candidate",
)

Report = dict[str, Any]


# --- aiortc -> flat reports ---------------------------------------------------------------


def _epoch_ms(value: datetime.datetime) -> float:
    if value.tzinfo is None:  # aiortc's are UTC-aware; a naive one is taken as UTC too
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp() * 1000.0


def _flat_value(value: Any) -> tuple[bool, Any]:
    """(keep, value) for one field: scalars as they are, datetimes as epoch ms."""
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, (int, float)):
        return (math.isfinite(value), value)
    if isinstance(value, str):
        return (len(value) <= _MAX_STRING, value)
    if isinstance(value, datetime.datetime):
        return True, _epoch_ms(value)
    return False, None


def _fields_of(stats: Any) -> Iterable[tuple[str, Any]]:
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return ((f.name, getattr(stats, f.name, None)) for f in dataclasses.fields(stats))
    if isinstance(stats, Mapping):
        return stats.items()
    return ()


def flatten_aiortc(
    report: Mapping[str, Any],
    *,
    clock_rates: Mapping[str, int] | None = None,
    inbound_video: Mapping[str, Any] | None = None,
    outbound_video: Mapping[str, Any] | None = None,
) -> list[Report]:
    """aiortc's ``RTCStatsReport`` (a dict of id -> stats dataclass) as flat reports.

    Each report becomes ``{"id", "type", "timestamp" (epoch ms float), ...}`` with
    aiortc's camelCase field names, like the browser's (``js/core/stats.js``), and in the
    browser's units: ``jitter`` (``inbound-rtp``, ``remote-inbound-rtp``) is converted
    from RTP timestamp units to seconds with ``clock_rates[kind]`` (default
    :data:`DEFAULT_CLOCK_RATES`), ``fractionLost`` from 0..255 to 0..1, and
    ``remoteTimestamp`` to epoch ms. Fields that are not scalars are dropped, and so is
    an ``outbound-rtp`` that has sent nothing (aiortc has one per transceiver, even a
    receive-only one; a browser has none until it sends).

    aiortc has no frame counters; the kernel knows some (frames it decoded, their
    size), and ``inbound_video`` / ``outbound_video`` merge such fields, named as in
    webrtc-stats (``framesDecoded``, ``frameWidth``, ``frameHeight``, ``framesSent``...,
    and ``mimeType`` for the codec), into the first video ``inbound-rtp`` /
    ``outbound-rtp`` report, so :func:`metrics` computes the kernel's fps and resolution
    like the browser's. Pure; entries it cannot read are skipped.
    """
    rates = {**DEFAULT_CLOCK_RATES, **(clock_rates or {})}
    out: list[Report] = []
    extras = {"inbound-rtp": inbound_video, "outbound-rtp": outbound_video}
    merged: set[str] = set()
    for stats in list(report.values()):
        flat: Report = {}
        for name, value in _fields_of(stats):
            keep, value = _flat_value(value)
            if keep and isinstance(name, str):
                flat[name] = value
        if not isinstance(flat.get("id"), str) or not isinstance(flat.get("type"), str):
            continue
        type_ = flat["type"]
        if type_ == "outbound-rtp" and not flat.get("packetsSent") and not flat.get("bytesSent"):
            # aiortc reports a sender for every transceiver, recvonly ones included; a
            # browser creates outbound-rtp only once it sends. Skipping the idle ones
            # keeps a receiving kernel from charting "sent: 0 kbit/s".
            continue
        if type_ in ("inbound-rtp", "remote-inbound-rtp") and _is_num(flat.get("jitter")):
            rate = rates.get(flat.get("kind"))  # type: ignore[arg-type]
            # Without a known clock rate a raw value would mislead: drop it.
            flat["jitter"] = flat["jitter"] / rate if rate else None
        if type_ == "remote-inbound-rtp" and _is_num(flat.get("fractionLost")):
            flat["fractionLost"] = flat["fractionLost"] / 256.0
        extra = extras.get(type_)
        if extra and flat.get("kind") == "video" and type_ not in merged:
            merged.add(type_)
            for name, value in extra.items():
                keep, value = _flat_value(value)
                if keep and isinstance(name, str) and name not in ("id", "type"):
                    flat[name] = value
        if len(flat) > _MAX_FIELDS:  # never with aiortc 1.16 (<= 12 fields); keep the bound
            flat = dict(list(flat.items())[:_MAX_FIELDS])
        out.append(flat)
    return out


# --- metrics ------------------------------------------------------------------------------


def _is_num(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _num(report: Mapping[str, Any] | None, field: str) -> float | None:
    if report is None:
        return None
    value = report.get(field)
    return float(value) if _is_num(value) else None


def _of_type(reports: Iterable[Report], type_: str) -> list[Report]:
    return [r for r in reports if isinstance(r, Mapping) and r.get("type") == type_]


def _by_id(reports: Iterable[Report]) -> dict[str, Report]:
    return {r["id"]: r for r in reports if isinstance(r, Mapping) and isinstance(r.get("id"), str)}


def _get(by_id: Mapping[str, Report], key: Any) -> Report | None:
    # Ids are strings; anything else (even an unhashable list) just finds nothing.
    return by_id.get(key) if isinstance(key, str) else None


def _main(reports: list[Report], bytes_field: str) -> Report | None:
    """The report of the largest picture (simulcast: the top layer), then most bytes."""
    if not reports:
        return None

    def key(r: Report) -> tuple[float, float]:
        area = (_num(r, "frameWidth") or 0.0) * (_num(r, "frameHeight") or 0.0)
        return (area, _num(r, bytes_field) or 0.0)

    return max(reports, key=key)


def _prefer_video(reports: list[Report]) -> Report | None:
    video = [r for r in reports if r.get("kind") == "video"]
    candidates = video or reports
    return candidates[0] if candidates else None


class _Deltas:
    """Counter deltas between two samples of one side, per report id.

    A counter that went backwards means a restart (a new peer reusing an id, an SSRC
    change): :meth:`rate` and :meth:`delta` then answer None rather than a negative or
    made-up rate. A report with no predecessor contributes nothing (its counting started
    at an unknown time). Seconds per report come from the reports' own timestamps when
    both have one — they are taken when the counters were read, whereas the sample's
    ``dt`` includes comm delays — else from ``dt``.
    """

    def __init__(self, prev: list[Report] | None, dt: float | None) -> None:
        self.prev = _by_id(prev or [])
        self.dt = dt if dt is not None and _is_num(dt) and dt > 0 else None

    def _one(self, cur: Report, field: str) -> tuple[str, float, float | None]:
        """("ok", delta, seconds) | ("skip", 0, None) | ("reset", 0, None)."""
        before = _get(self.prev, cur.get("id"))
        a, b = _num(before, field), _num(cur, field)
        if a is None or b is None:
            return ("skip", 0.0, None)
        if b < a:
            return ("reset", 0.0, None)
        ta, tb = _num(before, "timestamp"), _num(cur, "timestamp")
        if ta is not None and tb is not None:
            if tb <= ta:  # the same (cached) reading: nothing new to tell
                return ("skip", 0.0, None)
            return ("ok", b - a, (tb - ta) / 1000.0)
        return ("ok", b - a, self.dt)

    def delta(self, reports: list[Report], field: str) -> float | None:
        """Summed increase of ``field`` over ``reports``; None if none can tell or a reset."""
        total, seen = 0.0, False
        for r in reports:
            status, d, _ = self._one(r, field)
            if status == "reset":
                return None
            if status == "ok":
                total, seen = total + d, True
        return total if seen else None

    def rate(self, reports: list[Report], field: str) -> float | None:
        """Summed per-second increase of ``field`` over ``reports`` (None as for delta)."""
        total, seen = 0.0, False
        for r in reports:
            status, d, secs = self._one(r, field)
            if status == "reset":
                return None
            if status == "ok" and secs:
                total, seen = total + d / secs, True
        return total if seen else None

    def ratio(self, report: Report | None, num: str, den: str) -> float | None:
        """delta(num) / delta(den) for one report (ms per frame and the like)."""
        if report is None:
            return None
        dn, dd = self.delta([report], num), self.delta([report], den)
        if dn is None or not dd:
            return None
        return dn / dd


def _sum(reports: list[Report], field: str) -> float | None:
    values = [v for v in (_num(r, field) for r in reports) if v is not None]
    return sum(values) if values else None


def _kbps(bytes_per_s: float | None) -> float | None:
    return None if bytes_per_s is None else bytes_per_s * 8 / 1000.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _codec(report: Report | None, by_id: Mapping[str, Report]) -> str | None:
    if report is None:
        return None
    codec = _get(by_id, report.get("codecId"))
    mime = (codec or {}).get("mimeType", report.get("mimeType"))
    return mime if isinstance(mime, str) else None


def selected_pair(reports: list[Report] | None) -> dict[str, Report | None] | None:
    """``{"pair", "local", "remote"}`` of the selected candidate pair, or None.

    The pair named by a transport's ``selectedCandidatePairId`` (Chrome, Safari), else
    one with ``selected`` true (Firefox), else the nominated succeeded pair with the most
    traffic — the same rule as ``selectedPair`` in ``js/core/stats.js``. ``local``/``remote``
    are None when the sample has no such candidate report. Pure.
    """
    if not reports:
        return None
    by_id = _by_id(reports)
    pairs = _of_type(reports, "candidate-pair")
    pair: Report | None = None
    for t in _of_type(reports, "transport"):
        p = _get(by_id, t.get("selectedCandidatePairId"))
        if p is not None and p.get("type") == "candidate-pair":
            pair = p
            break
    if pair is None:
        pair = next((p for p in pairs if p.get("selected") is True), None)
    if pair is None:
        nominated = [
            p for p in pairs if p.get("nominated") is True and p.get("state") == "succeeded"
        ]
        if nominated:
            pair = max(
                nominated,
                key=lambda p: (_num(p, "bytesSent") or 0) + (_num(p, "bytesReceived") or 0),
            )
    if pair is None:
        return None

    def candidate(id_: Any, type_: str) -> Report | None:
        c = _get(by_id, id_)
        return c if c is not None and c.get("type") == type_ else None

    return {
        "pair": pair,
        "local": candidate(pair.get("localCandidateId"), "local-candidate"),
        "remote": candidate(pair.get("remoteCandidateId"), "remote-candidate"),
    }


def _loss_pct(d: _Deltas, inbound: list[Report]) -> float | None:
    """Inbound loss in this interval: lost / (lost + received), in percent.

    Only packetsReceived going backwards is a restart: packetsLost may legitimately dip
    (duplicates are counted against it), so its negative deltas count as 0.
    """
    received = lost = 0.0
    seen = False
    for r in inbound:
        status, got, _ = d._one(r, "packetsReceived")
        if status == "reset":
            return None
        if status != "ok":
            continue
        a, b = _num(_get(d.prev, r.get("id")), "packetsLost"), _num(r, "packetsLost")
        received += got
        lost += max(0.0, b - a) if a is not None and b is not None else 0.0
        seen = True
    expected = received + lost
    return lost / expected * 100.0 if seen and expected > 0 else None


def _describe_candidate(c: Report | None) -> str | None:
    """'host udp 192.168.1.20:54321' ('[::1]:5000' for IPv6; relay adds its protocol)."""
    if c is None:
        return None
    parts = [str(c[k]) for k in ("candidateType", "protocol") if isinstance(c.get(k), str)]
    if isinstance(c.get("relayProtocol"), str):
        parts.append(f"via {c['relayProtocol']}")
    address = c.get("address") if isinstance(c.get("address"), str) else c.get("ip")
    if isinstance(address, str) and address:
        host = f"[{address}]" if ":" in address else address
        port = c.get("port")
        parts.append(f"{host}:{int(port)}" if _is_num(port) else host)
    return " ".join(parts) or None


def metrics(
    prev: list[Report] | None,
    cur: list[Report],
    dt: float | None,
    side: str,
    *,
    t: float | None = None,
) -> dict[str, Any]:
    """One row of metrics from two consecutive samples of one side (see ROW_FIELDS).

    ``prev`` is the side's previous sample (None for the first: every rate is then
    None), ``cur`` the new one, ``dt`` the seconds between them (used for reports that
    carry no timestamps), ``t`` goes into the row as is. Rates are per second; a counter
    that went backwards makes its rates None for this row. A field is None when the
    sample cannot tell — e.g. most frame fields on the kernel side. Pure, never raises
    on odd reports (non-dicts and non-numbers are ignored).

    Fields: ``bitrate_out_kbps``/``bitrate_in_kbps`` (all RTP streams' payload bytes;
    received falls back to the transport's bytes when ``inbound-rtp`` has none, as with
    aiortc), ``video_bitrate_*`` (video streams only), ``available_out_kbps`` (the
    congestion controller's estimate), ``fps_out``/``fps_in`` (``framesPerSecond``, else
    encoded/sent resp. decoded/received frames per second), ``width``/``height`` (sent
    video, else received) and ``width_out``/``height_out``/``width_in``/``height_in``,
    ``rtt_ms`` (``remote-inbound-rtp``, else ``remote-outbound-rtp``, else the selected
    pair), ``pair_rtt_ms`` (selected pair, ICE consent checks), ``jitter_ms`` (inbound
    video, else audio), ``packets_lost`` (cumulative inbound), ``loss_pct`` (inbound
    lost / expected in this interval), ``loss_pct_remote`` (what the far end reports of
    what we send), ``frames_dropped`` (cumulative inbound video) and ``dropped_per_s``,
    ``decode_ms``/``encode_ms`` (per frame in this interval), ``codec_out``/``codec_in``
    (mimeType), ``quality_limitation``, ``nack_count``/``pli_count`` (cumulative, all
    RTP streams: sent on inbound ones, received on outbound ones), ``bytes_sent``/
    ``bytes_received`` (cumulative, same sources as the bitrates), ``local_candidate``/
    ``remote_candidate`` ("host udp 1.2.3.4:5000").
    """
    cur = [r for r in (cur or []) if isinstance(r, Mapping)]
    d = _Deltas(prev, dt)
    by_id = _by_id(cur)
    inbound = _of_type(cur, "inbound-rtp")
    outbound = _of_type(cur, "outbound-rtp")
    in_video = [r for r in inbound if r.get("kind") == "video"]
    out_video = [r for r in outbound if r.get("kind") == "video"]
    transports = _of_type(cur, "transport")
    main_out = _main(out_video, "bytesSent")
    main_in = _main(in_video, "bytesReceived")
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row["t"] = t
    row["side"] = side

    # Bitrates and byte totals. aiortc's inbound-rtp has no bytesReceived: use the
    # transport's (overhead included) but only while an inbound stream exists, so a
    # sender's RTCP chatter never shows as received media.
    out_src = [r for r in outbound if _num(r, "bytesSent") is not None]
    in_src: list[Report] = [r for r in inbound if _num(r, "bytesReceived") is not None]
    if inbound and not in_src:
        in_src = transports
    row["bitrate_out_kbps"] = _kbps(d.rate(out_src, "bytesSent")) if out_src else None
    row["bitrate_in_kbps"] = _kbps(d.rate(in_src, "bytesReceived")) if in_src else None
    row["video_bitrate_out_kbps"] = _kbps(d.rate(out_video, "bytesSent")) if out_video else None
    row["video_bitrate_in_kbps"] = _kbps(d.rate(in_video, "bytesReceived")) if in_video else None
    row["bytes_sent"] = _int(_sum(out_src, "bytesSent"))
    row["bytes_received"] = _int(_sum(in_src, "bytesReceived"))

    sel = selected_pair(cur)
    pair = sel["pair"] if sel else None
    available = _num(pair, "availableOutgoingBitrate")
    row["available_out_kbps"] = None if available is None else available / 1000.0

    # Frames: the browser's own per-second figure when it has one, else counter deltas.
    fps_out = _num(main_out, "framesPerSecond")
    if fps_out is None and main_out is not None:
        fps_out = d.rate([main_out], "framesEncoded")
        if fps_out is None:
            fps_out = d.rate([main_out], "framesSent")
    fps_in = _num(main_in, "framesPerSecond")
    if fps_in is None and main_in is not None:
        fps_in = d.rate([main_in], "framesDecoded")
        if fps_in is None:
            fps_in = d.rate([main_in], "framesReceived")
    row["fps_out"], row["fps_in"] = fps_out, fps_in

    row["width_out"] = _int(_num(main_out, "frameWidth"))
    row["height_out"] = _int(_num(main_out, "frameHeight"))
    row["width_in"] = _int(_num(main_in, "frameWidth"))
    row["height_in"] = _int(_num(main_in, "frameHeight"))
    if row["width_out"] is not None or row["height_out"] is not None:
        row["width"], row["height"] = row["width_out"], row["height_out"]
    else:
        row["width"], row["height"] = row["width_in"], row["height_in"]

    # Round trip: RTCP (what the media sees) first, ICE consent checks as the fallback.
    remote_in = _of_type(cur, "remote-inbound-rtp")
    remote_out = _of_type(cur, "remote-outbound-rtp")
    row["pair_rtt_ms"] = _ms(_num(pair, "currentRoundTripTime"))
    rtt = _num(
        _prefer_video([r for r in remote_in if _num(r, "roundTripTime") is not None]),
        "roundTripTime",
    )
    if rtt is None:
        rtt = _num(
            _prefer_video([r for r in remote_out if _num(r, "roundTripTime") is not None]),
            "roundTripTime",
        )
    row["rtt_ms"] = _ms(rtt) if rtt is not None else row["pair_rtt_ms"]

    jitter_src = _prefer_video([r for r in inbound if _num(r, "jitter") is not None])
    row["jitter_ms"] = _ms(_num(jitter_src, "jitter"))

    # Loss: inbound, from this interval's counters; packetsLost can dip (duplicates), so
    # only packetsReceived going backwards counts as a restart.
    row["packets_lost"] = _int(_sum(inbound, "packetsLost"))
    row["loss_pct"] = _loss_pct(d, inbound)
    fraction = _num(
        _prefer_video([r for r in remote_in if _num(r, "fractionLost") is not None]),
        "fractionLost",
    )
    row["loss_pct_remote"] = None if fraction is None else fraction * 100.0

    row["frames_dropped"] = _int(_num(main_in, "framesDropped"))
    row["dropped_per_s"] = d.rate([main_in], "framesDropped") if main_in is not None else None
    row["decode_ms"] = _ms(d.ratio(main_in, "totalDecodeTime", "framesDecoded"))
    row["encode_ms"] = _ms(d.ratio(main_out, "totalEncodeTime", "framesEncoded"))

    row["codec_out"] = _codec(main_out or _prefer_video(outbound), by_id)
    row["codec_in"] = _codec(main_in or _prefer_video(inbound), by_id)
    reason = (main_out or {}).get("qualityLimitationReason")
    row["quality_limitation"] = reason if isinstance(reason, str) else None
    row["nack_count"] = _int(_sum(inbound + outbound, "nackCount"))
    row["pli_count"] = _int(_sum(inbound + outbound, "pliCount"))

    if sel:
        row["local_candidate"] = _describe_candidate(sel["local"])
        row["remote_candidate"] = _describe_candidate(sel["remote"])
    return row


# --- the series ---------------------------------------------------------------------------

#: (id, title, unit, [(label, side, row field)]) of every chart, in display order.
_CHARTS: tuple[tuple[str, str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "bitrate",
        "Bitrate",
        "kbit/s",
        (
            ("browser sent", "browser", "bitrate_out_kbps"),
            ("browser received", "browser", "bitrate_in_kbps"),
            ("kernel sent", "kernel", "bitrate_out_kbps"),
            ("kernel received", "kernel", "bitrate_in_kbps"),
        ),
    ),
    (
        "fps",
        "Frame rate",
        "frames/s",
        (
            ("browser sent", "browser", "fps_out"),
            ("browser decoded", "browser", "fps_in"),
            ("kernel sent", "kernel", "fps_out"),
            ("kernel received", "kernel", "fps_in"),
        ),
    ),
    (
        "resolution",
        "Resolution (height)",
        "px",
        (
            ("browser sent", "browser", "height_out"),
            ("browser received", "browser", "height_in"),
            ("kernel sent", "kernel", "height_out"),
            ("kernel received", "kernel", "height_in"),
        ),
    ),
    (
        "rtt",
        "Round-trip time",
        "ms",
        (("browser", "browser", "rtt_ms"), ("kernel", "kernel", "rtt_ms")),
    ),
    (
        "jitter",
        "Jitter",
        "ms",
        (("browser inbound", "browser", "jitter_ms"), ("kernel inbound", "kernel", "jitter_ms")),
    ),
    (
        "loss",
        "Packet loss",
        "%",
        (
            ("browser inbound", "browser", "loss_pct"),
            ("kernel inbound", "kernel", "loss_pct"),
            ("browser remote-reported", "browser", "loss_pct_remote"),
            ("kernel remote-reported", "kernel", "loss_pct_remote"),
        ),
    ),
    (
        "dropped",
        "Frames dropped",
        "frames/s",
        (("browser", "browser", "dropped_per_s"),),
    ),
    (
        "codec_time",
        "Encode / decode time",
        "ms/frame",
        (
            ("browser encode", "browser", "encode_ms"),
            ("browser decode", "browser", "decode_ms"),
        ),
    ),
)
CHART_IDS = tuple(c[0] for c in _CHARTS)


def _chart_value(value: Any) -> float | None:
    # Three decimals are plenty on a chart and keep the JSON sent every second small.
    return round(float(value), 3) if _is_num(value) else None


class StatsSeries:
    """The recent stats samples of one stream's two sides and their metrics rows.

    Thread-safe: the kernel's media loop adds kernel samples, the comm thread adds
    browser samples, and user code reads rows and charts from the notebook thread; one
    lock guards the rings and every method returns fresh lists and dicts. Bounded: at
    most ``maxlen`` (default :data:`MAX_SAMPLES`) samples per side, oldest dropped. Each
    row is computed once, when its sample is added, against the side's previous sample.
    """

    def __init__(self, maxlen: int = MAX_SAMPLES) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be a positive int, got {maxlen!r}")
        self._lock = threading.Lock()
        # Per side: (t, reports, row), oldest first.
        self._samples: dict[str, deque[tuple[float, list[Report] | None, dict[str, Any]]]] = {
            side: deque(maxlen=maxlen) for side in SIDES
        }
        # The chart's time origin: the first sample ever added, so the x axis does not
        # shift when the rings start dropping old samples.
        self._t0: float | None = None
        # When rows, charts or the newest sample were last read (time.monotonic()): the
        # stream samples at its full rate only while someone reads (read_within). One
        # float assignment, so readers need not take the lock for it.
        self._read_at = -math.inf

    def add(self, side: str, t: float, reports: list[Report]) -> None:
        """Add a sample: ``side`` "browser" or "kernel", ``t`` the kernel's epoch seconds
        when it was taken (kernel) or received (browser), ``reports`` flat reports.

        Raises ValueError for an unknown side or a non-finite ``t`` (caller bugs); a
        sample older than the side's newest is still kept but gets no rates (dt <= 0).
        """
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        if not _is_num(t):
            raise ValueError(f"t must be a finite number, got {t!r}")
        sample = [dict(r) for r in (reports or []) if isinstance(r, Mapping)]
        t = float(t)
        # metrics() runs under the lock so that two adds of one side cannot both diff
        # against the same predecessor; it is a few hundred dict look-ups.
        with self._lock:
            ring = self._samples[side]
            prev_t, prev = (ring[-1][0], ring[-1][1]) if ring else (None, None)
            row = metrics(prev, sample, None if prev_t is None else t - prev_t, side, t=t)
            if ring:
                # Only the newest sample's reports are ever read again (latest(), the next
                # delta): 600 samples of raw reports would hold ~10 MB per stream.
                ring[-1] = (ring[-1][0], None, ring[-1][2])
            ring.append((t, sample, row))
            if self._t0 is None:
                self._t0 = t

    def read_within(self, seconds: float) -> bool:
        """Whether :meth:`latest`, :meth:`rows` or :meth:`chart_data` was called in the
        last ``seconds`` (the stream's stats loop asks, to choose its pace). Any thread."""
        return time.monotonic() - self._read_at <= seconds

    def latest(self, side: str) -> list[Report] | None:
        """A copy of the side's newest sample, or None before any."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        self._read_at = time.monotonic()
        with self._lock:
            ring = self._samples[side]
            newest = ring[-1][1] if ring else None  # the newest sample keeps its reports
            return [dict(r) for r in newest] if newest is not None else None

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ring) for ring in self._samples.values())

    def rows(self) -> list[dict[str, Any]]:
        """Copies of all rows of both sides, by ``t`` (browser first on a tie)."""
        self._read_at = time.monotonic()
        with self._lock:
            rows = [dict(row) for ring in self._samples.values() for (_, _, row) in ring]
        order = {side: i for i, side in enumerate(SIDES)}
        rows.sort(key=lambda r: (r["t"], order[r["side"]]))
        return rows

    def chart_data(self, seconds: float = 120) -> list[dict[str, Any]]:
        """The Inspector's charts over the last ``seconds``.

        A list of ``{"id", "title", "unit", "t", "lines": [{"label", "side",
        "values"}]}`` for the ids in :data:`CHART_IDS`. ``t`` is one x axis shared by
        every chart: whole seconds since the first sample added (either side), each
        second of the window present; samples of both sides are placed on it by
        rounding their ``t`` to the nearest second (the later sample wins a second
        both fall into), and ``values`` hold None where a side has no sample. Lines
        without a single value are left out, and so are charts without lines.
        """
        self._read_at = time.monotonic()
        with self._lock:
            samples = {
                side: [(t, row) for (t, _, row) in ring] for side, ring in self._samples.items()
            }
            t0 = self._t0
        everything = [t for ring in samples.values() for (t, _) in ring]
        if not everything or t0 is None:
            return []
        t0 = min(t0, *everything)  # a sample dated before the first one added

        def second(t: float) -> int:
            return math.floor(t - t0 + 0.5)  # round half up, unlike round()

        last = max(second(t) for t in everything)
        first = max(0, last - max(0, math.ceil(seconds)) + 1)
        axis = list(range(first, last + 1))
        binned: dict[str, dict[int, dict[str, Any]]] = {}
        for side, ring in samples.items():
            bins: dict[int, dict[str, Any]] = {}
            for t, row in sorted(ring, key=lambda s: s[0]):
                s = second(t)
                if s >= first:
                    bins[s] = row
            binned[side] = bins

        charts = []
        for chart_id, title, unit, specs in _CHARTS:
            lines = []
            for label, side, field in specs:
                values = [_chart_value(binned[side].get(s, {}).get(field)) for s in axis]
                if any(v is not None for v in values):
                    lines.append({"label": label, "side": side, "values": values})
            if lines:
                charts.append(
                    {"id": chart_id, "title": title, "unit": unit, "t": list(axis), "lines": lines}
                )
        return charts
