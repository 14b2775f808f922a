"""When to register a relay, and what the answers mean: the relay client's logic, without I/O.

`RelayRegistration` takes events (`start`, `reply`, `unreachable`, `carrier_down`, `timer`),
each with the current time, and returns the actions for its actor to carry out (send a
registration: `SendRegister`; report the relay `RelayUp` or `RelayDown`; or that the first
registration failed: `RegistrationFailed`). Its
`deadline` says when to call `timer` next. Timing, in one place:

- The first registration either succeeds (`RelayUp`) or fails once (refused, the relay
  node unreachable, or no answer within `timeout`); the caller learns which, and the machine
  is done.
- While up, it registers again every `heartbeat` seconds (the relay service answers with the
  same address; a relay node that restarted gets its relay back), and at once when the
  connection that carries the relay goes down.
- A re-registration that fails reports `RelayDown` (once per loss) and retries with backoff: from
  `min_backoff` doubling up to `max_backoff` (1 s), so the relay comes back within about a
  second of its node. Success resets the backoff and reports `RelayUp`.
- Replies that come when no registration waits for one (late answers to an attempt that timed
  out) are ignored.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections.abc import Callable
from typing import Literal

import msgspec

from .._errors import OckamError, RequestTimeout, TransportError
from ._relay_protocol import (
    Refused,
    Register,
    RelayError,
    check_relay_name,
    decode_relay_message,
    encode_relay_message,
)


class SendRegister(msgspec.Struct, frozen=True):
    """Send `payload` (a `Register`) to the relay service."""

    payload: bytes


class RelayUp(msgspec.Struct, frozen=True):
    """The relay is registered at `address` on the relay node; `first` on the first time,
    false when it came back after a `RelayDown`."""

    address: str
    first: bool


class RelayDown(msgspec.Struct, frozen=True):
    """The relay was lost (`reason`); the machine is registering it again."""

    reason: str


FailureKind = Literal["refused", "unreachable", "timeout"]


class RegistrationFailed(msgspec.Struct, frozen=True):
    """The first registration failed; nothing more will happen."""

    kind: FailureKind
    reason: str

    def exception(self) -> OckamError:
        """The error to raise to whoever asked for the relay."""
        if self.kind == "unreachable":
            return TransportError(self.reason)
        if self.kind == "timeout":
            return RequestTimeout(self.reason)
        return RelayError(self.reason)


Action = SendRegister | RelayUp | RelayDown | RegistrationFailed


class Phase(enum.Enum):
    """Where the machine is: its one deadline means something different in each."""

    IDLE = "idle"  # not started
    REGISTERING = "registering"  # a Register is out; deadline: give up on its answer
    REGISTERED = "registered"  # up; deadline: the next heartbeat registration
    BACKING_OFF = "backing off"  # down; deadline: the next attempt
    FAILED = "failed"  # the first registration failed; no deadline


class RelayRegistration:
    """The registering side of one relay, `name`, as a state machine with one deadline.

    Each attempt carries a fresh nonce (`nonce()`, random by default) and only an answer that
    repeats it counts: others (late, or sent to the relay by someone else) are ignored.

    Attributes:
        up: the relay is registered (or being registered again after a heartbeat).
        address: the relay's address on the relay node, once registered.
    """

    def __init__(
        self,
        name: str,
        *,
        at: str,
        heartbeat: float = 5.0,
        timeout: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 1.0,
        nonce: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        for label, value in (("heartbeat", heartbeat), ("timeout", timeout)):
            if not value > 0:
                raise ValueError(f"{label} must be a number of seconds > 0, not {value!r}")
        if not 0 < min_backoff <= max_backoff:
            raise ValueError(
                f"backoff must satisfy 0 < min_backoff <= max_backoff, "
                f"not {min_backoff!r} and {max_backoff!r}"
            )
        self.name = check_relay_name(name)
        self.at = at
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.phase = Phase.IDLE
        self.up = False
        self.address = ""
        self.deadline = math.inf
        self._ever_up = False
        self._backoff = min_backoff
        self._new_nonce = nonce
        self._nonce = ""

    # --- events --------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Begin: send the first registration."""
        if self.phase is not Phase.IDLE:
            raise RuntimeError(f"relay {self.name}: start() called twice")
        return self._send(now)

    def reply(self, payload: bytes, now: float) -> list[Action]:
        """The relay service answered (`payload` as it arrived)."""
        if self.phase is not Phase.REGISTERING:
            return []  # a late answer to an attempt that already timed out
        try:
            answer = decode_relay_message(payload)
        except RelayError as exc:
            return self._fail("refused", f"unexpected answer from the relay service: {exc}", now)
        if isinstance(answer, Register):
            reason = f"unexpected answer from the relay service: {type(answer).__name__}"
            return self._fail("refused", reason, now)
        if answer.nonce != self._nonce:
            return []  # not the answer to this attempt: from an earlier one, or forged
        if isinstance(answer, Refused):
            return self._fail("refused", f"the relay service refused: {answer.reason}", now)
        self.address = answer.address
        self.phase = Phase.REGISTERED
        self.deadline = now + self.heartbeat
        self._backoff = self.min_backoff
        if self.up:
            return []  # a heartbeat: nothing changed
        self.up = True
        first, self._ever_up = not self._ever_up, True
        return [RelayUp(self.address, first=first)]

    def unreachable(self, reason: str, now: float) -> list[Action]:
        """The registration could not be sent (no route to the relay node)."""
        if self.phase is not Phase.REGISTERING:
            return []
        return self._fail("unreachable", reason, now)

    def carrier_down(self, now: float) -> list[Action]:
        """The connection that carries the relay closed: register again at once."""
        if not self.up:
            return []  # already re-registering, or never up
        self.up = False
        return [RelayDown("the connection to the relay node went down"), *self._send(now)]

    def timer(self, now: float) -> list[Action]:
        """Call when `now >= deadline`: a registration went unanswered, a heartbeat or a retry
        is due."""
        if now < self.deadline:
            return []
        if self.phase is Phase.REGISTERING:
            return self._fail("timeout", f"no answer from the relay service at {self.at}", now)
        if self.phase in (Phase.REGISTERED, Phase.BACKING_OFF):
            return self._send(now)
        return []

    # --- transitions ---------------------------------------------------------------------------

    def _send(self, now: float) -> list[Action]:
        self.phase = Phase.REGISTERING
        self.deadline = now + self.timeout
        self._nonce = self._new_nonce()
        return [SendRegister(encode_relay_message(Register(self.name, self._nonce)))]

    def _fail(self, kind: FailureKind, reason: str, now: float) -> list[Action]:
        if not self._ever_up:
            self.phase = Phase.FAILED
            self.deadline = math.inf
            return [RegistrationFailed(kind, reason)]
        self.phase = Phase.BACKING_OFF
        self.deadline = now + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)
        if not self.up:
            return []  # still down: retry quietly
        self.up = False
        return [RelayDown(f"registration failed: {reason}")]
