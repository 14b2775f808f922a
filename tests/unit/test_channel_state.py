"""The secure channel's state machine without sockets: two `ChannelMachine`s joined by a fake
link (`channel_link.Link`), on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import route
from secure import (
    TRANSITIONS,
    Answer,
    ChannelMachine,
    ChannelProtocolError,
    ChannelState,
    Closed,
    Deliver,
    DropReason,
    Encrypted,
    Established,
    Finish,
    Hello,
    Input,
    LocalProtocolError,
    MessageDropped,
    Refuse,
    RemoteProtocolError,
    Transmit,
    encode_channel_message,
)
from secure._channel_protocol import outer_decoder

from .channel_link import (
    ALICE,
    BOB,
    FROM_INITIATOR,
    FROM_RESPONDER,
    HANDSHAKE,
    INTERVAL,
    TIMEOUT,
    Link,
)

State = ChannelState


def reference() -> dict[str, bytes]:
    """The messages of another channel's whole life: foreign to every other link."""
    link = Link()
    link.exchange()
    close = link.responder.close()
    assert close is not None
    return {**link.sent, "close": close, "refuse": encode_channel_message(Refuse("go away"))}


REFERENCE = reference()


def state(machine: ChannelMachine) -> ChannelState:
    """`machine.state` (read through a call, which mypy does not narrow across transitions)."""
    return machine.state


# --- the genuine exchange ----------------------------------------------------------------------


def test_a_handshake_then_data_both_ways() -> None:
    link = Link()
    hello = link.initiator.start(link.now)
    assert state(link.initiator) is State.AWAIT_ANSWER
    answer = link.to_responder(hello)
    assert isinstance(answer, Transmit)
    assert state(link.responder) is State.AWAIT_FINISH
    assert link.responder.route == link.responder.peer == FROM_INITIATOR

    finish = link.to_initiator(answer.data)
    assert isinstance(finish, Transmit)
    assert state(link.initiator) is State.AWAIT_READY
    assert link.initiator.peer == FROM_RESPONDER  # learned from message 2
    assert link.initiator.route == route("relay", "api")  # still what it was opened along

    established = link.to_responder(finish.data)
    assert isinstance(established, Established)
    assert established.remote.identifier == ALICE.identifier
    assert established.data is not None  # Ready, encrypted
    assert state(link.responder) is State.ESTABLISHED
    confirmed = link.to_initiator(established.data)
    assert isinstance(confirmed, Established)
    assert confirmed.remote.identifier == BOB.identifier
    assert state(link.initiator) is State.ESTABLISHED

    onward, back = route("uppercase").addresses, route("client").addresses
    data = link.initiator.send(onward, back, b"hello", link.now)
    delivered = link.to_responder(data)
    assert delivered == Deliver(onward, back, b"hello")
    reply = link.responder.send(back, route("uppercase").addresses, b"HELLO", link.now)
    assert link.to_initiator(reply) == Deliver(back, route("uppercase").addresses, b"HELLO")
    # Ready and one message each way
    assert link.responder.frames_sent == link.initiator.frames_received == 2
    assert link.initiator.frames_sent == link.responder.frames_received == 1
    assert link.initiator.frames_dropped == link.responder.frames_dropped == 0


def test_the_payload_crosses_encrypted() -> None:
    link = Link()
    link.handshake()
    secret = b"a secret nobody on the path may read"
    data = link.initiator.send(route("echo").addresses, (), secret, link.now)
    assert secret not in data
    assert isinstance(msgspec.msgpack.decode(data), list)  # Encrypted: [3, frame]


def test_close_tells_the_other_end_once() -> None:
    link = Link()
    link.exchange()
    goodbye = link.initiator.close()
    assert goodbye is not None
    assert link.initiator.state is State.CLOSED
    assert link.initiator.close() is None  # already closed: nothing more to say
    closed = link.to_responder(goodbye)
    assert closed == Closed("the other end closed it", by_peer=True)
    assert link.responder.state is State.CLOSED
    assert link.responder.close() is None  # the other end knows


@pytest.mark.parametrize("tell_peer", [True, False])
def test_closing_during_the_handshake_says_nothing(tell_peer: bool) -> None:
    link = Link()
    link.to_responder(link.initiator.start(link.now))
    assert link.initiator.close(tell_peer=tell_peer) is None
    assert link.responder.close(tell_peer=tell_peer) is None
    assert link.initiator.state is link.responder.state is State.CLOSED


