"""Helpers for the end-to-end trust tests: an authority identity and nodes that trust it, made
with the `ockam` command as a user would."""

from __future__ import annotations

from .conftest import Ockam


class Authority:
    """The identity `name` in `ockam`'s home, issuing credentials with `credential issue`."""

    def __init__(self, ockam: Ockam, name: str = "authority") -> None:
        self.ockam = ockam
        self.name = name
        ockam.run("identity", "create", name)
        self.exported = ockam.out("identity", "show", name, "--full", "--encoding", "hex")
        self.identifier = ockam.out("identity", "show", name)

    def issue(self, subject: str, *attributes: str, ttl: str = "10m") -> str:
        """A credential (hex) for the identifier `subject`, with `K=V` attributes."""
        flags = [item for attribute in attributes for item in ("--attribute", attribute)]
        return self.ockam.out(
            "credential", "issue", "--as", self.name, "--for", subject, "--ttl", ttl,
            "--encoding", "hex", *flags,
        )  # fmt: skip

    def trusting_node(self, name: str, *flags: str) -> str:
        """Create node `name` (identity `name`) trusting this authority; its identifier."""
        self.ockam.run(
            "node", "create", name, "--identity", name,
            "--authority-identity", self.exported, *flags,
        )  # fmt: skip
        return self.ockam.out("identity", "show", name)

    def store(self, node: str, credential: str) -> None:
        """`credential store --at node` of a credential this authority issued."""
        self.ockam.run(
            "credential", "store", "--at", node, "--issuer", self.identifier,
            "--credential", credential,
        )  # fmt: skip


def flip_byte(credential: str) -> str:
    """`credential` (hex) with one byte in its middle changed."""
    raw = bytearray(bytes.fromhex(credential))
    raw[len(raw) // 2] ^= 0x01
    return raw.hex()
