"""The secure channel's states and its one transition table, `TRANSITIONS` (run by
`ChannelMachine`, in `_channel_machine`).

Each row is (role, state) -> {input: next state}. An input is a received message's type (an
outer message, or the inner message of an `Encrypted` frame once there are keys to open it)
or an `Input` from this end. An input that is not in its row is refused: a received one with
`MessageDropped` (nothing changes: anyone on the path could have sent it, and nothing
unauthenticated may end a channel), a local one with `LocalProtocolError`.

Credentials (the trust layer) fit between the handshake and ``ESTABLISHED``: each end would
present its own in an encrypted frame (initiator in ``AWAIT_READY``, responder after
``Finish``) and verify the other's before ``Ready``: a state and a few entries more.
"""

from __future__ import annotations

import enum
from typing import Final

from ._channel_info import Role
from ._channel_protocol import Answer, Close, Deliver, Finish, Heartbeat, Hello, Ready, Refuse


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
    `SILENCE`: `keepalive_timeout` passed with nothing received; `HANDSHAKE_TIMEOUT`)."""

    START = "start"
    SEND = "send"
    HEARTBEAT = "heartbeat"
    SILENCE = "silence"
    HANDSHAKE_TIMEOUT = "handshake timeout"
    CLOSE = "close"


START, AWAIT_ANSWER, AWAIT_FINISH, AWAIT_READY, ESTABLISHED, CLOSED, ERROR = ChannelState

_ESTABLISHED_ROW: dict[type | Input, ChannelState] = {
    Deliver: ESTABLISHED,
    Heartbeat: ESTABLISHED,
    Close: CLOSED,
    Input.SEND: ESTABLISHED,
    Input.HEARTBEAT: ESTABLISHED,
    Input.SILENCE: CLOSED,
    Input.CLOSE: CLOSED,
}

TRANSITIONS: Final[dict[tuple[Role, ChannelState], dict[type | Input, ChannelState]]] = {
    # Received messages are keyed by their type: an outer message (`Hello`, `Answer`, `Finish`,
    # `Refuse`), or the inner message of an `Encrypted` frame (`Ready`, `Deliver`, `Heartbeat`,
    # `Close`) once there are keys to open it. `Refuse` is in clear: it is obeyed during the
    # handshake only. A state's missing `Input.CLOSE` means closing there changes nothing.
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
