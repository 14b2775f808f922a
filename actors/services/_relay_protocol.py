"""The relay registration protocol: names, messages and their codec.

A node that cannot accept connections asks a relay service on a reachable node for a name
(`Register`); the service answers `Registered` with the relay's address, or `Refused`. The
answer repeats the registration's `nonce`: a relay's address reaches its registering client,
so anyone who can send to the relay could otherwise make the client believe an answer.
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
    """Ask the relay service for the relay `forward_to_<name>` back to the sender; the
    answer repeats `nonce`."""

    name: str
    nonce: str = ""


class Registered(msgspec.Struct, frozen=True, tag="registered", array_like=True):
    """The relay exists at `address` on the relay node (the answer to `nonce`)."""

    address: str
    nonce: str = ""


class Refused(msgspec.Struct, frozen=True, tag="refused", array_like=True):
    """The relay service would not create the relay (the answer to `nonce`)."""

    reason: str
    nonce: str = ""


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


def read_registration(payload: bytes) -> Register:
    """The `Register` in `payload`, its name checked; a `RelayError` saying why not otherwise."""
    request = decode_relay_message(payload)
    if not isinstance(request, Register):
        raise RelayError(f"expected a registration, got {type(request).__name__}")
    check_relay_name(request.name)
    return request


def registered(address: str, nonce: str = "") -> bytes:
    """The relay service's answer to the registration of `nonce`: the relay is at `address`."""
    return encode_relay_message(Registered(address, nonce))


def refusal(reason: str, nonce: str = "") -> bytes:
    """The relay service's answer to the registration of `nonce`: no relay, because of
    `reason`."""
    return encode_relay_message(Refused(reason, nonce))


def check_relay_name(name: str) -> str:
    """`name` when it can name a relay; a `RelayError` saying why not otherwise."""
    if not _NAME.match(name):
        raise RelayError(f"invalid relay name {name!r}: use 1-64 letters, digits, '_', '-' or '.'")
    return name
