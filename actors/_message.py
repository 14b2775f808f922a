"""The message that travels between workers: onward route, return route, payload."""

from __future__ import annotations

import msgspec

from ._address import Address, Route


class LocalMessage(msgspec.Struct, frozen=True, gc=False):
    """A routed message.

    `onward_route` starts with the address of the worker it is delivered to; `return_route` is
    where a reply goes. Forwarding workers follow Ockam's rules: a forwarder pops itself off the
    onward route; a hop also pushes itself onto the return route.
    """

    onward_route: Route
    return_route: Route
    payload: bytes

    def step(self) -> LocalMessage:
        """The message with the first onward address popped (this worker is done with it)."""
        return LocalMessage(self.onward_route.pop_front(), self.return_route, self.payload)

    def hop_through(self, address: Address) -> LocalMessage:
        """Pop the onward route and push `address` onto the return route, as a hop does."""
        return LocalMessage(
            self.onward_route.pop_front(), self.return_route.prepend(address), self.payload
        )

    def reply(self, payload: bytes, *, sender: Address) -> LocalMessage:
        """A reply to this message from `sender`, sent along the return route."""
        return LocalMessage(self.return_route, Route((sender,)), payload)
