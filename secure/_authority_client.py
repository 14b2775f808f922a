"""`AuthorityClient`: asking an authority, through a secure channel authenticated by the
authority's identity, for credentials, tickets, enrollment and its member list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import msgspec

from actors import RequestTimeout, Route, local

from . import _authority_protocol as wire
from ._channels import SecureChannels
from ._credential import Credential
from ._enrollment import DEFAULT_TICKET_DURATION, Member
from ._ticket import EnrollmentTicket

R = TypeVar("R", bound=wire.AuthorityReply)


class AuthorityClient:
    """Requests to one authority's service, through one secure channel to it.

    Open one with `connect`.

    Args:
        channels: The node's channels (their identity is the requester).
        service_route: The route through the channel to the authority's service.
        timeout: Seconds to wait for each answer.
    """

    def __init__(
        self, channels: SecureChannels, service_route: Route, *, timeout: float = 10
    ) -> None:
        self.channels = channels
        self.service_route = service_route
        self.timeout = timeout

    @classmethod
    async def connect(
        cls,
        channels: SecureChannels,
        route: Route | str,
        authorities: Iterable[str],
        *,
        service: str = wire.AUTHORITY_SERVICE,
        timeout: float = 10,
    ) -> AuthorityClient:
        """A client over a secure channel to the listener at `route` (the authority's
        ``api``), whose identity must be one of `authorities` (a live channel opened the same
        way is reused).

        Raises:
            SecureChannelError: The channel could not be opened, or the listener's identity
                is not one of `authorities`.
        """
        info = await channels.create(route, authorized=authorities, timeout=timeout, reuse=True)
        service_route = Route.parse(info.address) + Route((local(service),))
        return cls(channels, service_route, timeout=timeout)

    async def issue_credential(self) -> Credential:
        """A fresh credential for this node's identity, with its member attributes.

        Raises:
            AuthorityError: Refused (``not_a_member``) or unanswered (``unreachable``).
        """
        reply = await self._ask(wire.IssueCredential(), wire.CredentialIssued)
        return Credential.decode(reply.credential)

    async def create_ticket(
        self,
        *,
        attributes: Mapping[str, str] | None = None,
        usage_count: int = 1,
        expires_in: int = DEFAULT_TICKET_DURATION,
        enroller: bool = False,
    ) -> EnrollmentTicket:
        """An enrollment ticket for new members (this node must be an enroller; an admin
        for `enroller` tickets).

        Raises:
            AuthorityError: Refused (``not_authorized``, ``bad_request``) or unanswered.
        """
        request = wire.CreateTicket(dict(attributes or {}), usage_count, expires_in, enroller)
        reply = await self._ask(request, wire.TicketCreated)
        return EnrollmentTicket.decode(reply.ticket)

    async def redeem(self, ticket: EnrollmentTicket) -> Member:
        """Become a member with `ticket`'s secret; returns the member this node became.

        Raises:
            AuthorityError: Refused (``ticket_unknown``, ``ticket_expired``,
                ``ticket_used_up``, ``refused``) or unanswered.
        """
        reply = await self._ask(wire.RedeemTicket(ticket.secret), wire.Enrolled)
        return reply.member

    async def members(self) -> list[Member]:
        """Every member (this node must be an enroller).

        Raises:
            AuthorityError: Refused (``not_authorized``) or unanswered.
        """
        reply = await self._ask(wire.ListMembers(), wire.MemberList)
        return reply.members

    async def _ask(self, request: wire.AuthorityRequest, expected: type[R]) -> R:
        node = self.channels.node
        try:
            message = await node.request(
                self.service_route, wire.encode_authority_message(request), timeout=self.timeout
            )
        except RequestTimeout as exc:
            raise wire.AuthorityError(
                f"the authority at {self.service_route} did not answer: {exc}", kind="unreachable"
            ) from None
        try:
            reply: wire.AuthorityReply = wire.reply_decoder.decode(message.payload)
        except msgspec.DecodeError as exc:
            raise wire.AuthorityError(
                f"the authority's answer is not understood: {exc}", kind="bad_reply"
            ) from None
        if isinstance(reply, wire.AuthorityFailure):
            raise wire.AuthorityError(f"the authority refused: {reply.message}", kind=reply.kind)
        if not isinstance(reply, expected):
            raise wire.AuthorityError(
                f"the authority answered {type(reply).__name__} to {type(request).__name__}",
                kind="bad_reply",
            )
        return reply
