"""The sans-IO wire codec: bytes in, messages out; bad bytes are a ProtocolError for good."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import transports._codec as codec
from actors import TCP, Address, LocalMessage, Route, local, route
from transports import (
    MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    ProtocolError,
    WireDecoder,
    decode_body,
    encode_message,
)

VERSION = bytes((PROTOCOL_VERSION,))


def _header(size: int) -> bytes:
    return size.to_bytes(4, "big")


def _message(payload: bytes = b"hello") -> LocalMessage:
    return LocalMessage(
        route("hop", "uppercase"), Route([Address(TCP, "127.0.0.1:7000"), local("app")]), payload
    )


_addresses = st.builds(Address, st.integers(0, 255), st.text(max_size=40)) | st.builds(
    lambda v: local(v), st.sampled_from(["echo", "uppercase", "hop", "a" * 32])
)
_routes = st.lists(_addresses, max_size=5).map(Route)
_messages = st.builds(LocalMessage, _routes, _routes, st.binary(max_size=2000))


def test_one_message_round_trip() -> None:
    message = _message()
    frame = encode_message(message)
    assert frame[:4] == _header(len(frame) - 4)
    assert decode_body(frame[4:]) == message
    decoder = WireDecoder()
    assert decoder.receive_data(VERSION + frame) == [message]
    assert decoder.version_seen


def test_the_envelope_is_ockam_shaped() -> None:
    # [onward, return, payload], each address the two-element array [type, value].
    frame = encode_message(_message(b"x"))
    assert msgspec.msgpack.decode(frame[4:]) == [
        [[0, "hop"], [0, "uppercase"]],
        [[1, "127.0.0.1:7000"], [0, "app"]],
        b"x",
    ]


def test_partial_frames_wait_for_the_rest() -> None:
    frame = encode_message(_message())
    decoder = WireDecoder()
    seen = [decoder.version_seen]
    assert decoder.receive_data(b"") == []
    seen.append(decoder.version_seen)
    assert decoder.receive_data(VERSION) == []
    seen.append(decoder.version_seen)
    assert seen == [False, False, True]
    assert decoder.receive_data(frame[:3]) == []
    assert decoder.receive_data(frame[3:-1]) == []
    assert decoder.receive_data(frame[-1:]) == [_message()]


@settings(max_examples=300)
@given(st.lists(_messages, max_size=8), st.data())
def test_round_trip_under_any_chunking(messages: list[LocalMessage], data: st.DataObject) -> None:
    assert _decoded_in_reads(messages, data, max_reads=20, reuse=False) == messages


def test_via_is_pushed_onto_each_return_route() -> None:
    connection = local("c" * 32)
    message = _message()
    frame = encode_message(message)
    assert decode_body(frame[4:], via=connection) == LocalMessage(
        message.onward_route, message.return_route.prepend(connection), message.payload
    )
    no_return = LocalMessage(route("echo"), Route(), b"")
    decoder = WireDecoder(via=connection)
    assert decoder.receive_data(VERSION + frame + encode_message(no_return)) == [
        LocalMessage(message.onward_route, message.return_route.prepend(connection), b"hello"),
        LocalMessage(route("echo"), Route((connection,)), b""),
    ]


@settings(max_examples=300)
@given(st.lists(_messages, min_size=1, max_size=6), st.data())
def test_a_reused_read_buffer_does_not_change_what_was_received(
    messages: list[LocalMessage], data: st.DataObject
) -> None:
    # A reader may receive into one buffer again and again: what the decoder kept of an
    # earlier read (a frame's first part) must be its own copy.
    assert _decoded_in_reads(messages, data, max_reads=10, reuse=True) == messages


def _decoded_in_reads(
    messages: list[LocalMessage], data: st.DataObject, *, max_reads: int, reuse: bool
) -> list[LocalMessage]:
    """What a `WireDecoder` makes of `messages`' wire form, cut into reads where hypothesis
    says; with `reuse`, each read's buffer is overwritten once decoded, as a reader's is."""
    wire = VERSION + b"".join(encode_message(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=max_reads)))
    decoder = WireDecoder()
    received: list[LocalMessage] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        chunk = bytearray(wire[start:cut])
        received += decoder.receive_data(chunk if reuse else memoryview(wire)[start:cut])
        if reuse:
            chunk[:] = b"\xff" * len(chunk)
        start = cut
    return received


def test_a_frame_split_between_reads_is_completed_from_the_next_one() -> None:
    first, second = encode_message(_message(b"a" * 100)), encode_message(_message(b"b"))
    decoder = WireDecoder()
    assert decoder.receive_data(VERSION + first[:2]) == []  # half a header
    assert decoder.receive_data(first[2:50]) == []  # the header, then part of the body
    # The rest of the first frame, a whole second one and the start of a third in one read.
    assert decoder.receive_data(first[50:] + second + first[:10]) == [
        _message(b"a" * 100),
        _message(b"b"),
    ]
    assert decoder.receive_data(first[10:]) == [_message(b"a" * 100)]


def test_a_split_header_over_the_limit_is_refused_once_whole() -> None:
    decoder = WireDecoder(max_frame_size=100)
    assert decoder.receive_data(VERSION + _header(101)[:3]) == []
    with pytest.raises(ProtocolError, match="a frame of 101 bytes is over the 100 byte limit"):
        decoder.receive_data(_header(101)[3:] + b"x")


def test_a_split_undecodable_frame_is_refused_once_whole() -> None:
    decoder = WireDecoder()
    assert decoder.receive_data(VERSION + _header(3) + b"\xc1") == []
    with pytest.raises(ProtocolError, match="undecodable frame") as info:
        decoder.receive_data(b"\xc1\xc1")
    _assert_broken(decoder, info.value)


@pytest.mark.parametrize("version", [0, 2, 0x80, 0xFF])
def test_wrong_version_byte(version: int) -> None:
    decoder = WireDecoder()
    with pytest.raises(ProtocolError, match=f"protocol version {version} is not supported"):
        decoder.receive_data(bytes((version,)) + encode_message(_message()))


def test_frame_over_16_mib_is_refused_from_its_header() -> None:
    assert MAX_FRAME_SIZE == 16 * 1024 * 1024
    decoder = WireDecoder()
    # Only the header claims the size: nothing close to 16 MiB is allocated.
    with pytest.raises(ProtocolError, match=f"a frame of {MAX_FRAME_SIZE + 1} bytes is over"):
        decoder.receive_data(VERSION + _header(MAX_FRAME_SIZE + 1))


def test_largest_length_is_refused_too() -> None:
    decoder = WireDecoder()
    assert decoder.receive_data(VERSION + b"\xff\xff") == []
    with pytest.raises(ProtocolError, match="over the 16777216 byte limit"):
        decoder.receive_data(b"\xff\xff")


def test_a_frame_of_exactly_the_limit_is_waited_for() -> None:
    decoder = WireDecoder(max_frame_size=100)
    assert decoder.receive_data(VERSION + _header(100) + b"\x00" * 10) == []
    decoder = WireDecoder(max_frame_size=100)
    with pytest.raises(ProtocolError, match="a frame of 101 bytes is over the 100 byte limit"):
        decoder.receive_data(VERSION + _header(101))


def test_encoding_over_the_limit_is_refused_and_leaves_the_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(codec, "MAX_FRAME_SIZE", 100)
    buffer = bytearray(b"kept")
    with pytest.raises(ProtocolError, match="is over the 100 byte limit"):
        codec.encode_message_into(_message(b"x" * 200), buffer)
    assert buffer == b"kept"
    codec.encode_message_into(_message(b"x" * 10), buffer)
    assert bytes(buffer[4:8]) == _header(len(buffer) - 8)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x93",  # an array of three, then nothing
        msgspec.msgpack.encode({"onward": [], "ret": [], "payload": b""}),
        msgspec.msgpack.encode([[], []]),
        msgspec.msgpack.encode([[["0", "x"]], [], b""]),
        msgspec.msgpack.encode([[[0, "x"]], [], "text, not bytes"]),
        msgspec.msgpack.encode([[[0, b"\xff"]], [], b""]),
    ],
)
def test_undecodable_frames(body: bytes) -> None:
    for decoder in (WireDecoder(), WireDecoder(via=local("c" * 32))):
        with pytest.raises(ProtocolError, match="undecodable frame"):
            decoder.receive_data(VERSION + _header(len(body)) + body)
    with pytest.raises(ProtocolError, match="undecodable frame"):
        decode_body(body, via=local("c" * 32))


def _assert_broken(decoder: WireDecoder, error: ProtocolError) -> None:
    """After an error every call raises it again, even with good bytes."""
    for data in (b"", VERSION, encode_message(_message())):
        with pytest.raises(ProtocolError) as again:
            decoder.receive_data(data)
        assert again.value is error


def test_the_decoder_stays_broken_after_an_error() -> None:
    decoder = WireDecoder()
    good = encode_message(_message())
    assert decoder.receive_data(VERSION + good) == [_message()]
    with pytest.raises(ProtocolError) as info:
        decoder.receive_data(good + _header(1) + b"\xc1")
    _assert_broken(decoder, info.value)


_msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
# Random bytes, and well-formed msgpack of the wrong shape (which reaches validation).
_bodies = st.binary(max_size=300) | _msgpack_values.map(msgspec.msgpack.encode)


@settings(max_examples=1000)
@given(_bodies)
def test_undecodable_bytes_are_a_protocol_error_and_break_the_decoder(body: bytes) -> None:
    try:
        decode_body(body)
    except ProtocolError:
        pass
    else:
        assume(False)  # a valid envelope by chance: not what this test is about
    decoder = WireDecoder()
    good = encode_message(_message())
    with pytest.raises(ProtocolError, match="undecodable frame") as info:
        decoder.receive_data(VERSION + good + _header(len(body)) + body + good)
    _assert_broken(decoder, info.value)


@settings(max_examples=1000)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_give_messages_or_a_protocol_error(data: bytes) -> None:
    decoder = WireDecoder()
    try:
        messages: list[Any] = decoder.receive_data(data)
    except ProtocolError:
        return
    # Whatever decodes is a well-formed message that encodes back to its own frame.
    for message in messages:
        assert isinstance(message, LocalMessage)
        assert decode_body(encode_message(message)[4:]) == message
