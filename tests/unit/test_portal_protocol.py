"""The portal protocol without sockets: two `PortalState`s joined by a fake link (h11 style)."""

from __future__ import annotations

from collections import deque

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portals import (
    CHUNK,
    CREDIT_BATCH,
    LINGER,
    MAX_PAYLOAD,
    MAX_WINDOW,
    WINDOW,
    Blocked,
    Credit,
    Disconnect,
    End,
    LocalPortalError,
    Payload,
    Phase,
    Ping,
    Pong,
    PortalMessage,
    PortalProtocolError,
    PortalState,
    Role,
    decode,
    encode,
)

# --- helpers ---------------------------------------------------------------------------------


class Link:
    """An inlet state and an outlet state; each `to_*` call carries one message across."""

    def __init__(self, *, window: int = WINDOW) -> None:
        self.inlet = PortalState(Role.INLET, window=window)
        self.outlet = PortalState(Role.OUTLET, window=window)

    def to_outlet(self, message: PortalMessage) -> PortalMessage:
        return self.outlet.receive(self.inlet.send(message))

    def to_inlet(self, message: PortalMessage) -> PortalMessage:
        return self.inlet.receive(self.outlet.send(message))


def open_link(*, window: int = WINDOW) -> Link:
    """A link past the handshake: the inlet pinged (the outlet listener took the Ping), Pong."""
    link = Link(window=window)
    assert decode(link.inlet.send(Ping())) == Ping()
    assert link.to_inlet(Pong()) == Pong()
    return link


def phase(state: PortalState) -> Phase:
    """The state's phase (a call, so that mypy does not narrow it across sends)."""
    return state.phase


def fill_window(sender: PortalState, receiver: PortalState) -> None:
    for i in range(sender.window):
        receiver.receive(sender.send(Payload(b"%d" % i)))


# --- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Ping(),
        Ping(b"GET /"),
        Pong(),
        Payload(b"\x00\xff" * 10),
        Credit(16),
        End(),
        Disconnect("bye"),
        Disconnect(),
    ],
)
def test_messages_round_trip(message: PortalMessage) -> None:
    assert decode(encode(message)) == message


def test_wire_form_is_a_tagged_array() -> None:
    assert msgspec.msgpack.decode(encode(Payload(b"ab"))) == ["Payload", b"ab"]
    assert msgspec.msgpack.decode(encode(Credit(3))) == ["Credit", 3, 0]
    assert msgspec.msgpack.decode(encode(Credit(3, 32))) == ["Credit", 3, 32]
    assert msgspec.msgpack.decode(encode(Ping())) == ["Ping", b""]
    assert msgspec.msgpack.decode(encode(Ping(b"GET"))) == ["Ping", b"GET"]


def test_a_full_payload_stays_small() -> None:
    # The portal's own framing adds a few bytes; CHUNK leaves room for the routing envelope
    # and a secure channel within 64 KiB.
    assert len(encode(Payload(bytes(CHUNK)))) <= CHUNK + 16
    assert CHUNK + 4096 <= 64 * 1024
    assert CHUNK <= MAX_PAYLOAD


@pytest.mark.parametrize(
    "data", [b"", b"\xc1", msgspec.msgpack.encode(["Nope"]), b"\x92\xa6Credit"]
)
def test_undecodable_bytes_are_a_protocol_error(data: bytes) -> None:
    with pytest.raises(PortalProtocolError):
        decode(data)


# --- handshake -------------------------------------------------------------------------------


def test_handshake_opens_both_sides_with_a_full_window() -> None:
    link = Link()
    assert phase(link.inlet) is Phase.IDLE
    link.inlet.send(Ping())
    assert phase(link.inlet) is Phase.PINGING
    assert not link.inlet.can_send_payload
    link.to_inlet(Pong())
    for state in (link.inlet, link.outlet):
        assert phase(state) is Phase.OPEN
        assert state.send_credit == WINDOW
        assert state.can_send_payload


def test_the_clients_first_bytes_ride_in_the_ping_as_one_payload_of_the_window() -> None:
    link = Link()
    ping = decode(link.inlet.send(Ping(b"GET / HTTP/1.0\r\n\r\n")))
    assert isinstance(ping, Ping)
    assert link.outlet.ping_received(ping) == b"GET / HTTP/1.0\r\n\r\n"
    link.to_inlet(Pong())
    assert link.inlet.send_credit == WINDOW - 1  # the Ping's bytes are in flight
    assert link.outlet.send_credit == WINDOW
    # Written with the next payloads, they are credited like them.
    link.outlet.payload_written()
    for i in range(CREDIT_BATCH - 2):
        link.to_outlet(Payload(b"%d" % i))
        assert link.outlet.payload_written() is None
    link.to_outlet(Payload(b"last"))
    credit = link.outlet.payload_written()
    assert credit == Credit(CREDIT_BATCH)
    link.to_inlet(credit)
    assert link.inlet.send_credit == WINDOW - 1 - (CREDIT_BATCH - 1) + CREDIT_BATCH


