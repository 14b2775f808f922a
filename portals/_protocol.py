"""The state of one side of a portal, sans-IO (the messages are in `_messages.py`).

Like h11, a `PortalState` takes messages to send and returns bytes, and takes received bytes and
returns messages; it never touches a socket. Transitions of the handshake sit in `_SEND` and
`_RECEIVE` below; data-phase rules (credit, window, half-close) in `_check_send` and
`_check_receive`.

Closing is part of the state too: the shell reports what happened (`close`, the peer's
Disconnect through `receive`, `writes_flushed`, `carrier_stopped`, `stopping`, `give_up`) with
the current time, and the state answers with the Disconnect to send, the reason the portal
closed, whether the shell may stop now (`done`) and by when it must stop anyway (`deadline`).
"""

from __future__ import annotations

import enum
import math
from typing import NoReturn

from . import _messages
from ._messages import (
    Blocked,
    Credit,
    Disconnect,
    End,
    Payload,
    Ping,
    Pong,
    PortalMessage,
    decode,
    encode,
)

LINGER = 5.0
"""Seconds a closing side waits for the peer's Disconnect, or to flush to a slow socket what
it received before the peer's Disconnect, before it stops anyway."""


class Role(enum.Enum):
    """Which end of the portal a state belongs to."""

    INLET = "inlet"
    OUTLET = "outlet"


class Phase(enum.Enum):
    """Where a portal is in its life."""

    IDLE = "idle"
    """Inlet: Ping not sent yet. Outlet: the Ping arrived; Pong not sent yet."""
    PINGING = "pinging"
    """Inlet: Ping sent, waiting for Pong (or Disconnect)."""
    OPEN = "open"
    """Handshake done: payloads, credits and ends flow."""
    CLOSING = "closing"
    """We sent Disconnect; what the peer sent before it saw ours is still arriving."""
    PEER_CLOSED = "peer-closed"
    """The peer sent Disconnect; ours is due."""
    CLOSED = "closed"
    """Both sides are done; nothing more is sent or received."""
    ERROR = "error"
    """A protocol error happened; the state accepts nothing more."""


_MessageType = type[Ping] | type[Pong] | type[Payload] | type[Credit] | type[Blocked] | type[End]

# The handshake: (role, phase, message type) -> next phase. Data messages are allowed in OPEN by
# both roles (and received in CLOSING), under the guards in `_check_send` / `_check_receive`.
# Disconnect is handled separately: it is allowed in every phase but CLOSED and ERROR.
_SEND: dict[tuple[Role, Phase, _MessageType], Phase] = {
    (Role.INLET, Phase.IDLE, Ping): Phase.PINGING,
    (Role.OUTLET, Phase.IDLE, Pong): Phase.OPEN,
}
_RECEIVE: dict[tuple[Role, Phase, _MessageType], Phase] = {
    (Role.INLET, Phase.PINGING, Pong): Phase.OPEN,
}
for _role in Role:
    for _type in (Payload, Credit, Blocked, End):
        _SEND[(_role, Phase.OPEN, _type)] = Phase.OPEN
        _RECEIVE[(_role, Phase.OPEN, _type)] = Phase.OPEN
        # The peer sent these before it saw our Disconnect: accepted, and then ignored.
        _RECEIVE[(_role, Phase.CLOSING, _type)] = Phase.CLOSING


