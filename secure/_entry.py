"""`channels_only`: the `Node.entry` rule of a node that lets strangers reach nothing but its
secure channels.

Whoever can open a TCP connection to such a node (a project node on a public address) may
send it a handshake, to one of its secure channel listeners, and encrypted frames, to the
ciphertext side of one of its channel ends. Everything else must come out of a channel,
where its sender is authenticated: a message from a connection straight to a relay, a
service, a channel end's plaintext side (whose address every member learns from return
routes) or another transport address is dropped by the connection (as Ockam's flow control
does).
"""

from __future__ import annotations

from collections.abc import Callable

from actors import Address, Node

from ._channel_listener import SecureChannelListener
from ._channel_worker import SecureChannelWorker


def channels_only(node: Node) -> Callable[[Address], bool]:
    """A `Node.entry` rule for `node`: a message from a transport connection may go to a
    secure channel listener or to the ciphertext address of a channel end, and nowhere else."""

    def admits(address: Address) -> bool:
        actor = node.actor_at(address)
        if isinstance(actor, SecureChannelListener):
            return True
        return isinstance(actor, SecureChannelWorker) and address == actor.ciphertext_address

    return admits