def test_closing_without_telling_the_peer() -> None:
    link = Link()
    link.handshake()
    assert link.initiator.close(tell_peer=False) is None  # its connection is gone
    assert link.initiator.state is State.CLOSED


# --- refused messages: out of order, replayed, after the end, truncated ------------------------

# Who encrypted each frame of `Link.exchange` (and of the reference's close).
FRAME_FROM = {
    "ready": "responder",
    "deliver": "initiator",
    "reply": "responder",
    "heartbeat": "initiator",
    "close": "responder",
}
KINDS = ["hello", "answer", "finish", "ready", "deliver", "reply", "heartbeat", "close", "refuse"]


def _initiator_closed(link: Link) -> ChannelMachine:
    link.exchange()
    close = link.responder.close()
    assert close is not None
    link.sent["close"] = close
    assert isinstance(link.to_initiator(close), Closed)
    return link.initiator


def _responder_closed(link: Link) -> ChannelMachine:
    link.exchange()
    link.sent["close"] = link.responder.close() or b""
    return link.responder


def _initiator_failed(link: Link) -> ChannelMachine:
    link.handshake(until="hello")
    with pytest.raises(RemoteProtocolError):
        link.to_initiator(encode_channel_message(Refuse("no")))
    return link.initiator


def _handshake_until(until: str, role: str) -> Callable[[Link], ChannelMachine]:
    def run(link: Link) -> ChannelMachine:
        link.handshake(until=until)
        return link.initiator if role == "initiator" else link.responder

    return run


def _exchanged(role: str) -> Callable[[Link], ChannelMachine]:
    def run(link: Link) -> ChannelMachine:
        link.exchange()
        return link.initiator if role == "initiator" else link.responder

    return run


POSITIONS: dict[str, tuple[Callable[[Link], ChannelMachine], str | None]] = {
    # name: (how to get there, the message that comes next in order)
    "responder before hello": (lambda link: link.responder, "hello"),
    "initiator awaiting answer": (_handshake_until("answer", "initiator"), "answer"),
    "responder awaiting finish": (_handshake_until("finish", "responder"), "finish"),
    "initiator awaiting ready": (_handshake_until("ready", "initiator"), "ready"),
    "initiator established": (_exchanged("initiator"), None),
    "responder established": (_exchanged("responder"), None),
    "initiator closed": (_initiator_closed, None),
    "responder closed": (_responder_closed, None),
    "initiator failed": (_initiator_failed, None),
}
HANDSHAKING = {"responder before hello", "initiator awaiting answer", "responder awaiting finish"}


def expected_drop(position: str, kind: str, machine: ChannelMachine, data: bytes) -> DropReason:
    """Why `machine`, at `position`, refuses `data`, a message of `kind`."""
    if machine.state in (State.CLOSED, State.ERROR):
        return DropReason.CLOSED
    if kind not in FRAME_FROM or position in HANDSHAKING:
        return DropReason.UNEXPECTED  # a clear message out of turn, or a frame before keys
    # The counter is checked before the tag: a counter already taken is a replay, whoever
    # encrypted the frame; any other is another channel's or the other direction's key.
    counter = int.from_bytes(msgspec.msgpack.decode(data, type=Encrypted).frame[:8], "big")
    return DropReason.REPLAYED if counter < machine.frames_received else DropReason.TAMPERED


def _refused_cases() -> list[tuple[str, str]]:
    cases = []
    for position, (_, next_kind) in POSITIONS.items():
        for kind in KINDS:
            if kind == next_kind:
                continue  # in order: accepted (the handshake tests)
            if kind == "refuse" and position in HANDSHAKING | {"initiator awaiting ready"}:
                continue  # obeyed during the handshake (test_a_refusal_ends_the_handshake)
            cases.append((position, kind))
    return cases


@pytest.mark.parametrize(("position", "kind"), _refused_cases())
def test_a_message_out_of_order_replayed_or_after_the_end_is_refused(
    position: str, kind: str
) -> None:
    link = Link()
    machine = POSITIONS[position][0](link)
    data = link.sent.get(kind, REFERENCE[kind])
    expected = expected_drop(position, kind, machine, data)
    before = machine.state, machine.frames_received, machine.peer
    deliver = link.to_initiator if machine is link.initiator else link.to_responder

    with pytest.raises(MessageDropped) as refused:
        deliver(data)

    assert refused.value.reason is expected
    assert (machine.state, machine.frames_received, machine.peer) == before


