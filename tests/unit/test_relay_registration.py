"""Relay registration without I/O: events and a fake clock (plain floats) in, actions out."""

from __future__ import annotations

import math

import pytest

from actors import RelayError, RequestTimeout, TransportError
from actors.services import (
    Refused,
    Register,
    Registered,
    RegistrationFailed,
    RelayDown,
    RelayRegistration,
    RelayUp,
    SendRegister,
    decode_relay_message,
    encode_relay_message,
)

NONCE = "a1"
REGISTERED = encode_relay_message(Registered("forward_to_n3", NONCE))


def machine(**kwargs: float) -> RelayRegistration:
    return RelayRegistration("n3", at="/node/n2", nonce=lambda: NONCE, **kwargs)


def up(now: float = 0.0, **kwargs: float) -> RelayRegistration:
    """A machine whose first registration succeeded at `now`."""
    registration = machine(**kwargs)
    registration.start(now)
    assert registration.reply(REGISTERED, now) == [RelayUp("forward_to_n3", first=True)]
    return registration


def test_start_sends_one_register_for_the_name_and_waits_timeout_for_the_answer() -> None:
    registration = machine(timeout=5.0)

    [action] = registration.start(100.0)

    assert isinstance(action, SendRegister)
    assert decode_relay_message(action.payload) == Register("n3", NONCE)
    assert registration.deadline == 105.0
    assert not registration.up
    with pytest.raises(RuntimeError, match="twice"):
        registration.start(101.0)


def test_the_answer_makes_it_up_and_schedules_the_heartbeat() -> None:
    registration = up(10.0, heartbeat=5.0)

    assert registration.up
    assert registration.address == "forward_to_n3"
    assert registration.deadline == 15.0


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ("refused", RelayError, "the relay service refused: taken"),
        ("garbage", RelayError, "unexpected answer"),
        ("unreachable", TransportError, "cannot reach /node/n2"),
        ("timeout", RequestTimeout, "no answer from the relay service at /node/n2"),
    ],
)
def test_the_first_registration_fails_once_with_a_typed_error(
    event: str, error: type[Exception], message: str
) -> None:
    registration = machine(timeout=5.0)
    registration.start(0.0)

    if event == "refused":
        actions = registration.reply(encode_relay_message(Refused("taken", NONCE)), 1.0)
    elif event == "garbage":
        actions = registration.reply(b"\xc1 not msgpack", 1.0)
    elif event == "unreachable":
        actions = registration.unreachable("cannot reach /node/n2", 1.0)
    else:
        assert registration.timer(4.9) == []  # not due yet
        actions = registration.timer(5.0)

    [failed] = actions
    assert isinstance(failed, RegistrationFailed)
    exception = failed.exception()
    assert isinstance(exception, error)
    assert message in str(exception)
    assert registration.deadline == math.inf
    assert not registration.up
    assert registration.timer(1e9) == []  # done: nothing more happens
    assert registration.reply(REGISTERED, 1e9) == []


def test_a_heartbeat_registers_again_and_a_good_answer_changes_nothing_visible() -> None:
    registration = up(0.0, heartbeat=5.0, timeout=2.0)

    [send] = registration.timer(5.0)

    assert isinstance(send, SendRegister)
    assert registration.up  # still up while the heartbeat is answered
    assert registration.deadline == 7.0
    assert registration.reply(REGISTERED, 5.5) == []
    assert registration.deadline == 10.5


def test_the_carrier_going_down_reports_down_and_registers_again_at_once() -> None:
    registration = up(0.0, heartbeat=5.0, timeout=2.0)

    down, send = registration.carrier_down(1.0)

    assert isinstance(down, RelayDown)
    assert "connection to the relay node went down" in down.reason
    assert isinstance(send, SendRegister)
    assert not registration.up
    assert registration.deadline == 3.0
    assert registration.carrier_down(1.5) == []  # already re-registering
    assert registration.reply(REGISTERED, 2.0) == [RelayUp("forward_to_n3", first=False)]
    assert registration.up


