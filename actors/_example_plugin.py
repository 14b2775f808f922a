"""An example plugin: the `reverse` service, registered in pyproject.toml under `ockam.actors`.

See docs/plugins.md for how to write and register your own.
"""

from __future__ import annotations

from ._actor import Actor
from ._message import LocalMessage


class Reverse(Actor):
    """Replies with the payload's bytes in reverse order."""

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.reply(message, message.payload[::-1])