def test_a_ping_without_bytes_leaves_the_whole_window() -> None:
    link = Link()
    ping = decode(link.inlet.send(Ping()))
    assert isinstance(ping, Ping)
    assert link.outlet.ping_received(ping) == b""
    link.to_inlet(Pong())
    assert link.inlet.send_credit == WINDOW
    with pytest.raises(LocalPortalError, match="more payloads written than received"):
        link.outlet.payload_written()


def test_a_ping_holds_at_most_one_payload() -> None:
    inlet = PortalState(Role.INLET)
    with pytest.raises(LocalPortalError, match=f"0 to {MAX_PAYLOAD} bytes"):
        inlet.send(Ping(b"x" * (MAX_PAYLOAD + 1)))
    outlet = PortalState(Role.OUTLET)
    with pytest.raises(PortalProtocolError, match=f"0 to {MAX_PAYLOAD} allowed"):
        outlet.ping_received(Ping(b"x" * (MAX_PAYLOAD + 1)))
    assert phase(outlet) is Phase.ERROR


def test_only_a_waiting_outlet_takes_a_ping() -> None:
    outlet = PortalState(Role.OUTLET)
    outlet.ping_received(Ping(b"a"))
    with pytest.raises(PortalProtocolError, match="a Ping while the outlet is idle"):
        outlet.ping_received(Ping(b"b"))
    link = open_link()
    with pytest.raises(PortalProtocolError, match="a Ping while the inlet is open"):
        link.inlet.ping_received(Ping())


def test_inlet_may_not_send_payload_before_pong() -> None:
    link = Link()
    link.inlet.send(Ping())
    with pytest.raises(LocalPortalError, match="while pinging"):
        link.inlet.send(Payload(b"x"))
    assert phase(link.inlet) is Phase.ERROR


def test_payload_before_pong_is_a_protocol_error() -> None:
    link = Link()
    link.inlet.send(Ping())
    with pytest.raises(PortalProtocolError, match="Payload while this side is pinging"):
        link.inlet.receive(encode(Payload(b"x")))
    assert phase(link.inlet) is Phase.ERROR
    with pytest.raises(PortalProtocolError):
        link.inlet.receive(encode(Pong()))


def test_outlet_accepts_nothing_before_its_pong() -> None:
    link = Link()
    with pytest.raises(PortalProtocolError):
        link.outlet.receive(encode(Ping()))


def test_second_pong_is_a_protocol_error() -> None:
    link = open_link()
    with pytest.raises(PortalProtocolError, match="Pong"):
        link.inlet.receive(encode(Pong()))


def test_ping_after_open_is_a_local_error() -> None:
    link = open_link()
    with pytest.raises(LocalPortalError):
        link.inlet.send(Ping())


def test_outlet_that_cannot_connect_disconnects_instead_of_pong() -> None:
    link = Link()
    link.inlet.send(Ping())
    assert link.to_inlet(Disconnect("cannot connect to 127.0.0.1:9")) == Disconnect(
        "cannot connect to 127.0.0.1:9"
    )
    assert phase(link.inlet) is Phase.CLOSED
    assert link.inlet.closed
    assert phase(link.outlet) is Phase.CLOSING


def test_inlet_cannot_disconnect_before_ping() -> None:
    with pytest.raises(LocalPortalError):
        PortalState(Role.INLET).send(Disconnect())


def test_window_must_allow_batching() -> None:
    with pytest.raises(ValueError, match="window"):
        PortalState(Role.INLET, window=1)


# --- payloads and credit ---------------------------------------------------------------------


def test_payloads_cross_in_both_directions() -> None:
    link = open_link()
    assert link.to_outlet(Payload(b"request")) == Payload(b"request")
    assert link.to_inlet(Payload(b"response")) == Payload(b"response")
    assert link.inlet.send_credit == WINDOW - 1
    assert link.outlet.unacknowledged == 1


