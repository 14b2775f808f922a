"""Two identities on one node (`tcp-inlet create --identity`): a registry reuses only the
channels that prove its own identity, so an inlet never rides a channel of another one."""

from __future__ import annotations

import trio

from secure import Identity, SecureChannels, resolve_secure_route

from .test_secure_channel import two_nodes


async def test_a_registry_reuses_only_its_own_identitys_channels() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (node_own, bob, to_bob):
            alt = SecureChannels(node_own.node, Identity.generate())
            text = f"{to_bob[:-1]}/secure/api/service/echo"

            mine = await resolve_secure_route(text, node_own)
            theirs = await resolve_secure_route(text, alt)
            assert theirs != mine
            assert await resolve_secure_route(text, alt) == theirs  # reused: alt's own
            assert await resolve_secure_route(text, node_own) == mine

            # Both ends of the node's channels are listed on it; each proves its identity.
            proving = {info.address: info.identifier for info in node_own.list()}
            assert proving[str(mine[:1])] == node_own.identifier
            assert proving[str(theirs[:1])] == alt.identifier
            accepted = {info.remote_identifier for info in bob.list()}
            assert accepted == {node_own.identifier, alt.identifier}
