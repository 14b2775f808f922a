"""The secure channel's states and its one transition table, `TRANSITIONS` (run by
`ChannelMachine`, in `_channel_machine`).

Each row is (role, state) -> {input: next state}. An input is a received message's type (an
outer message, or the inner message of an `Encrypted` frame once there are keys to open it)
or an `Input` from this end. An input that is not in its row is refused: a received one with
`MessageDropped` (nothing changes: anyone on the path could have sent it, and nothing
unauthenticated may end a channel), a local one with `LocalProtocolError`.

Credentials (the trust layer) take no state of their own: a `Present` frame is read where
encrypted frames are, in the initiator's ``AWAIT_READY`` (the responder's comes before
``Ready``) and in ``ESTABLISHED`` (a refreshed one from either end; the initiator's first is
inside ``Finish``), and `Input.PRESENT` sends this end's fresh one over an established channel.
An input not in its row is dropped with the reason `unexpected` gives.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from ._channel_info import Role
from ._channel_protocol import (
    Answer,
    Close,
    Deliver,
    Encrypted,
    Finish,
    Heartbeat,
    Hello,
    MessageDropped,
    Present,
    Ready,
    Refuse,
)
from ._noise_errors import DropReason

if TYPE_CHECKING:
    from ._channel_machine import ChannelMachine


class ChannelState(enum.Enum):
    """Where one end of a channel is (see `TRANSITIONS`)."""

    START = "start"
    """Nothing sent or received yet."""
    AWAIT_ANSWER = "awaiting message 2"
    """Initiator: sent `Hello` (XX message 1)."""
    AWAIT_FINISH = "awaiting message 3"
    """Responder: read `Hello`, sent `Answer` (XX message 2)."""
    AWAIT_READY = "awaiting the responder's confirmation"
    """Initiator: verified `Answer`, sent `Finish` (XX message 3); keys are split."""
    ESTABLISHED = "established"
    """Both ends verified each other: frames carry `Deliver`, `Heartbeat` and `Close`."""
    CLOSED = "closed"
    """Ended in order: closed here, by the other end, or for lack of traffic."""
    ERROR = "failed"
    """Ended by a `LocalProtocolError` or a `RemoteProtocolError`."""


class Input(enum.Enum):
    """The inputs of `TRANSITIONS` that come from this end rather than from the other:
    `ChannelMachine.start` (the initiator writes `Hello`), `send` (plaintext), `close`, and
    `tick` at a deadline (`HEARTBEAT`: `keepalive_interval` passed with nothing sent;
    `SILENCE`: `keepalive_timeout` passed with nothing received; `HANDSHAKE_TIMEOUT`), and
    `present` (this end's refreshed credential)."""

    START = "start"
    SEND = "send"
    HEARTBEAT = "heartbeat"
    SILENCE = "silence"
    HANDSHAKE_TIMEOUT = "handshake timeout"
    CLOSE = "close"
    PRESENT = "present a credential"


START, AWAIT_ANSWER, AWAIT_FINISH, AWAIT_READY, ESTABLISHED, CLOSED, ERROR = ChannelState

_ESTABLISHED_ROW: dict[type | Input, ChannelState] = {
    Deliver: ESTABLISHED,
    Heartbeat: ESTABLISHED,
    Present: ESTABLISHED,
    Close: CLOSED,
    Input.SEND: ESTABLISHED,
    Input.PRESENT: ESTABLISHED,
    Input.HEARTBEAT: ESTABLISHED,
    Input.SILENCE: CLOSED,
    Input.CLOSE: CLOSED,
}

TRANSITIONS: Final[dict[tuple[Role, ChannelState], dict[type | Input, ChannelState]]] = {
    # Received messages are keyed by their type: an outer message (`Hello`, `Answer`, `Finish`,
    # `Refuse`), or the inner message of an `Encrypted` frame (`Ready`, `Deliver`, `Heartbeat`,
    # `Close`, `Present`) once there are keys to open it. `Refuse` is in clear: it is obeyed
    # during the handshake only. A state's missing `Input.CLOSE` means closing there changes
    # nothing.
    ("initiator", START): {Input.START: AWAIT_ANSWER, Input.CLOSE: CLOSED},
    ("initiator", AWAIT_ANSWER): {
        Answer: AWAIT_READY,
        Refuse: ERROR,
        Input.HANDSHAKE_TIMEOUT: ERROR,
        Input.CLOSE: CLOSED,
    },
    ("initiator", AWAIT_READY): {
        Ready: ESTABLISHED,
        Heartbeat: ESTABLISHED,  # authenticated too: the responder must have sent Ready
        Present: AWAIT_READY,  # the responder's credential, sent just before Ready
        Close: CLOSED,
        Refuse: ERROR,
        Input.HANDSHAKE_TIMEOUT: ERROR,
        Input.CLOSE: CLOSED,
    },
    ("initiator", ESTABLISHED): _ESTABLISHED_ROW,
    ("responder", START): {Hello: AWAIT_FINISH, Input.CLOSE: CLOSED},
    ("responder", AWAIT_FINISH): {
        Finish: ESTABLISHED,
        Refuse: ERROR,
        Input.HANDSHAKE_TIMEOUT: ERROR,
        Input.CLOSE: CLOSED,
    },
    ("responder", ESTABLISHED): _ESTABLISHED_ROW,
    # Nothing moves an end that has ended.
    **{(role, state): {} for role in ("initiator", "responder") for state in (CLOSED, ERROR)},
}
"""Every transition: (role, state) -> {received message type or `Input`: next state}."""


def unexpected(machine: ChannelMachine, kind: type) -> MessageDropped:
    """The error for a received message of type `kind` that `machine`'s row in `TRANSITIONS`
    does not take: dropped, and why (for logs and statistics)."""
    state, reason = machine.state, DropReason.UNEXPECTED
    if state is CLOSED or state is ERROR:
        what, reason = f"a {kind.__name__} after the channel {state.value}", DropReason.CLOSED
    elif kind is Refuse:  # sent in clear, so anyone on the path could forge one
        what = "a refusal on an established channel (they are obeyed during the handshake)"
    elif kind is Encrypted:
        what = "an encrypted frame that arrived before the handshake finished"
    else:
        what = f"an unexpected {kind.__name__} (this end is the {machine.role}, {state.value})"
    return MessageDropped(what, reason=reason)
