"""The secure channels a node opens as another identity: `tcp-inlet create --identity NAME`.

A node's own channels prove the node's identity (`NodeController.secure`). An inlet created
with `--identity NAME` opens the channels of its route (`/secure/api` segments) as the
identity `NAME` from the vaults instead, as Ockam's does, so the outlet's policy sees `NAME`'s
identifier as the subject. Each such identity gets one registry per node, made on first use;
its channels present no credential (the node's credential is the node identity's own).
"""

from __future__ import annotations

from pathlib import Path

import trio

from secure import Identity, SecureChannels

from ._controller import NodeController
from ._identity_store import get_identity, get_or_create_identity


class _IdentityChannels(dict[str, SecureChannels]):
    """A node's registries of channels opened as other identities, by identity name
    (attached to the node: `Node.attach`)."""


def _load(home: Path, name: str) -> tuple[Identity, bytes]:
    get_identity(home, name)  # an identity that does not exist is refused, never created
    return get_or_create_identity(home, name)


async def channels_as(controller: NodeController, identity: str | None) -> SecureChannels | None:
    """The registry that opens `controller`'s channels as `identity` (None, or the node's
    own identity's name: the node's channels).

    Raises:
        IdentityStoreError: There is no identity named `identity`.
    """
    if identity is None or identity == controller.identity_name:
        return controller.secure
    registries = controller.node.attached(_IdentityChannels)
    if registries is None:
        registries = _IdentityChannels()
        controller.node.attach(registries)
    channels = registries.get(identity)
    if channels is None:
        # controller.home is $OCKAM_HOME/nodes/NAME; identities live in $OCKAM_HOME.
        home = controller.home.parent.parent
        loaded, static_private = await trio.to_thread.run_sync(_load, home, identity)
        channels = registries.setdefault(
            identity, SecureChannels(controller.node, loaded, static_private=static_private)
        )
    return channels
