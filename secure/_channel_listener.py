"""`SecureChannelListener`: the responder side of the handshake's first message.

A listener decodes each `Hello`, reads XX message 1, and starts a responder
`SecureChannelWorker` at a fresh address pair; that worker answers and carries the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from actors import TEMPORARY, Actor, LocalMessage, OckamError, random_address

from ._channel_info import SecureChannelListenerInfo, authorized_set
from ._channel_protocol import PROLOGUE, Hello, Refuse, encode, outer_decoder
from ._channel_worker import (
    HANDSHAKE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    KEEPALIVE_TIMEOUT,
    SecureChannelWorker,
    check_keepalive,
)
from ._handshake import HandshakeState
from ._identity import Identity
from ._noise_errors import HandshakeError

log = logging.getLogger("ockam.secure")


class SecureChannelListener(Actor):
    """Accepts secure channels: starts a responder `SecureChannelWorker` for each message 1.

    Args:
        identity: The identity this node proves in each handshake.
        static_private: The X25519 static private key of the handshakes (a fresh one if None).
        authorized: Identifiers allowed to open channels (empty: any).
        handshake_timeout: Seconds a responder waits for the initiator's last message.
        keepalive_interval, keepalive_timeout: The responders' keepalive (see
            `SecureChannelWorker`).
    """

    mailbox_size = 64

    def __init__(
        self,
        identity: Identity,
        *,
        static_private: bytes | None = None,
        authorized: Iterable[str] = (),
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    ) -> None:
        if not isinstance(identity, Identity):
            raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
        check_keepalive(keepalive_interval, keepalive_timeout)
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.identity = identity
        self.static_private = static_private or fresh_static_key()
        self.authorized = authorized_set(authorized)
        self.handshake_timeout = handshake_timeout

    def info(self) -> SecureChannelListenerInfo:
        """This listener, as `secure-channel-listener list` prints it."""
        return SecureChannelListenerInfo(
            address=f"/service/{self.ctx.address.value}",
            identifier=self.identity.identifier,
            authorized=sorted(self.authorized),
        )

    async def handle_message(self, message: LocalMessage) -> None:
        name = self.ctx.address.value
        try:
            hello = outer_decoder.decode(message.payload)
        except msgspec.DecodeError as exc:
            log.warning("secure channel listener %s: dropped a malformed message: %s", name, exc)
            return
        if not isinstance(hello, Hello):
            log.warning(
                "secure channel listener %s: dropped a %s; it only accepts handshake message 1",
                name,
                type(hello).__name__,
            )
            return
        if not message.return_route:
            log.warning(
                "secure channel listener %s: dropped a handshake with no return route", name
            )
            return
        handshake = HandshakeState(False, static_private=self.static_private, prologue=PROLOGUE)
        try:
            handshake.read_message(hello.message)
        except HandshakeError as exc:
            log.warning(
                "secure channel listener %s: bad handshake from %s: %s",
                name,
                message.return_route,
                exc,
            )
            await self.ctx.reply(message, encode(Refuse(f"bad handshake message 1: {exc}")))
            return
        worker = SecureChannelWorker(
            role="responder",
            identity=self.identity,
            handshake=handshake,
            route=message.return_route,
            authorized=self.authorized,
            listener=name,
            handshake_timeout=self.handshake_timeout,
            keepalive_interval=self.keepalive_interval,
            keepalive_timeout=self.keepalive_timeout,
        )
        try:
            await self.ctx.node.start_actor(
                worker, random_address(), aliases=[random_address()], policy=TEMPORARY
            )
        except OckamError as exc:
            log.warning(
                "secure channel listener %s: could not answer %s: %s",
                name,
                message.return_route,
                exc,
            )


def fresh_static_key() -> bytes:
    """A new X25519 static private key, for a node that keeps none in a vault."""
    return X25519PrivateKey.generate().private_bytes_raw()
