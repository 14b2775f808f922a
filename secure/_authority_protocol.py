"""What members, enrollers and admins ask an authority, and what it answers: msgspec tagged
unions, msgpack, sent through a secure channel to the authority's service (`AuthorityService`).

The requester is never named in a request: it is the identity the secure channel proved, so
nobody can ask for another identity's credential or redeem a ticket for someone else.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from actors import OckamError

from ._enrollment import DEFAULT_TICKET_DURATION, Member

AUTHORITY_SERVICE: Final = "authority"
"""The local address of an authority node's service, behind its secure channel listener."""


class IssueCredential(msgspec.Struct, frozen=True, tag="issue_credential"):
    """A member asks for a fresh credential with its attributes."""


class CreateTicket(msgspec.Struct, frozen=True, tag="create_ticket"):
    """An enroller (or admin) asks for an enrollment ticket (see `Enrollment.create_ticket`)."""

    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    usage_count: int = 1
    expires_in: int = DEFAULT_TICKET_DURATION
    enroller: bool = False


class RedeemTicket(msgspec.Struct, frozen=True, tag="redeem_ticket"):
    """A new machine presents a ticket's secret to become a member."""

    secret: bytes


class ListMembers(msgspec.Struct, frozen=True, tag="list_members"):
    """An enroller (or admin) asks for every member."""


AuthorityRequest = IssueCredential | CreateTicket | RedeemTicket | ListMembers


class CredentialIssued(msgspec.Struct, frozen=True, tag="credential"):
    """The requester's credential (an encoded `Credential`)."""

    credential: bytes


class TicketCreated(msgspec.Struct, frozen=True, tag="ticket"):
    """The ticket, as the one hex string `project ticket` prints, and its limits."""

    ticket: str
    expires_at: int
    usage_count: int


class Enrolled(msgspec.Struct, frozen=True, tag="enrolled"):
    """The requester became this member."""

    member: Member


class MemberList(msgspec.Struct, frozen=True, tag="members"):
    """Every member, sorted by identifier."""

    members: list[Member]


FailureKind = Literal[
    "not_a_member",
    "not_authorized",
    "ticket_unknown",
    "ticket_expired",
    "ticket_used_up",
    "refused",
    "bad_request",
    "no_secure_channel",
]


class AuthorityFailure(msgspec.Struct, frozen=True, tag="error"):
    """The request was refused: `kind` for programs, `message` (one line) for people."""

    kind: FailureKind
    message: str


AuthorityReply = CredentialIssued | TicketCreated | Enrolled | MemberList | AuthorityFailure


class AuthorityError(OckamError):
    """An authority refused a request, or did not answer it.

    Attributes:
        kind: The `AuthorityFailure` kind (``not_a_member``, ``not_authorized``,
            ``ticket_unknown``, ``ticket_expired``, ``ticket_used_up``, ``refused``,
            ``bad_request``, ``no_secure_channel``), or ``unreachable`` when no answer came.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


_encoder = msgspec.msgpack.Encoder()
request_decoder: msgspec.msgpack.Decoder[AuthorityRequest] = msgspec.msgpack.Decoder(
    AuthorityRequest
)
reply_decoder: msgspec.msgpack.Decoder[AuthorityReply] = msgspec.msgpack.Decoder(AuthorityReply)


def encode_authority_message(message: AuthorityRequest | AuthorityReply) -> bytes:
    """`message` as msgpack bytes, a routed message's payload."""
    return _encoder.encode(message)
