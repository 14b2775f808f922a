"""`ChannelSettings`: what the channel ends of a node or a listener share, checked once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._channel_info import Role
from ._channel_protocol import Refuse, RemoteProtocolError, encode_channel_message
from ._identity import Identity
from ._policy_eval import Subject
from ._trust_context import TrustContext

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a responder waits for the initiator's last handshake message before giving up."""

KEEPALIVE_INTERVAL = 5.0
"""Seconds an established channel end may send nothing before it sends a `Heartbeat`."""

KEEPALIVE_TIMEOUT = 3 * KEEPALIVE_INTERVAL
"""Seconds an established channel end waits for any frame from the other end before stopping."""


Admit = Callable[[Subject], str | None]
"""A listener's admission check of an initiator: its subject (identifier, and the attributes
of its verified credential, if any) in, the reason to refuse it out (None: admitted). The
reason is sent to the initiator: it must name no secret."""


def fresh_static_key() -> bytes:
    """A new X25519 static private key, for a node that keeps none in a vault."""
    return X25519PrivateKey.generate().private_bytes_raw()


@dataclass(frozen=True)
class ChannelSettings:
    """What every channel end of one node (or one listener) shares, checked once.

    Attributes:
        identity: The identity the ends prove.
        static_private: The X25519 static private key of their handshakes (a fresh one if
            not given), e.g. from `Vault.get_or_create_static_key`.
        handshake_timeout: Seconds a responder waits for the initiator's last message.
        keepalive_interval: Seconds an established end may send nothing before it sends a
            heartbeat.
        keepalive_timeout: Seconds without any frame from the other end after which an
            established end stops; longer than `keepalive_interval`, or a quiet but healthy
            channel would end between two heartbeats.
        trust: What the ends present and which credentials they believe (None: they present
            nothing, and subjects carry only the identifier).
        admit: A listener's admission check of initiators, asked once an initiator proved
            its identity and presented its credential, before its channel is confirmed (see
            `Admit`); None: every authorized initiator. Responders only.

    Raises:
        TypeError: `identity` is not an `Identity`.
        ValueError: A timeout is not positive, or the keepalive timeout is not longer than
            the interval.
    """

    identity: Identity
    static_private: bytes = field(default_factory=fresh_static_key, repr=False)
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    keepalive_interval: float = KEEPALIVE_INTERVAL
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    trust: TrustContext | None = None
    admit: Admit | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.identity, Identity):
            raise TypeError(f"identity must be an Identity, got {type(self.identity).__name__}")
        if not self.handshake_timeout > 0:
            raise ValueError(
                "handshake_timeout must be a positive number of seconds, "
                f"got {self.handshake_timeout!r}"
            )
        if not self.keepalive_interval > 0:
            raise ValueError(
                "keepalive_interval must be a positive number of seconds, "
                f"got {self.keepalive_interval!r}"
            )
        if not self.keepalive_timeout > self.keepalive_interval:
            raise ValueError(
                "keepalive_timeout must be longer than keepalive_interval "
                f"({self.keepalive_interval!r} s), got {self.keepalive_timeout!r}"
            )


def unauthorized(
    role: Role,
    identifier: str,
    *,
    authorized: frozenset[str] | set[str],
    listener: str,
    own_identifier: str,
) -> RemoteProtocolError:
    """The error for a peer whose proven identity `identifier` is not in `authorized`: the
    reason this end logs, and the `Refuse` it tells the peer (worded for the peer's side)."""
    if role == "initiator":
        reason = (
            f"the listener's identity {identifier} is not authorized "
            f"(authorized: {', '.join(sorted(authorized))})"
        )
        told = f"the initiator does not authorize identity {identifier}"
    else:
        reason = (
            f"secure channel listener {listener}: refused identity {identifier}, "
            "which is not authorized"
        )
        told = (
            f"identity {identifier} is not authorized to open channels to "
            f"listener {listener} (identity {own_identifier})"
        )
    return RemoteProtocolError(reason, refusal=encode_channel_message(Refuse(told)))


def not_admitted(
    listener: str, identifier: str, reason: str, *, refused: str | None
) -> RemoteProtocolError:
    """The error for an initiator `identifier` that listener `listener`'s `Admit` refused for
    `reason`; `refused` says why the credential it presented was not believed, if it was not.
    The `Refuse` tells the initiator the reason."""
    if refused is not None:
        reason += f" (the credential it presented was refused: {refused})"
    return RemoteProtocolError(
        f"secure channel listener {listener}: refused identity {identifier}: {reason}",
        refusal=encode_channel_message(Refuse(reason)),
    )