def test_failed_re_registrations_back_off_doubling_up_to_the_cap_and_report_down_once() -> None:
    registration = up(0.0, heartbeat=5.0, timeout=1.0, min_backoff=0.1, max_backoff=1.0)
    now = 5.0
    registration.timer(now)  # the heartbeat goes out
    now += 1.0
    [down] = registration.timer(now)  # ... and is not answered
    assert isinstance(down, RelayDown)
    assert "no answer" in down.reason

    waits = []
    for _ in range(6):
        waits.append(round(registration.deadline - now, 6))
        now = registration.deadline
        [send] = registration.timer(now)
        assert isinstance(send, SendRegister)
        assert registration.unreachable("cannot reach /node/n2", now) == []  # quietly
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]

    now = registration.deadline
    registration.timer(now)
    assert registration.reply(REGISTERED, now) == [RelayUp("forward_to_n3", first=False)]
    # Success resets the backoff: the next loss retries after min_backoff again.
    registration.carrier_down(now)
    registration.unreachable("cannot reach /node/n2", now)
    assert registration.deadline == pytest.approx(now + 0.1)


def test_a_refusal_after_being_up_is_a_loss_not_the_end() -> None:
    registration = up(0.0, heartbeat=5.0)
    registration.timer(5.0)

    [down] = registration.reply(encode_relay_message(Refused("forward_to_n3 is taken", NONCE)), 5.1)

    assert isinstance(down, RelayDown)
    assert "refused" in down.reason
    assert registration.deadline == pytest.approx(5.2)


def test_a_late_answer_to_an_attempt_that_timed_out_is_ignored() -> None:
    registration = up(0.0, heartbeat=5.0, timeout=1.0, min_backoff=0.5)
    registration.timer(5.0)
    registration.timer(6.0)  # unanswered: down, backing off until 6.5

    assert registration.reply(REGISTERED, 6.2) == []
    assert not registration.up
    assert registration.unreachable("late", 6.3) == []
    assert registration.deadline == 6.5


def test_a_timer_before_the_deadline_does_nothing() -> None:
    registration = up(0.0, heartbeat=5.0)

    assert registration.timer(4.999) == []
    assert registration.deadline == 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heartbeat": 0.0}, "heartbeat"),
        ({"timeout": -1.0}, "timeout"),
        ({"min_backoff": 2.0, "max_backoff": 1.0}, "backoff"),
    ],
)
def test_bad_timings_are_refused_up_front(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        machine(**kwargs)


def test_a_bad_name_is_refused_up_front() -> None:
    with pytest.raises(RelayError, match="invalid relay name"):
        RelayRegistration("no spaces", at="/node/n2")


def test_an_answer_to_another_attempt_is_ignored_whatever_it_says() -> None:
    attempts = iter(["first", "second"])
    registration = RelayRegistration("n3", at="/node/n2", nonce=lambda: next(attempts))
    [sent] = registration.start(0.0)
    assert isinstance(sent, SendRegister)
    assert decode_relay_message(sent.payload) == Register("n3", "first")
    # Anyone who can send to the relay reaches its client: a forged refusal does nothing.
    forged = encode_relay_message(Refused("go away", "guessed"))
    assert registration.reply(forged, 1.0) == []
    assert registration.reply(encode_relay_message(Registered("forward_to_n3")), 1.0) == []
    answer = encode_relay_message(Registered("forward_to_n3", "first"))
    assert registration.reply(answer, 1.0) == [RelayUp("forward_to_n3", first=True)]
    # The heartbeat's attempt has a nonce of its own; the first one's answer is stale.
    [again] = registration.timer(registration.deadline)
    assert isinstance(again, SendRegister)
    assert decode_relay_message(again.payload) == Register("n3", "second")
    assert registration.reply(encode_relay_message(Refused("stale", "first")), 6.0) == []
    assert registration.up
