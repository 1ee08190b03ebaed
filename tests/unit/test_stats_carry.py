"""The page's stats samples with unchanged reports by id (``same``): the kernel puts its
copy back (nbrtc._inspection.stats_carry), and the protocol bounds the list."""

from __future__ import annotations

from nbrtc._inspection.stats_carry import CarriedReports
from nbrtc._signaling.protocol import MAX_STATS_REPORTS, ProtocolError, parse_browser_message


def _sample(ts: float, sent: int) -> list[dict]:
    return [
        {"id": "CO1", "type": "codec", "timestamp": ts, "mimeType": "video/VP8"},
        {"id": "CP1", "type": "candidate-pair", "timestamp": ts, "bytesSent": sent},
        {"id": "LC1", "type": "local-candidate", "timestamp": ts, "port": 5000},
    ]


def test_unchanged_reports_come_back_with_the_samples_newest_timestamp() -> None:
    carry = CarriedReports()
    assert carry.take({"t": 1, "reports": _sample(1000.0, 10)}) == _sample(1000.0, 10)
    whole = carry.take({"t": 2, "reports": [_sample(2000.0, 20)[1]], "same": ["CO1", "LC1"]})
    assert sorted(whole, key=lambda r: r["id"]) == sorted(
        _sample(2000.0, 20), key=lambda r: r["id"]
    )
    # and again from the merged sample (not only from the last whole one)
    again = carry.take({"t": 3, "reports": [_sample(3000.0, 30)[1]], "same": ["CO1", "LC1"]})
    assert {r["id"]: r["timestamp"] for r in again} == {"CO1": 3000.0, "CP1": 3000.0, "LC1": 3000.0}
    assert carry.missed == 0


def test_ids_the_kernel_never_had_are_left_out_and_counted() -> None:
    carry = CarriedReports()
    out = carry.take({"t": 1, "reports": _sample(1000.0, 10)[1:2], "same": ["CO1", "nope"]})
    assert [r["id"] for r in out] == ["CP1"]
    assert carry.missed == 2
    # a report missing from a sample is gone from the next: the held sample is replaced
    assert [r["id"] for r in carry.take({"t": 2, "reports": [], "same": ["LC1"]})] == []


def test_a_sample_without_timestamps_keeps_the_old_ones() -> None:
    carry = CarriedReports()
    carry.take({"t": 1, "reports": _sample(1000.0, 10)})
    out = carry.take({"t": 2, "reports": [{"id": "X", "type": "comm"}], "same": ["CO1"]})
    assert out[1] == _sample(1000.0, 10)[0]
    # a page's "timestamp": true is no time either
    odd = {"id": "Y", "type": "comm", "timestamp": True}
    out = carry.take({"t": 3, "reports": [odd], "same": ["CO1"]})
    assert out[1] == _sample(1000.0, 10)[0]


def _stats(payload: dict) -> object:
    return parse_browser_message(
        {"v": 1, "type": "stats", "stream": "s-0000000a", "payload": payload}
    )


def test_the_protocol_bounds_same() -> None:
    ok = _stats({"t": 1, "reports": _sample(1.0, 1), "same": ["CO9"]})
    assert not isinstance(ok, ProtocolError), ok
    for bad in (
        {"t": 1, "reports": [], "same": "CO1"},
        {"t": 1, "reports": [], "same": [1]},
        {"t": 1, "reports": [], "same": ["x" * 257]},
        {"t": 1, "reports": _sample(1.0, 1), "same": ["a"] * (MAX_STATS_REPORTS - 2)},
    ):
        got = _stats(bad)
        assert isinstance(got, ProtocolError), bad
        assert "stats.same" in got.message, got