def test_sender_stops_at_the_window() -> None:
    link = open_link()
    fill_window(link.inlet, link.outlet)
    assert link.inlet.send_credit == 0
    assert not link.inlet.can_send_payload
    with pytest.raises(LocalPortalError, match="credits are in use"):
        link.inlet.send(Payload(b"one too many"))


def test_receiver_rejects_more_than_the_window() -> None:
    link = open_link()
    for _ in range(WINDOW):
        link.outlet.receive(encode(Payload(b"x")))
    with pytest.raises(PortalProtocolError, match=f"more than {WINDOW} payloads"):
        link.outlet.receive(encode(Payload(b"x")))


def test_credit_returns_after_half_a_window_is_written() -> None:
    link = open_link()
    fill_window(link.inlet, link.outlet)
    credits = [link.outlet.payload_written() for _ in range(CREDIT_BATCH)]
    assert credits[:-1] == [None] * (CREDIT_BATCH - 1)
    assert credits[-1] == Credit(CREDIT_BATCH)
    assert link.to_inlet(Credit(CREDIT_BATCH)) == Credit(CREDIT_BATCH)
    assert link.inlet.send_credit == CREDIT_BATCH
    assert link.outlet.unacknowledged == WINDOW - CREDIT_BATCH


def test_credit_overflow_is_a_protocol_error() -> None:
    link = open_link()
    link.to_outlet(Payload(b"x"))
    with pytest.raises(PortalProtocolError, match="credited 2 payloads; 1 are unacknowledged"):
        link.inlet.receive(encode(Credit(2)))


@pytest.mark.parametrize("messages", [0, -1])
def test_credit_must_be_positive(messages: int) -> None:
    link = open_link()
    link.to_outlet(Payload(b"x"))
    with pytest.raises(PortalProtocolError):
        link.inlet.receive(encode(Credit(messages)))


def test_cannot_credit_what_was_not_written() -> None:
    link = open_link()
    link.to_outlet(Payload(b"x"))
    with pytest.raises(LocalPortalError, match="cannot credit 1"):
        link.outlet.send(Credit(1))


def test_cannot_write_more_than_received() -> None:
    link = open_link()
    with pytest.raises(LocalPortalError, match="more payloads written"):
        link.outlet.payload_written()


@pytest.mark.parametrize("size", [0, MAX_PAYLOAD + 1])
def test_payload_size_limits(size: int) -> None:
    link = open_link()
    with pytest.raises(LocalPortalError, match="1 to"):
        link.inlet.send(Payload(bytes(size)))
    with pytest.raises(PortalProtocolError, match=f"payload of {size} bytes"):
        link.outlet.receive(encode(Payload(bytes(size))))


def test_largest_payload_is_accepted() -> None:
    link = open_link()
    assert link.to_outlet(Payload(bytes(MAX_PAYLOAD))) == Payload(bytes(MAX_PAYLOAD))


# --- half-close and disconnect ---------------------------------------------------------------


def test_half_close_leaves_the_other_direction_open() -> None:
    link = open_link()
    link.to_outlet(Payload(b"request"))
    assert link.to_outlet(End()) == End()
    assert link.inlet.end_sent
    assert link.outlet.end_received
    assert not link.inlet.can_send_payload
    # The response still flows, and the inlet still returns credit for it.
    fill_window(link.outlet, link.inlet)
    credit = None
    for _ in range(CREDIT_BATCH):
        credit = link.inlet.payload_written()
    assert credit == Credit(CREDIT_BATCH)
    link.to_outlet(credit)
    assert link.outlet.send_credit == CREDIT_BATCH


def test_payload_after_end() -> None:
    link = open_link()
    link.to_outlet(End())
    with pytest.raises(LocalPortalError, match="after End"):
        link.inlet.send(Payload(b"x"))
    with pytest.raises(PortalProtocolError, match="Payload after End"):
        link.outlet.receive(encode(Payload(b"x")))


def test_end_twice() -> None:
    link = open_link()
    link.to_outlet(End())
    with pytest.raises(LocalPortalError, match="already sent"):
        link.inlet.send(End())
    with pytest.raises(PortalProtocolError, match="End twice"):
        link.outlet.receive(encode(End()))


def test_no_credit_once_the_peer_ended() -> None:
    link = open_link()
    for _ in range(CREDIT_BATCH):
        link.to_outlet(Payload(b"x"))
    link.to_outlet(End())
    assert [link.outlet.payload_written() for _ in range(CREDIT_BATCH)] == [None] * CREDIT_BATCH


