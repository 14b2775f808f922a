"""What a `ChannelMachine` tells the actor that runs it to do, besides sending bytes."""

from __future__ import annotations

from dataclasses import dataclass

from ._channel_protocol import Deliver
from ._identity import IdentityPublic


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send `data` to the other end, along `ChannelMachine.peer`."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Established:
    """The channel is open: the other end is `remote`. Send `data` first, if any."""

    remote: IdentityPublic
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """The channel ended, with nothing to send: the other end closed it (`by_peer`), or it
    went silent for `keepalive_timeout`."""

    reason: str
    by_peer: bool


Event = Deliver | Transmit | Established | Closed | None
"""What `ChannelMachine.receive` and `tick` return; None: nothing to do."""
