"""Phoenix frames in both serialisations, and the binary user broadcasts of supabase-js (vsn 2.0.0)."""

from __future__ import annotations

import json

import pytest

from backstack.realtime.protocol import Frame, JsonArrays, JsonObjects, ProtocolError, serializer_for
from tests.realtime.wire import push_frame


def test_vsn1_reads_and_writes_json_objects() -> None:
    frame = JsonObjects().decode('{"topic":"realtime:a","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
    assert frame == Frame("realtime:a", "phx_join", {}, "1", "1")
    out = json.loads(JsonObjects().encode(Frame("phoenix", "phx_reply", {"status": "ok", "response": {}}, "7")))
    assert out == {
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {}},
        "ref": "7",
        "join_ref": None,
    }


def test_vsn2_reads_and_writes_json_arrays() -> None:
    frame = JsonArrays().decode('["3","4","realtime:a","broadcast",{"type":"broadcast","event":"e","payload":{"x":1}}]')
    assert frame == Frame("realtime:a", "broadcast", {"type": "broadcast", "event": "e", "payload": {"x": 1}}, "4", "3")
    assert json.loads(JsonArrays().encode(Frame("t", "system", {"a": 1}))) == [None, None, "t", "system", {"a": 1}]


def test_a_binary_json_broadcast_push_is_a_broadcast_with_its_refs() -> None:
    frame = JsonArrays().decode(push_frame("1", "2", "realtime:room", "cursor", b'{"x":3}', meta='{"id":"m1"}'))
    assert frame == Frame(
        "realtime:room",
        "broadcast",
        {"type": "broadcast", "event": "cursor", "payload": {"x": 3}, "id": "m1"},
        "2",
        "1",
    )


def test_a_binary_payload_goes_back_out_as_kind_4_and_is_emptied_for_vsn1() -> None:
    frame = JsonArrays().decode(push_frame("1", "2", "realtime:room", "blob", b"\x00\xffraw", encoding=0))
    assert frame.payload["payload"] == b"\x00\xffraw"
    out = JsonArrays().encode(frame)
    assert isinstance(out, bytes)
    assert out[:5] == bytes([4, len("realtime:room"), len("blob"), 0, 0])
    assert out[5:] == b"realtime:roomblob\x00\xffraw"
    assert json.loads(JsonObjects().encode(frame))["payload"]["payload"] == {}


@pytest.mark.parametrize(
    ("serializer", "data"),
    [
        (JsonObjects(), "not json"),
        (JsonObjects(), "[1,2]"),
        (JsonObjects(), '{"topic":"t","event":"e","payload":[]}'),
        (JsonObjects(), '{"topic":1,"event":"e","payload":{}}'),
        (JsonObjects(), b"\x03binary"),
        (JsonArrays(), '["1","2","t","e"]'),
        (JsonArrays(), '["1","2","t","e","payload"]'),
        (JsonArrays(), b"\x09"),
        (JsonArrays(), bytes([3, 5, 0, 0, 0, 0, 1]) + b"ab"),  # shorter than its header says
        (JsonArrays(), bytes([3, 0, 0, 0, 0, 0, 7])),  # unknown payload encoding
        (JsonArrays(), push_frame("1", "2", "t", "e", b"{not json")),
    ],
)
def test_frames_that_cannot_be_read_are_protocol_errors(
    serializer: JsonObjects | JsonArrays, data: str | bytes
) -> None:
    with pytest.raises(ProtocolError):
        serializer.decode(data)


def test_numeric_refs_are_read_as_text_and_versions_are_known() -> None:
    assert JsonObjects().decode('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":5}').ref == "5"
    assert isinstance(getattr(serializer_for(None), "inner", None), JsonObjects)
    assert isinstance(getattr(serializer_for("2.0.0"), "inner", None), JsonArrays)
    assert serializer_for("3.0.0") is None


def test_a_frame_sent_to_many_sockets_is_encoded_once() -> None:
    shared = serializer_for("1.0.0")
    assert shared is not None
    frame = Frame("realtime:t", "postgres_changes", {"ids": [1], "data": {}})
    first = shared.encode(frame)
    assert shared.encode(frame) is first
    assert shared.encode(Frame("realtime:t", "postgres_changes", {"ids": [1], "data": {}})) is not first
    for n in range(100):  # bounded: old frames are dropped
        shared.encode(Frame("realtime:t", "x", {"n": n}))
    assert len(shared._encoded) <= 32  # type: ignore[attr-defined]