def test_end_written_before_received_is_a_local_error() -> None:
    with pytest.raises(LocalPortalError):
        open_link().inlet.end_written()


def test_graceful_close() -> None:
    link = open_link()
    link.to_outlet(End())
    link.to_inlet(End())
    assert link.inlet.end_received
    assert not link.outlet.finished  # the outlet's socket has not shut down yet
    link.inlet.end_written()
    link.outlet.end_written()
    assert [state.finished for state in (link.inlet, link.outlet)] == [True, True]
    # The inlet finishes first: its Disconnect is answered by the outlet's.
    assert link.to_outlet(Disconnect()) == Disconnect()
    assert phase(link.inlet) is Phase.CLOSING
    assert link.inlet.disconnect_sent
    assert phase(link.outlet) is Phase.PEER_CLOSED
    assert link.outlet.disconnect_due
    link.to_inlet(Disconnect())
    assert phase(link.inlet) is Phase.CLOSED
    assert phase(link.outlet) is Phase.CLOSED


def test_crossing_disconnects_close_both_sides() -> None:
    link = open_link()
    from_inlet = link.inlet.send(Disconnect("client reset"))
    from_outlet = link.outlet.send(Disconnect("server reset"))
    assert link.outlet.receive(from_inlet) == Disconnect("client reset")
    assert link.inlet.receive(from_outlet) == Disconnect("server reset")
    assert link.inlet.closed
    assert link.outlet.closed
    assert not link.inlet.disconnect_due
    assert not link.outlet.disconnect_due


def test_data_sent_before_the_peer_saw_our_disconnect_is_accepted() -> None:
    link = open_link()
    fill_window(link.outlet, link.inlet)
    in_flight = [link.outlet.send(End()), link.outlet.send(Disconnect())]
    link.inlet.send(Disconnect("gone"))
    # The outlet's messages cross ours: accepted while closing, without window checks.
    link.inlet.receive(encode(Payload(b"late")))
    link.inlet.receive(encode(Credit(1)))
    for data in in_flight:
        link.inlet.receive(data)
    assert phase(link.inlet) is Phase.CLOSED
    assert link.inlet.payload_written() is None  # no credit once closing


def test_nothing_may_follow_a_disconnect() -> None:
    link = open_link()
    link.to_outlet(Disconnect())
    with pytest.raises(PortalProtocolError, match="Payload while this side is peer-closed"):
        link.outlet.receive(encode(Payload(b"x")))


def test_disconnect_twice() -> None:
    link = open_link()
    link.inlet.send(Disconnect())
    with pytest.raises(LocalPortalError):
        link.inlet.send(Disconnect())
    link = open_link()
    link.outlet.receive(encode(Disconnect()))
    with pytest.raises(PortalProtocolError):
        link.outlet.receive(encode(Disconnect()))


def test_no_sending_after_disconnect() -> None:
    for message in (Payload(b"x"), End()):
        state = open_link().inlet
        state.send(Disconnect())
        with pytest.raises(LocalPortalError):
            state.send(message)


def test_repr_names_role_and_phase() -> None:
    assert "inlet open" in repr(open_link().inlet)


# --- closing: events and `now` in, the Disconnect to send, `done` and `deadline` out -----------


def done(state: PortalState) -> bool:
    """`state.done` (a call, so that mypy does not narrow it across events)."""
    return state.done


def test_a_side_that_closes_tells_the_peer_and_lingers_for_its_answer() -> None:
    link = open_link()
    data = link.inlet.close("reading the stream failed: reset", now=100.0)
    assert data is not None
    assert decode(data) == Disconnect("reading the stream failed: reset")
    assert phase(link.inlet) is Phase.CLOSING
    assert not done(link.inlet)
    assert link.inlet.deadline == 100.0 + LINGER
    assert link.inlet.close_reason == "reading the stream failed: reset"
    # The outlet hears it, answers, and may stop once what it received before is written.
    assert link.outlet.receive(data, now=100.5) == Disconnect("reading the stream failed: reset")
    assert link.outlet.disconnect_due
    assert link.outlet.deadline == 100.5 + LINGER
    assert link.outlet.close_reason == "the peer disconnected: reading the stream failed: reset"
    answer = link.outlet.send(Disconnect())
    assert not done(link.outlet)
    link.outlet.writes_flushed()
    assert done(link.outlet)
    link.inlet.receive(answer, now=101.0)
    assert done(link.inlet)
    assert phase(link.inlet) is Phase.CLOSED


