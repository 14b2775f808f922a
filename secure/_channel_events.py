"""What a `ChannelMachine` tells the actor that runs it to do, besides sending bytes."""

from __future__ import annotations

from dataclasses import dataclass

from ._channel_protocol import Deliver
from ._identity import IdentityPublic
from ._policy_eval import Subject


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send `data` to the other end, along `ChannelMachine.peer`."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Established:
    """The channel is open: the other end is `remote`, and `subject` is what is verified of
    it (a responder reads the initiator's credential in `Finish`).
    Send `credential` (this end's `Present` frame), then `data`, if any. `refused` says why
    the credential the initiator presented was not believed, if it was not (for the log)."""

    remote: IdentityPublic
    data: bytes | None = None
    subject: Subject | None = None
    credential: bytes | None = None
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Presented:
    """The other end presented a credential that verified: `subject` holds its attributes
    until `expires` (seconds since the Unix epoch); it replaces any earlier one."""

    subject: Subject
    expires: float


@dataclass(frozen=True, slots=True)
class Closed:
    """The channel ended, with nothing to send: the other end closed it (`by_peer`), or it
    went silent for `keepalive_timeout`."""

    reason: str
    by_peer: bool


Event = Deliver | Transmit | Established | Presented | Closed | None
"""What `ChannelMachine.receive` and `tick` return; None: nothing to do."""
