"""The relay registration protocol: names, messages and their codec.

A node that cannot accept connections asks a relay service on a reachable node for a name
(`Register`); the service answers `Registered` with the relay's address, or `Refused`.
"""

from __future__ import annotations

import re

import msgspec

from .._errors import OckamError

RELAY_SERVICE = "forwarding_service"
"""The relay service's address on every node."""
STATIC_RELAY_SERVICE = "static_forwarding_service"
"""Another address of the relay service (Ockam's name for named relays)."""
RELAY_PREFIX = "forward_to_"
"""A relay named `x` sits at `forward_to_x` on the relay node."""
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class RelayError(OckamError):
    """A relay could not be created, or was refused by the relay service."""


class Register(msgspec.Struct, frozen=True, tag="register", array_like=True):
    """Ask the relay service for the relay `forward_to_<name>` back to the sender."""

    name: str


class Registered(msgspec.Struct, frozen=True, tag="registered", array_like=True):
    """The relay exists at `address` on the relay node."""

    address: str


class Refused(msgspec.Struct, frozen=True, tag="refused", array_like=True):
    """The relay service would not create the relay."""

    reason: str


RelayMessage = Register | Registered | Refused
_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[RelayMessage] = msgspec.msgpack.Decoder(RelayMessage)


def encode_relay_message(message: RelayMessage) -> bytes:
    """The wire form of a relay protocol message."""
    return _encoder.encode(message)


def decode_relay_message(data: bytes) -> RelayMessage:
    """A relay protocol message; raises `RelayError` on anything else."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RelayError(f"not a relay protocol message: {exc}") from None


def read_registration(payload: bytes) -> str:
    """The relay name a `Register` asks for; a `RelayError` saying why not otherwise."""
    request = decode_relay_message(payload)
    if not isinstance(request, Register):
        raise RelayError(f"expected a registration, got {type(request).__name__}")
    return check_relay_name(request.name)


def registered(address: str) -> bytes:
    """The relay service's answer: the relay is at `address`."""
    return encode_relay_message(Registered(address))


def refusal(reason: str) -> bytes:
    """The relay service's answer: no relay, because of `reason`."""
    return encode_relay_message(Refused(reason))


def check_relay_name(name: str) -> str:
    """`name` when it can name a relay; a `RelayError` saying why not otherwise."""
    if not _NAME.match(name):
        raise RelayError(f"invalid relay name {name!r}: use 1-64 letters, digits, '_', '-' or '.'")
    return name