def test_both_directions_ended_is_a_clean_close() -> None:
    link = open_link()
    link.to_outlet(End())
    link.to_inlet(End())
    link.inlet.end_written()
    data = link.inlet.close("", now=0.0)
    assert data is not None
    assert decode(data) == Disconnect()
    assert link.inlet.close_reason == "both sides ended"


def test_a_side_whose_route_is_gone_stops_at_once_and_sends_nothing() -> None:
    link = open_link()
    assert link.inlet.close("the route to the peer is gone", now=5.0, notify=False) is None
    assert done(link.inlet)
    assert link.inlet.close_reason == "the route to the peer is gone"


def test_closing_again_keeps_the_first_reason_and_sends_nothing_more() -> None:
    link = open_link()
    assert link.inlet.close("first", now=0.0) is not None
    assert link.inlet.close("second", now=1.0) is None
    assert link.inlet.close_reason == "first"
    assert link.inlet.deadline == LINGER


def test_a_stopped_carrier_ends_the_portal_unless_the_peer_said_its_last_word() -> None:
    link = open_link()
    link.outlet.carrier_stopped("the worker carrying the portal (0#c) stopped")
    assert done(link.outlet)
    assert link.outlet.close_reason == "the worker carrying the portal (0#c) stopped"
    # After the peer's Disconnect the shell still flushes, until its deadline.
    other = open_link()
    other.outlet.receive(other.inlet.send(Disconnect()), now=3.0)
    other.outlet.carrier_stopped("the worker carrying the portal (0#c) stopped")
    assert not done(other.outlet)
    assert other.outlet.close_reason == ""
    assert other.outlet.deadline == 3.0 + LINGER


def test_a_worker_stopped_from_outside_disconnects_only_when_the_peer_can_hear_it() -> None:
    link = open_link()
    assert link.inlet.stopping(reachable=False) is None
    data = link.inlet.stopping(reachable=True)
    assert data is not None
    assert decode(data) == Disconnect("the portal worker was stopped")
    closed = open_link()
    closed.inlet.close("the route to the peer is gone", now=0.0, notify=False)
    assert closed.inlet.stopping(reachable=True) is None  # it closed for another reason
    assert Link().inlet.stopping(reachable=True) is None  # never opened


def test_an_inlet_that_gave_up_closes_a_late_pong_and_waits_for_the_answer() -> None:
    link = Link()
    decode(link.inlet.send(Ping()))  # the outlet listener takes it; its worker answers
    link.inlet.give_up("no answer from the outlet", now=10.0, wait=5.0)
    assert link.inlet.gave_up
    assert link.inlet.deadline == 15.0
    assert not done(link.inlet)
    assert link.to_inlet(Pong()) == Pong()
    data = link.inlet.close("the inlet gave up waiting for Pong", now=12.0)
    assert data is not None
    assert link.inlet.close_reason == "no answer from the outlet"
    link.outlet.receive(data)
    link.inlet.receive(link.outlet.send(Disconnect()))
    assert done(link.inlet)
    with pytest.raises(LocalPortalError, match="cannot give up while closed"):
        link.inlet.give_up("again", now=20.0, wait=1.0)


def test_an_outlet_that_refuses_ends_the_inlets_handshake() -> None:
    link = Link()
    link.inlet.send(Ping())
    link.inlet.receive(encode(Disconnect("cannot connect to 127.0.0.1:9")))
    assert done(link.inlet)
    assert link.inlet.close_reason == "the outlet refused: cannot connect to 127.0.0.1:9"


# --- a whole transfer, with writes and credits interleaved at random ---------------------------


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=64), min_size=0, max_size=300),
    schedule=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=50),
    window=st.integers(min_value=2, max_value=8),
)
def test_transfer_respects_the_window_and_keeps_order(
    chunks: list[bytes], schedule: list[int], window: int
) -> None:
    """The inlet sends `chunks` while it has credit; the outlet writes queued payloads in
    bursts chosen by `schedule`, returning credit; everything arrives once, in order."""
    link = open_link(window=window)
    to_send = deque(chunks)
    queued: deque[bytes] = deque()  # received by the outlet, not yet written
    written: list[bytes] = []
    step = 0
    while to_send or queued or not link.inlet.end_sent:
        while to_send and link.inlet.can_send_payload:
            message = link.to_outlet(Payload(to_send.popleft()))
            assert isinstance(message, Payload)
            queued.append(message.data)
            assert len(queued) <= window
        if not to_send and not link.inlet.end_sent:
            link.to_outlet(End())
        burst = schedule[step % len(schedule)] or (0 if link.inlet.can_send_payload else 1)
        step += 1
        for _ in range(min(burst, len(queued))):
            written.append(queued.popleft())
            credit = link.outlet.payload_written()
            if credit is not None:
                assert link.to_inlet(credit) == credit
        assert link.outlet.unacknowledged <= window
    assert written == chunks
    assert link.outlet.end_received