@pytest.mark.parametrize(
    "position",
    [
        "responder before hello",
        "initiator awaiting answer",
        "responder awaiting finish",
        "initiator awaiting ready",
    ],
)
@pytest.mark.parametrize("cut", [1, 0.5, -1])
def test_a_truncated_handshake_message_is_refused_and_the_handshake_goes_on(
    position: str, cut: float
) -> None:
    link = Link()
    run, kind = POSITIONS[position]
    machine = run(link)
    assert kind is not None
    data = link.sent.get(kind) or link.initiator.start(link.now)  # no hello written yet
    before = machine.state
    end = int(len(data) * cut) if isinstance(cut, float) else cut

    with pytest.raises(MessageDropped) as refused:
        machine.receive(data[:end], FROM_INITIATOR, link.now)

    assert refused.value.reason is DropReason.MALFORMED
    assert machine.state is before
    assert isinstance(machine.receive(data, FROM_INITIATOR, link.now), Transmit | Established)


@pytest.mark.parametrize("kind", ["deliver", "heartbeat"])
@pytest.mark.parametrize(
    ("cut", "reason"),
    [(-1, DropReason.TAMPERED), (20, DropReason.MALFORMED), (0, DropReason.MALFORMED)],
)
def test_a_truncated_frame_is_refused_and_the_channel_goes_on(
    kind: str, cut: int, reason: DropReason
) -> None:
    link = Link()
    link.handshake()
    if kind == "deliver":
        data = link.initiator.send(route("echo").addresses, (), b"x" * 100, link.now)
    else:
        link.now += INTERVAL
        heartbeat = link.initiator.tick(link.now)
        assert isinstance(heartbeat, Transmit)
        data = heartbeat.data
    frame = msgspec.msgpack.decode(data, type=Encrypted).frame

    with pytest.raises(MessageDropped) as refused:
        link.to_responder(encode_channel_message(Encrypted(frame[:cut])))

    assert refused.value.reason is reason
    assert (link.responder.frames_dropped, link.responder.frames_received) == (1, 0)
    assert link.to_responder(data) == (
        Deliver(route("echo").addresses, (), b"x" * 100) if kind == "deliver" else None
    )


def test_a_refusal_is_ignored_once_established() -> None:
    link = Link()
    link.handshake()
    with pytest.raises(MessageDropped) as refused:
        link.to_initiator(encode_channel_message(Refuse("forged on the path")))
    assert refused.value.reason is DropReason.UNEXPECTED
    assert link.initiator.state is State.ESTABLISHED


@pytest.mark.parametrize(
    "position",
    ["initiator awaiting answer", "responder awaiting finish", "initiator awaiting ready"],
)
def test_a_refusal_ends_the_handshake(position: str) -> None:
    link = Link()
    machine = POSITIONS[position][0](link)
    refusal = encode_channel_message(Refuse("not today"))
    with pytest.raises(RemoteProtocolError, match="refused the secure channel: not today") as e:
        machine.receive(refusal, FROM_RESPONDER, link.now)
    assert e.value.refusal is None  # never answer a refusal
    assert machine.state is State.ERROR


@pytest.mark.parametrize("source", ["tampered", "foreign"])
@pytest.mark.parametrize("kind", ["answer", "finish"])
def test_a_bad_handshake_message_fails_the_handshake_and_tells_the_other_end(
    kind: str, source: str
) -> None:
    link = Link()
    link.handshake(until=kind)
    if kind == "answer":
        machine, deliver = link.initiator, link.to_initiator
    else:
        machine, deliver = link.responder, link.to_responder
    data = link.sent[kind] if source == "tampered" else REFERENCE[kind]
    if source == "tampered":  # the last byte of the Noise message is its tag
        sent = outer_decoder.decode(data)
        assert isinstance(sent, Answer | Finish)
        tag = sent.message[-1] ^ 1
        data = encode_channel_message(
            msgspec.structs.replace(sent, message=sent.message[:-1] + bytes([tag]))
        )

    with pytest.raises(RemoteProtocolError, match=r"the handshake with the .* failed") as failed:
        deliver(data)

    assert machine.state is State.ERROR
    assert failed.value.refusal is not None
    assert msgspec.msgpack.decode(failed.value.refusal, type=Refuse).reason == str(failed.value)


