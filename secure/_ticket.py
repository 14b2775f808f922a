"""Enrollment tickets: one opaque string that lets a new machine join a project.

A ticket holds what the new member needs to find and trust the project, and the secret that
admits it once (or a few times): the project's id, name and access routes (several, so the
relay side can become a pool), the project node's exported identity, the authority's exported
identity and route, and a 32-byte one-time secret. `project ticket` prints
`EnrollmentTicket.encode` (hex of the msgpack array); `project enroll` reads it back with
`EnrollmentTicket.decode`, which checks every identity in it. The authority keeps only the
SHA-256 of the secret (`secret_hash`), so its database admits no one if it leaks.

The encoding is ours, not Ockam's: a ticket from Ockam's Orchestrator cannot be used here.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Literal

import msgspec

from ._hex import decode_hex
from ._identity import IdentityError, IdentityPublic

TICKET_VERSION: Literal[1] = 1
"""The format version at the start of every ticket."""

SECRET_LEN = 32
"""Length of a ticket's one-time secret, in bytes."""


class TicketError(ValueError):
    """A ticket string is not a well-formed enrollment ticket."""


def secret_hash(secret: bytes) -> bytes:
    """What the authority stores for a one-time secret: its SHA-256."""
    return hashlib.sha256(secret).digest()


def new_secret() -> bytes:
    """A fresh random one-time secret (`SECRET_LEN` bytes)."""
    return secrets.token_bytes(SECRET_LEN)


class EnrollmentTicket(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Everything a new member needs to enroll in a project, in one string.

    Attributes:
        version: `TICKET_VERSION`.
        project_id: The project's id.
        project_name: The project's name (``/project/NAME`` in routes).
        project_routes: Routes to the project node (its relay service), at least one.
        project_identity: The project node's exported identity (`IdentityPublic.export`).
        authority_identity: The authority's exported identity: whose credentials to trust.
        authority_route: The route to the authority's ``api`` service.
        secret: The one-time secret the authority admits.
    """

    version: Literal[1]
    project_id: str
    project_name: str
    project_routes: tuple[str, ...]
    project_identity: bytes
    authority_identity: bytes
    authority_route: str
    secret: Annotated[bytes, msgspec.Meta(min_length=SECRET_LEN, max_length=SECRET_LEN)]

    @classmethod
    def create(
        cls,
        *,
        project_id: str,
        project_name: str,
        project_routes: tuple[str, ...] | list[str],
        project_identity: IdentityPublic,
        authority_identity: IdentityPublic,
        authority_route: str,
        secret: bytes,
    ) -> EnrollmentTicket:
        """A ticket for `secret` (from `new_secret`, stored by the authority as its hash).

        Raises:
            TicketError: A name, id or route is empty, or the secret is not `SECRET_LEN` bytes.
        """
        ticket = cls(
            version=TICKET_VERSION,
            project_id=project_id,
            project_name=project_name,
            project_routes=tuple(project_routes),
            project_identity=project_identity.export(),
            authority_identity=authority_identity.export(),
            authority_route=authority_route,
            secret=bytes(secret),
        )
        ticket._check()
        return ticket

    @property
    def project(self) -> IdentityPublic:
        """The project node's identity (checked when the ticket was decoded)."""
        return IdentityPublic.from_exported(self.project_identity)

    @property
    def authority(self) -> IdentityPublic:
        """The authority's identity (checked when the ticket was decoded)."""
        return IdentityPublic.from_exported(self.authority_identity)

    def encode(self) -> str:
        """The ticket as one hex string, as ``project ticket`` prints it."""
        return _encoder.encode(self).hex()

    @classmethod
    def decode(cls, text: str) -> EnrollmentTicket:
        """Read a ticket string and check it.

        Raises:
            TicketError: The text is not hex, not a ticket of this version, or holds an empty
                field or an identity whose identifier does not match its key.
        """
        raw = decode_hex(text, what="an enrollment ticket", error=TicketError)
        try:
            ticket = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise TicketError(f"not an enrollment ticket: {exc}") from None
        ticket._check()
        return ticket

    def _check(self) -> None:
        for field, value in (
            ("project_id", self.project_id),
            ("project_name", self.project_name),
            ("authority_route", self.authority_route),
        ):
            if not value:
                raise TicketError(f"enrollment ticket has an empty {field}")
        if not self.project_routes or not all(self.project_routes):
            raise TicketError("enrollment ticket needs at least one project route, none empty")
        if len(self.secret) != SECRET_LEN:
            raise TicketError(f"an enrollment ticket's secret is {SECRET_LEN} bytes")
        for name, exported in (
            ("project", self.project_identity),
            ("authority", self.authority_identity),
        ):
            try:
                IdentityPublic.from_exported(exported)
            except IdentityError as exc:
                raise TicketError(f"enrollment ticket's {name} identity: {exc}") from None

    def __repr__(self) -> str:
        # The secret admits whoever holds it: never show it.
        return (
            f"EnrollmentTicket(project={self.project_name!r}, "
            f"authority={self.authority.identifier!r})"
        )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EnrollmentTicket)