class PortalState:
    """One side of one portal, without I/O.

    The I/O shell calls `send(message)` and sends the bytes it returns; it passes every received
    payload to `receive(data, now=...)` and acts on the message returned; it calls
    `payload_written()` after each received payload is written to its socket (and sends the
    `Credit` it may return) and `end_written()` once the peer's `End` is applied to its socket.

    Closing: the shell stops when `done` is True, or at `deadline` (a `now` in the same clock
    as the times it passes in) whatever happens; `close_reason` says why the portal closed
    ("" when it ended cleanly). The events are `close` (our side is done: the socket failed,
    both directions ended, or the route to the peer is gone), the peer's `Disconnect` (then our
    answer is due, see `disconnect_due`, and the shell calls `writes_flushed` once what came
    before it is written), `carrier_stopped`, `stopping` (the shell is being stopped from
    outside) and `give_up` (the inlet's Ping went unanswered).

    Any error (local or remote) leaves the state in `Phase.ERROR`.
    """

    __slots__ = (
        "_credit",
        "_early",
        "_end_received",
        "_end_sent",
        "_end_written",
        "_peer_blocked",
        "_unacked",
        "_written",
        "close_reason",
        "deadline",
        "done",
        "gave_up",
        "peer_gone",
        "phase",
        "receive_window",
        "role",
        "send_window",
        "window",
    )

    def __init__(self, role: Role, *, window: int = _messages.WINDOW) -> None:
        if not 2 <= window <= _messages.MAX_WINDOW:
            raise ValueError(f"window must be 2 to {_messages.MAX_WINDOW}, not {window}")
        self.role = role
        self.window = window
        """The first window, both ways (each grows on its own, to `MAX_WINDOW`)."""
        self.send_window = window
        """Payloads this side may have in flight: the first window, grown by the peer."""
        self.receive_window = window
        """Payloads the peer may have in flight: the first window, grown by this side."""
        self._peer_blocked = False  # the peer sent Blocked since our last credit
        self.phase = Phase.IDLE
        self._credit = 0
        self._early = 0  # payloads carried by the Ping (0 or 1)
        self._unacked = 0
        self._written = 0
        self._end_sent = False
        self._end_received = False
        self._end_written = False
        self.close_reason = ""
        """Why the portal closed: "" while it is open (and after a clean end, until `close`)."""
        self.deadline = math.inf
        """When the shell must stop, whatever happens (`math.inf`: no deadline)."""
        self.done = False
        """True once the shell may stop: nothing it does can matter to the peer any more."""
        self.peer_gone = False
        """True once the peer's Disconnect arrived while the portal was open."""
        self.gave_up = False
        """True once the inlet gave up waiting for Pong (`give_up`)."""

    def __repr__(self) -> str:
        return (
            f"<PortalState {self.role.value} {self.phase.value} credit={self._credit} "
            f"unacked={self._unacked} end_sent={self._end_sent} "
            f"end_received={self._end_received}>"
        )

    # --- what the shell reads ------------------------------------------------------------------

    @property
    def send_credit(self) -> int:
        """Payloads this side may send now."""
        return self._credit

    @property
    def can_send_payload(self) -> bool:
        """True when a `Payload` may be sent now (open, not ended, credit left)."""
        return self.phase is Phase.OPEN and not self._end_sent and self._credit > 0

    @property
    def unacknowledged(self) -> int:
        """Payloads received and not yet credited back (written or not)."""
        return self._unacked

    @property
    def end_sent(self) -> bool:
        """True once this side sent `End`."""
        return self._end_sent

    @property
    def end_received(self) -> bool:
        """True once the peer's `End` arrived."""
        return self._end_received

    @property
    def finished(self) -> bool:
        """True when both directions have ended: our End is sent and the peer's is written."""
        return self._end_sent and self._end_written

    @property
    def disconnect_sent(self) -> bool:
        """True once this side sent its `Disconnect`."""
        return self.phase in (Phase.CLOSING, Phase.CLOSED)

    @property
    def disconnect_due(self) -> bool:
        """True when the peer sent `Disconnect` and ours is not sent yet."""
        return self.phase is Phase.PEER_CLOSED

    @property
    def closed(self) -> bool:
        """True when the portal is over, cleanly (CLOSED) or not (ERROR)."""
        return self.phase in (Phase.CLOSED, Phase.ERROR)

    # --- sending -------------------------------------------------------------------------------

    def send(self, message: PortalMessage) -> bytes:
        """Check that `message` may be sent now, account for it, and return its bytes.

        Raises:
            LocalPortalError: the protocol does not allow sending `message` now.
        """
        if isinstance(message, Disconnect):
            self._send_disconnect()
        else:
            key = (self.role, self.phase, type(message))
            next_phase = _SEND.get(key)
            if next_phase is None:
                self._local_error(
                    f"the {self.role.value} cannot send {type(message).__name__} "
                    f"while {self.phase.value}"
                )
            self._check_send(message)
            self.phase = next_phase
            if isinstance(message, Pong):
                self._credit = self.send_window
        return encode(message)

    def ping_received(self, ping: Ping) -> bytes:
        """The outlet's worker takes over the `ping` that started it (before its Pong); returns
        the client's first bytes it carries, for the shell to write once connected (b"": none).

        They count as one received payload, credited like the others once written.

        Raises:
            PortalProtocolError: this is no outlet waiting for its Pong, or `data` is too long.
        """
        if self.role is not Role.OUTLET or self.phase is not Phase.IDLE or self._unacked:
            self._remote_error(f"a Ping while the {self.role.value} is {self.phase.value}")
        if len(ping.data) > _messages.MAX_PAYLOAD:
            self._remote_error(
                f"the inlet sent a Ping with {len(ping.data)} bytes "
                f"(0 to {_messages.MAX_PAYLOAD} allowed)"
            )
        if ping.data:
            self._unacked = 1
        return ping.data

    def _send_disconnect(self) -> None:
        if self.phase is Phase.PEER_CLOSED:
            self.phase = Phase.CLOSED
        elif self.phase in (Phase.IDLE, Phase.OPEN):
            if self.phase is Phase.IDLE and self.role is Role.INLET:
                self._local_error("the inlet has no peer to disconnect before it sends Ping")
            self.phase = Phase.CLOSING
        else:
            self._local_error(f"cannot send Disconnect while {self.phase.value}")

    def _check_send(self, message: PortalMessage) -> None:
        if isinstance(message, Payload):
            if self._end_sent:
                self._local_error("cannot send Payload after End")
            if self._credit <= 0:
                self._local_error(f"cannot send Payload: all {self.send_window} credits are in use")
            if not 0 < len(message.data) <= _messages.MAX_PAYLOAD:
                self._local_error(
                    f"a payload must hold 1 to {_messages.MAX_PAYLOAD} bytes, "
                    f"not {len(message.data)}"
                )
            self._credit -= 1
        elif isinstance(message, Blocked):
            if self._credit:
                self._local_error(f"cannot send Blocked with {self._credit} credits left")
        elif isinstance(message, Ping):
            if len(message.data) > _messages.MAX_PAYLOAD:
                self._local_error(
                    f"a Ping may carry 0 to {_messages.MAX_PAYLOAD} bytes, not {len(message.data)}"
                )
            self._early = 1 if message.data else 0
        elif isinstance(message, Credit):
            if not 0 < message.messages <= self._written:
                self._local_error(
                    f"cannot credit {message.messages} payloads: {self._written} are written "
                    "and not yet credited"
                )
            if not 0 <= message.grow <= _messages.MAX_WINDOW - self.receive_window:
                self._local_error(
                    f"cannot grow the window of {self.receive_window} by {message.grow}"
                )
            self._written -= message.messages
            self._unacked -= message.messages
            self.receive_window += message.grow
            self._peer_blocked = False
        elif isinstance(message, End):
            if self._end_sent:
                self._local_error("End was already sent")
            self._end_sent = True

    # --- receiving -----------------------------------------------------------------------------

    def receive(self, data: bytes, *, now: float = 0.0) -> PortalMessage:
        """Decode and check one received message, and account for it.

        In `Phase.CLOSING` (our Disconnect is on its way) data messages are still accepted; the
        shell ignores them. The peer's Disconnect makes our answer due (`disconnect_due`) and
        gives the shell until `now + LINGER` to write what came before it.

        Raises:
            PortalProtocolError: `data` is not a message the peer may send now.
        """
        if self.phase is Phase.ERROR:
            raise _messages.PortalProtocolError("the portal already failed")
        try:
            message = decode(data)
        except _messages.PortalProtocolError as exc:
            self._remote_error(str(exc))
        if isinstance(message, Disconnect):
            self._receive_disconnect(message, now)
            return message
        key = (self.role, self.phase, type(message))
        next_phase = _RECEIVE.get(key)
        if next_phase is None:
            self._remote_error(
                f"the {_peer(self.role)} sent {type(message).__name__} while this side is "
                f"{self.phase.value}"
            )
        if self.phase is Phase.OPEN:
            self._check_receive(message)
        self.phase = next_phase
        if isinstance(message, Pong):
            self._credit = self.send_window - self._early
        return message

    def _receive_disconnect(self, message: Disconnect, now: float) -> None:
        if self.phase is Phase.CLOSING:
            self.phase = Phase.CLOSED
            self.done = True
        elif self.phase is Phase.PINGING:
            # The outlet could not reach its target; it stopped without waiting for an answer.
            self.phase = Phase.CLOSED
            self._set_reason(f"the outlet refused: {message.reason}")
            self.done = True
        elif self.phase is Phase.OPEN:
            self.phase = Phase.PEER_CLOSED
            self.peer_gone = True
            if message.reason:
                self._set_reason(f"the peer disconnected: {message.reason}")
            self.deadline = min(self.deadline, now + LINGER)
        else:
            self._remote_error(
                f"the {_peer(self.role)} sent Disconnect while this side is {self.phase.value}"
            )

    def _check_receive(self, message: PortalMessage) -> None:
        if isinstance(message, Payload):
            if self._end_received:
                self._remote_error(f"the {_peer(self.role)} sent Payload after End")
            if self._unacked >= self.receive_window:
                self._remote_error(
                    f"the {_peer(self.role)} sent more than {self.receive_window} payloads "
                    "without credit"
                )
            if not 0 < len(message.data) <= _messages.MAX_PAYLOAD:
                self._remote_error(
                    f"the {_peer(self.role)} sent a payload of {len(message.data)} bytes "
                    f"(1 to {_messages.MAX_PAYLOAD} allowed)"
                )
            self._unacked += 1
        elif isinstance(message, Blocked):
            self._peer_blocked = True
        elif isinstance(message, Credit):
            in_flight = self.send_window - self._credit
            if not 0 < message.messages <= in_flight:
                self._remote_error(
                    f"the {_peer(self.role)} credited {message.messages} payloads; "
                    f"{in_flight} are unacknowledged"
                )
            if not 0 <= message.grow <= _messages.MAX_WINDOW - self.send_window:
                self._remote_error(
                    f"the {_peer(self.role)} grew the window of {self.send_window} "
                    f"by {message.grow} (at most {_messages.MAX_WINDOW} allowed)"
                )
            self.send_window += message.grow
            self._credit += message.messages + message.grow
        elif isinstance(message, End):
            if self._end_received:
                self._remote_error(f"the {_peer(self.role)} sent End twice")
            self._end_received = True

    # --- progress of the shell's socket writes -------------------------------------------------

    def payload_written(self, *, keeping_up: bool = False) -> Credit | None:
        """Record that one received payload was written to the socket; `keeping_up` when the
        socket took it at once (nothing was waiting to be written).

        Returns the `Credit` to send now (pass it to `send`), or None. No credit is returned
        once the peer has ended (it sends no more payloads) or the portal is closing. A credit
        doubles the window (to `MAX_WINDOW` at most) when the window held the peer back (it
        sent `Blocked` since the last credit) and this side keeps up: the window is what limits
        the portal, not the consumer.
        """
        if self._written >= self._unacked:
            self._local_error("more payloads written than received")
        self._written += 1
        if (
            self._written >= self.receive_window // 2
            and self.phase is Phase.OPEN
            and not self._end_received
        ):
            grow = 0
            if keeping_up and self._peer_blocked:
                grow = min(self.receive_window, _messages.MAX_WINDOW - self.receive_window)
            return Credit(self._written, grow)
        return None

    def end_written(self) -> None:
        """Record that the peer's `End` was applied to the socket (its write side is shut)."""
        if not self._end_received:
            self._local_error("End written before it was received")
        self._end_written = True

    # --- closing -------------------------------------------------------------------------------

    def close(self, reason: str, *, now: float, notify: bool = True) -> bytes | None:
        """This side is done with the portal: its socket failed (`reason`), both directions
        ended (`reason` ""), or, with `notify` False, the route to the peer is gone.

        The shell closes its socket and sends the Disconnect returned (None: not due, or it
        could not arrive). It may stop at once unless it has to wait for the peer's Disconnect,
        at the latest until `now + LINGER`.
        """
        self._set_reason(reason or "both sides ended")
        data = None
        if notify and self.phase in (Phase.OPEN, Phase.PEER_CLOSED):
            data = self.send(Disconnect(reason))
        if not notify or self.closed or self.phase is Phase.IDLE:
            self.done = True
        else:
            self.deadline = min(self.deadline, now + LINGER)
        return data

    def writes_flushed(self) -> None:
        """The shell wrote everything it received: after the peer's Disconnect, it may stop."""
        if self.peer_gone:
            self.done = True

    def carrier_stopped(self, reason: str) -> None:
        """The worker that carries the portal stopped: nothing reaches the peer any more.

        After the peer's Disconnect that changes nothing (the shell still flushes, until the
        deadline); otherwise the shell stops now, with `reason`.
        """
        if not self.peer_gone:
            self._set_reason(reason)
            self.done = True

    def stopping(self, *, reachable: bool) -> bytes | None:
        """The shell is being stopped from outside: the Disconnect to send, if the portal is
        open and it closed for no other reason and the peer is `reachable` (the carrier still
        runs, and the node is not shutting down)."""
        if self.phase not in (Phase.OPEN, Phase.PEER_CLOSED) or self.close_reason:
            return None
        if not reachable:
            return None
        self._set_reason("the portal worker was stopped")
        return self.send(Disconnect(self.close_reason))

    def give_up(self, reason: str, *, now: float, wait: float) -> None:
        """The inlet's Ping went unanswered: the portal is closed (`reason`). The shell waits
        until `now + wait` for a late Pong, which it answers with `close`, so the outlet's
        worker does not keep its connection to the target open for nothing."""
        if self.phase is not Phase.PINGING:
            self._local_error(f"the {self.role.value} cannot give up while {self.phase.value}")
        self._set_reason(reason)
        self.gave_up = True
        self.deadline = min(self.deadline, now + wait)

    def _set_reason(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason

    # --- errors --------------------------------------------------------------------------------

    def _local_error(self, text: str) -> NoReturn:
        self.phase = Phase.ERROR
        raise _messages.LocalPortalError(text)

    def _remote_error(self, text: str) -> NoReturn:
        self.phase = Phase.ERROR
        raise _messages.PortalProtocolError(text)


def _peer(role: Role) -> str:
    return "outlet" if role is Role.INLET else "inlet"
