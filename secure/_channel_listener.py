"""`SecureChannelListener`: the responder side of the handshake's first message.

For each `Hello`, a listener makes a responder `ChannelMachine`, which reads XX message 1
and writes message 2, and starts a `SecureChannelWorker` for it at a fresh address pair; that
worker sends the answer and carries the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import trio

from actors import TEMPORARY, Actor, LocalMessage, OckamError, random_address

from ._channel_events import Transmit
from ._channel_info import SecureChannelListenerInfo, authorized_set
from ._channel_machine import ChannelMachine
from ._channel_protocol import MessageDropped, RemoteProtocolError
from ._channel_settings import Admit, ChannelSettings
from ._channel_worker import SecureChannelWorker

log = logging.getLogger("ockam.secure")


class SecureChannelListener(Actor):
    """Accepts secure channels: starts a responder `SecureChannelWorker` for each message 1.

    Args:
        settings: The identity, static key, handshake timeout and keepalive of the channel
            ends it accepts.
        authorized: Identifiers allowed to open channels (empty: any).
        admit: Which initiators' subjects it accepts (see `Admit`): called once an
            initiator proved its identity and presented its credential (if any), before the
            channel is confirmed; the reason it gives for a refusal is sent to the initiator.
            None: every authorized initiator.
    """

    mailbox_size = 64

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        authorized: Iterable[str] = (),
        admit: Admit | None = None,
    ) -> None:
        if not isinstance(settings, ChannelSettings):
            raise TypeError(f"settings must be ChannelSettings, got {type(settings).__name__}")
        self.settings = settings if admit is None else replace(settings, admit=admit)
        self.authorized = authorized_set(authorized)

    def info(self) -> SecureChannelListenerInfo:
        """This listener, as `secure-channel-listener list` prints it."""
        return SecureChannelListenerInfo(
            address=f"/service/{self.ctx.address.value}",
            identifier=self.settings.identity.identifier,
            authorized=sorted(self.authorized),
        )

    async def handle_message(self, message: LocalMessage) -> None:
        name = self.ctx.address.value
        machine = ChannelMachine(
            "responder", self.settings, authorized=self.authorized, listener=name
        )
        try:
            answer = machine.receive(message.payload, message.return_route, trio.current_time())
        except MessageDropped as exc:
            log.warning("secure channel listener %s: dropped %s", name, exc)
            return
        except RemoteProtocolError as exc:
            log.warning(
                "secure channel listener %s: bad handshake from %s: %s",
                name,
                message.return_route,
                exc,
            )
            if exc.refusal is not None:
                await self.ctx.reply(message, exc.refusal)
            return
        assert isinstance(answer, Transmit)  # what a responder's Hello returns
        try:
            await self.ctx.node.start_actor(
                SecureChannelWorker(machine, answer.data),
                random_address(),
                aliases=[random_address()],
                policy=TEMPORARY,
            )
        except OckamError as exc:
            log.warning(
                "secure channel listener %s: could not answer %s: %s",
                name,
                message.return_route,
                exc,
            )
