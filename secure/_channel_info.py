"""What a node reports about its secure channel ends and listeners, and the identifiers they
accept as the other end."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import msgspec

from ._identity import IDENTIFIER_PREFIX

_IDENTIFIER = re.compile(rf"^{IDENTIFIER_PREFIX}[0-9a-f]{{64}}$")

Role = Literal["initiator", "responder"]


class SecureChannelInfo(msgspec.Struct, frozen=True):
    """One end of a secure channel, as `secure-channel list` and `show` print it.

    Attributes:
        address: The plaintext address local workers send into, ``/service/<hex>``.
        route: The initiator: the route to the listener it was created with. The responder:
            the route back to the initiator's end.
        role: ``initiator`` or ``responder``.
        identifier: This end's identity.
        remote_identifier: The other end's identity, verified in the handshake.
        authorized: The identifiers this end accepted as the other end (empty: any).
        ciphertext_address: Where the other end sends encrypted frames, ``/service/<hex>``.
    """

    address: str
    route: str
    role: Role
    identifier: str
    remote_identifier: str
    authorized: list[str]
    ciphertext_address: str


class SecureChannelListenerInfo(msgspec.Struct, frozen=True):
    """A secure channel listener, as `secure-channel-listener list` prints it."""

    address: str
    identifier: str
    authorized: list[str]


def check_identifier(identifier: str) -> str:
    """`identifier` when it is one (``I`` then 64 hex digits); `ValueError` naming it if not."""
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        raise ValueError(
            f"invalid identifier {identifier!r}: expected {IDENTIFIER_PREFIX} followed by 64 "
            "lowercase hex digits, as `ockam identity show` prints it"
        )
    return identifier


def authorized_set(authorized: Iterable[str]) -> frozenset[str]:
    """The checked identifiers of an ``authorized=`` option (empty: any identity)."""
    if isinstance(authorized, str):
        raise TypeError("authorized must be an iterable of identifiers, not one string")
    return frozenset(check_identifier(i) for i in authorized)