def test_a_bad_hello_is_answered_with_a_refusal() -> None:
    link = Link()
    with pytest.raises(RemoteProtocolError, match="bad handshake message 1") as failed:
        link.to_responder(encode_channel_message(Hello(b"\x00" * 5)))
    assert failed.value.refusal is not None
    assert link.responder.state is State.ERROR


def test_a_hello_without_a_return_route_is_dropped() -> None:
    link = Link()
    with pytest.raises(MessageDropped) as refused:
        link.responder.receive(link.initiator.start(link.now), route(), link.now)
    assert refused.value.reason is DropReason.MALFORMED
    assert link.responder.state is State.START


# --- --authorized ------------------------------------------------------------------------------


def test_the_initiator_refuses_a_listener_it_does_not_authorize() -> None:
    link = Link(initiator_authorizes=[ALICE.identifier])  # not Bob
    answer = link.to_responder(link.initiator.start(link.now))
    assert isinstance(answer, Transmit)

    with pytest.raises(RemoteProtocolError) as refused:
        link.to_initiator(answer.data)

    assert f"the listener's identity {BOB.identifier} is not authorized" in str(refused.value)
    assert link.initiator.state is State.ERROR
    assert refused.value.refusal is not None
    with pytest.raises(RemoteProtocolError) as told:
        link.to_responder(refused.value.refusal)  # the responder learns why, at once
    assert f"the initiator does not authorize identity {BOB.identifier}" in str(told.value)
    assert link.responder.state is State.ERROR


def test_the_responder_refuses_an_initiator_it_does_not_authorize() -> None:
    link = Link(responder_authorizes=[BOB.identifier])  # not Alice
    answer = link.to_responder(link.initiator.start(link.now))
    assert isinstance(answer, Transmit)
    finish = link.to_initiator(answer.data)
    assert isinstance(finish, Transmit)

    with pytest.raises(RemoteProtocolError) as refused:
        link.to_responder(finish.data)

    message = str(refused.value)
    assert f"listener api: refused identity {ALICE.identifier}, which is not authorized" in message
    assert link.responder.state is State.ERROR
    assert refused.value.refusal is not None
    with pytest.raises(RemoteProtocolError) as told:
        link.to_initiator(refused.value.refusal)
    assert f"identity {ALICE.identifier} is not authorized to open channels" in str(told.value)
    assert link.initiator.state is State.ERROR


def test_authorized_identities_get_through() -> None:
    link = Link(initiator_authorizes=[BOB.identifier], responder_authorizes=[ALICE.identifier])
    link.handshake()
    assert link.initiator.remote_identity is not None
    assert link.initiator.remote_identity.identifier == BOB.identifier


# --- keepalive and handshake deadlines, on a fake clock ---------------------------------------


def test_a_heartbeat_after_the_interval_of_sending_nothing() -> None:
    link = Link()
    link.handshake()
    assert link.initiator.deadline == INTERVAL
    assert link.initiator.tick(INTERVAL - 0.001) is None

    link.now = INTERVAL
    heartbeat = link.initiator.tick(link.now)

    assert isinstance(heartbeat, Transmit)
    assert link.to_responder(heartbeat.data) is None  # counted, delivered to no one
    assert link.responder.frames_received == 1
    assert link.initiator.deadline == 2 * INTERVAL
    assert link.initiator.tick(link.now) is None  # one per interval


def test_sending_postpones_the_heartbeat() -> None:
    link = Link()
    link.handshake()
    link.now = 3.0
    link.initiator.send(route("echo").addresses, (), b"x", link.now)
    assert link.initiator.deadline == 3.0 + INTERVAL
    assert link.initiator.tick(INTERVAL) is None


def test_the_channel_ends_after_the_timeout_of_receiving_nothing() -> None:
    link = Link()
    link.handshake()
    # The initiator keeps sending heartbeats that never arrive; nothing comes back.
    while True:
        link.now = link.initiator.deadline
        event = link.initiator.tick(link.now)
        if not isinstance(event, Transmit):
            break
    assert link.now == TIMEOUT
    assert isinstance(event, Closed)
    assert not event.by_peer
    assert f"no traffic received from the listener at {link.initiator.route}" in event.reason
    assert f"for {TIMEOUT:g} s" in event.reason
    assert link.initiator.state is State.CLOSED
    assert link.initiator.close() is None  # silent: the other end is gone