# --- the window grows while the receiver keeps up ---------------------------------------------


def _send_all_credit(link: Link) -> int:
    """The inlet sends payloads while it has credit, then says it is Blocked; returns how many
    payloads it sent."""
    sent = 0
    while link.inlet.can_send_payload:
        link.to_outlet(Payload(b"x"))
        sent += 1
    assert link.to_outlet(Blocked()) == Blocked()
    return sent


def _write_all(link: Link, count: int, *, keeping_up: bool) -> None:
    """The outlet writes `count` received payloads, sending the credits they earn."""
    for _ in range(count):
        credit = link.outlet.payload_written(keeping_up=keeping_up)
        if credit is not None:
            link.to_inlet(credit)


def test_a_receiver_that_keeps_up_doubles_the_window_to_the_cap() -> None:
    link = open_link()
    windows = []
    for _ in range(6):
        _write_all(link, _send_all_credit(link), keeping_up=True)
        windows.append(link.inlet.send_window)
    assert windows == [64, 128, 256, 256, 256, 256]
    assert MAX_WINDOW == 256
    assert link.outlet.receive_window == MAX_WINDOW
    assert link.inlet.receive_window == WINDOW  # the other direction did not move


def test_a_receiver_that_falls_behind_keeps_the_window() -> None:
    link = open_link()
    for _ in range(4):
        _write_all(link, _send_all_credit(link), keeping_up=False)
    assert link.inlet.send_window == link.outlet.receive_window == WINDOW


def test_a_sender_that_never_fills_its_window_keeps_it() -> None:
    link = open_link()
    for _ in range(8):  # half a window at a time, each credited before the next
        for _ in range(CREDIT_BATCH):
            link.to_outlet(Payload(b"x"))
        _write_all(link, CREDIT_BATCH, keeping_up=True)
    assert link.inlet.send_window == link.outlet.receive_window == WINDOW


def test_blocked_only_when_out_of_credit() -> None:
    link = open_link()
    with pytest.raises(LocalPortalError, match=f"cannot send Blocked with {WINDOW} credits left"):
        link.inlet.send(Blocked())
    inlet = PortalState(Role.INLET)
    inlet.send(Ping())
    with pytest.raises(PortalProtocolError, match="Blocked while this side is pinging"):
        inlet.receive(encode(Blocked()))


def test_the_grown_window_is_enforced() -> None:
    link = open_link()
    _write_all(link, _send_all_credit(link), keeping_up=True)
    assert _send_all_credit(link) == 2 * WINDOW - WINDOW // 2  # what is not credited yet waits
    with pytest.raises(PortalProtocolError, match=f"more than {2 * WINDOW} payloads"):
        link.outlet.receive(encode(Payload(b"one too many")))


def test_growing_past_the_cap_is_refused_both_ways() -> None:
    link = open_link(window=MAX_WINDOW)
    link.to_outlet(Payload(b"x"))
    link.outlet.payload_written()
    with pytest.raises(LocalPortalError, match="cannot grow the window of 256 by 1"):
        link.outlet.send(Credit(1, 1))
    other = open_link(window=MAX_WINDOW)
    other.inlet.send(Payload(b"x"))
    with pytest.raises(PortalProtocolError, match="grew the window of 256 by 1"):
        other.inlet.receive(encode(Credit(1, 1)))


def test_window_must_not_exceed_the_cap() -> None:
    with pytest.raises(ValueError, match=f"2 to {MAX_WINDOW}"):
        PortalState(Role.INLET, window=MAX_WINDOW + 1)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 300), st.booleans()), max_size=40))
def test_windows_never_pass_the_cap_nor_each_other(steps: list[tuple[int, bool]]) -> None:
    link = open_link()
    received = 0
    for count, keeping_up in steps:
        for _ in range(count):
            if not link.inlet.can_send_payload:
                break
            link.to_outlet(Payload(b"x"))
            received += 1
        writes, received = received, 0
        _write_all(link, writes, keeping_up=keeping_up)
        assert link.inlet.send_window <= link.outlet.receive_window <= MAX_WINDOW
        assert link.inlet.send_credit <= link.inlet.send_window
