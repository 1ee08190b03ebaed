"""A page's JSON may put a list or an object where a name belongs. Those are unhashable:
``value in frozenset(...)`` raises TypeError on them. Every check of a page's name against
a set of names says what was wrong instead (docs/protocol.md: an `error` reply, never an
exception in a comm or channel handler)."""

from __future__ import annotations

import json

import pytest

from nbrtc._inspection.doctor_protocol import check_doctor
from nbrtc._signaling.protocol import (
    Message,
    ProtocolError,
    parse_browser_message,
    parse_control_message,
    split_batch,
)

SID = "p1-1"
SHAPES = [{"a": 1}, ["offer"], [], {}]


def _env(type_: object, payload: object = None) -> dict:
    return {"v": 1, "type": type_, "stream": SID, "payload": payload}


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_a_message_type_of_any_shape_is_refused_in_words(shape: object) -> None:
    got = parse_browser_message(_env(shape))
    assert isinstance(got, ProtocolError) and got.code == "bad-type" and got.type is None
    got = parse_control_message(json.dumps(_env(shape)), SID)
    assert isinstance(got, ProtocolError) and got.code == "bad-type" and got.type is None
    got = split_batch({**_env("batch", [{"type": shape, "payload": None}])})
    assert isinstance(got, ProtocolError) and got.code == "bad-message"


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_payload_names_of_any_shape_are_refused_in_words(shape: object) -> None:
    for type_, payload in [
        ("offer", {"transport": "comm", "kind": shape}),
        ("signal", {"to": "p1-2", "data": {"type": shape}}),
    ]:
        got = parse_browser_message(_env(type_, payload))
        assert isinstance(got, ProtocolError) and got.code == "bad-message", (type_, got)
    assert check_doctor({"op": shape}) is not None
    assert check_doctor({"op": "row", "path": "host", "result": shape}) is not None


def test_the_same_names_as_strings_are_taken() -> None:
    assert isinstance(parse_browser_message(_env("ping", {"t": 1})), Message)
    assert isinstance(parse_control_message(json.dumps(_env("ping", {"t": 1})), SID), Message)