def test_receiving_anything_postpones_the_end() -> None:
    link = Link()
    link.handshake()
    for _ in range(10):  # well past the timeout, heartbeats both ways
        link.now += INTERVAL
        for sender, deliver in (
            (link.initiator, link.to_responder),
            (link.responder, link.to_initiator),
        ):
            heartbeat = sender.tick(link.now)
            assert isinstance(heartbeat, Transmit)
            assert deliver(heartbeat.data) is None
    assert link.initiator.state is link.responder.state is State.ESTABLISHED
    assert link.initiator.deadline == link.now + INTERVAL


def test_a_responder_gives_up_on_an_unfinished_handshake() -> None:
    link = Link()
    link.now = 100.0
    link.handshake(until="finish")
    assert link.responder.deadline == 100.0 + HANDSHAKE
    assert link.responder.tick(100.0 + HANDSHAKE - 0.001) is None
    with pytest.raises(RemoteProtocolError, match="did not finish the handshake within 10 s"):
        link.responder.tick(100.0 + HANDSHAKE)
    assert link.responder.state is State.ERROR
    assert link.responder.deadline == float("inf")


def test_an_initiator_leaves_its_handshake_deadline_to_its_creator() -> None:
    link = Link()
    link.initiator.start(link.now)
    assert link.initiator.deadline == float("inf")
    assert link.initiator.tick(1e9) is None


# --- local errors ------------------------------------------------------------------------------


def test_sending_before_the_channel_is_established_is_a_local_error() -> None:
    link = Link()
    link.initiator.start(link.now)
    with pytest.raises(LocalProtocolError, match="cannot send"):
        link.initiator.send(route("echo").addresses, (), b"too early", link.now)
    assert link.initiator.state is State.ERROR


@pytest.mark.parametrize("who", ["initiator twice", "responder"])
def test_starting_wrongly_is_a_local_error(who: str) -> None:
    link = Link()
    machine = link.responder
    if who == "initiator twice":
        machine = link.initiator
        machine.start(link.now)
    with pytest.raises(LocalProtocolError, match="cannot start"):
        machine.start(link.now)
    assert machine.state is State.ERROR


def test_sending_after_close_is_a_local_error() -> None:
    link = Link()
    link.handshake()
    link.initiator.close()
    with pytest.raises(LocalProtocolError):
        link.initiator.send(route("echo").addresses, (), b"late", link.now)


# --- the table ---------------------------------------------------------------------------------


def test_the_data_path_is_the_tables() -> None:
    # receive() and send() handle Deliver and SEND without the table; the table must agree.
    for (_, state), row in TRANSITIONS.items():
        if state is State.ESTABLISHED:
            assert row[Deliver] is State.ESTABLISHED
            assert row[Input.SEND] is State.ESTABLISHED
        else:
            assert Deliver not in row
            assert Input.SEND not in row
        assert all(target in State for target in row.values())
    for role in ("initiator", "responder"):
        assert TRANSITIONS[role, State.CLOSED] == TRANSITIONS[role, State.ERROR] == {}
        assert {s for r, s in TRANSITIONS if r == role} == set(State) - {
            State.AWAIT_FINISH if role == "initiator" else State.AWAIT_ANSWER,
            *((State.AWAIT_READY,) if role == "responder" else ()),
        }


# --- anything at all ----------------------------------------------------------------------------


def _wrapped(data: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            encode_channel_message(Hello(data)),
            encode_channel_message(Answer(data)),
            encode_channel_message(Finish(data)),
            encode_channel_message(Encrypted(data)),
        ]
    )


@settings(max_examples=300, deadline=None)
@given(
    position=st.sampled_from(sorted(POSITIONS)),
    payloads=st.lists(
        st.one_of(st.binary(max_size=200), st.binary(max_size=200).flatmap(_wrapped)),
        min_size=1,
        max_size=5,
    ),
)
def test_random_bytes_raise_nothing_but_the_typed_errors(
    position: str, payloads: list[bytes]
) -> None:
    link = Link()
    machine = POSITIONS[position][0](link)
    for data in payloads:
        try:
            machine.receive(data, FROM_INITIATOR, link.now)
        except MessageDropped:
            pass
        except ChannelProtocolError:
            assert machine.state is State.ERROR
