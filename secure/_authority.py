"""`AuthorityService`: an authority node's enrollment and credential service, as an actor.

It runs on the authority node at `AUTHORITY_SERVICE` and answers `AuthorityRequest`s that
arrive through a secure channel (to the node's listener, ``api``): the requester is the
identity that channel proved, found as the channel end at the first address of the request's
return route. A request that did not come through a secure channel is refused. The rules are
`Enrollment`'s; this actor decodes, asks them, and answers (`AuthorityReply`), logging each
refusal with the requester's identifier, never a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from actors import Actor, LocalMessage

from ._authority_protocol import (
    AuthorityFailure,
    AuthorityReply,
    AuthorityRequest,
    CreateTicket,
    CredentialIssued,
    Enrolled,
    FailureKind,
    IssueCredential,
    ListMembers,
    MemberList,
    RedeemTicket,
    TicketCreated,
    encode_authority_message,
    request_decoder,
)
from ._channel_worker import SecureChannelWorker
from ._enrollment import (
    Enrollment,
    EnrollmentError,
    NotAMemberError,
    NotAuthorizedError,
    TicketExpiredError,
    TicketUnknownError,
    TicketUsedUpError,
)
from ._identity import Identity, IdentityPublic
from ._ticket import EnrollmentTicket, TicketError, new_secret

log = logging.getLogger("ockam.authority")

DEFAULT_CREDENTIAL_TTL = 3600
"""Seconds a member credential is valid for, unless the authority is told otherwise."""

_KINDS: Sequence[tuple[type[Exception], FailureKind]] = (
    (NotAMemberError, "not_a_member"),
    (NotAuthorizedError, "not_authorized"),
    (TicketUnknownError, "ticket_unknown"),
    (TicketExpiredError, "ticket_expired"),
    (TicketUsedUpError, "ticket_used_up"),
    (EnrollmentError, "refused"),
    (TicketError, "bad_request"),
    (ValueError, "bad_request"),
    (TypeError, "bad_request"),
)


@dataclass(frozen=True)
class ProjectInfo:
    """What an authority's tickets tell a new member about the project.

    Attributes:
        project_id: The project's id (an account-authority admin's ``project`` attribute).
        project_name: Its name (``/project/NAME`` in routes).
        project_routes: Routes to the project node, at least one.
        project_identity: The project node's identity.
        authority_route: The route to this authority's secure channel listener.
    """

    project_id: str
    project_name: str
    project_routes: tuple[str, ...]
    project_identity: IdentityPublic
    authority_route: str


class AuthorityService(Actor):
    """Enrolls members and issues their credentials (see the module docstring).

    Args:
        enrollment: The rules, over the authority's member store.
        identity: The authority's identity, which signs the credentials.
        project: What tickets carry.
        credential_ttl: Seconds each issued credential is valid for.
        account_authority: The identifier of the account authority, whose credential (as a
            channel's verified subject) makes its holder an admin when it names the project;
            None: none is trusted.
        direct_authentication: Enrollers may list the members (Ockam's direct
            authenticator); False refuses `ListMembers` (``--no-direct-authentication``).
        token_enrollment: Enrollers may make tickets and newcomers redeem them; False
            refuses both (``--no-token-enrollment``).
        clock: The wall clock (seconds since the Unix epoch); tests pass a fake one.
    """

    def __init__(
        self,
        enrollment: Enrollment,
        identity: Identity,
        project: ProjectInfo,
        *,
        credential_ttl: int = DEFAULT_CREDENTIAL_TTL,
        account_authority: str | None = None,
        direct_authentication: bool = True,
        token_enrollment: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(credential_ttl, bool) or not isinstance(credential_ttl, int):
            raise TypeError(f"credential_ttl must be whole seconds, got {credential_ttl!r}")
        if credential_ttl < 1:
            raise ValueError(f"credential_ttl must be at least 1 s, got {credential_ttl!r}")
        self.enrollment = enrollment
        self.identity = identity
        self.project = project
        self.credential_ttl = credential_ttl
        self.account_authority = account_authority
        self.direct_authentication = direct_authentication
        self.token_enrollment = token_enrollment
        self.clock = clock

    async def handle_message(self, message: LocalMessage) -> None:
        reply = self.answer(message)
        await self.ctx.reply(message, encode_authority_message(reply))

    def answer(self, message: LocalMessage) -> AuthorityReply:
        """The reply to one request (see the module docstring)."""
        channel = self._channel(message)
        if channel is None:
            log.warning(
                "authority: refused a request from %s: it did not come through a secure channel",
                message.return_route,
            )
            return AuthorityFailure(
                "no_secure_channel",
                "requests to the authority must come through a secure channel to it",
            )
        requester = channel.subject(self.clock()).identifier
        try:
            request = request_decoder.decode(message.payload)
        except msgspec.DecodeError as exc:
            log.warning("authority: a malformed request from %s: %s", requester, exc)
            return AuthorityFailure("bad_request", f"not an authority request: {exc}")
        try:
            return self._handle(request, requester, self._account_attributes(channel))
        except tuple(cls for cls, _ in _KINDS) as exc:
            kind = next(kind for cls, kind in _KINDS if isinstance(exc, cls))
            log.warning("authority: refused %s from %s: %s", type(request).__name__, requester, exc)
            return AuthorityFailure(kind, str(exc))

    def _handle(
        self,
        request: AuthorityRequest,
        requester: str,
        account_attributes: Mapping[str, str] | None,
    ) -> AuthorityReply:
        now = self.clock()
        enrollment = self.enrollment
        if isinstance(request, CreateTicket | RedeemTicket) and not self.token_enrollment:
            raise NotAuthorizedError("this authority does not enroll members with tickets")
        if isinstance(request, ListMembers) and not self.direct_authentication:
            raise NotAuthorizedError("this authority does not serve its member list")
        if isinstance(request, IssueCredential):
            credential = enrollment.issue_credential(
                self.identity, requester, now=now, ttl=self.credential_ttl
            )
            log.info("authority: issued a credential to %s", requester)
            return CredentialIssued(credential.encode())
        if isinstance(request, RedeemTicket):
            member = enrollment.redeem(request.secret, requester, now=now)
            log.info("authority: %s enrolled with a ticket", requester)
            return Enrolled(member)
        if isinstance(request, CreateTicket):
            secret = new_secret()
            record = enrollment.create_ticket(
                requester,
                now=now,
                attributes=request.attributes,
                usage_count=request.usage_count,
                expires_in=request.expires_in,
                enroller=request.enroller,
                secret=secret,
                account_attributes=account_attributes,
            )
            project = self.project
            ticket = EnrollmentTicket.create(
                project_id=project.project_id,
                project_name=project.project_name,
                project_routes=project.project_routes,
                project_identity=project.project_identity,
                authority_identity=self.identity.public,
                authority_route=project.authority_route,
                secret=secret,
            )
            log.info("authority: %s made an enrollment ticket", requester)
            return TicketCreated(ticket.encode(), record.expires_at, record.usage_count)
        roles = enrollment.roles(requester, account_attributes=account_attributes)
        assert isinstance(request, ListMembers)  # the last of AuthorityRequest
        if not roles.enroller:
            raise NotAuthorizedError(
                f"{requester} is not an enroller: only enrollers and admins list members"
            )
        return MemberList(enrollment.members())

    def _account_attributes(self, channel: SecureChannelWorker) -> Mapping[str, str] | None:
        """The attributes of an account-authority credential the requester presented."""
        machine = channel.machine
        if self.account_authority is None or machine.remote_issuer != self.account_authority:
            return None
        subject = channel.subject(self.clock())
        return subject.attributes if subject.has_credential else None

    def _channel(self, message: LocalMessage) -> SecureChannelWorker | None:
        back = message.return_route
        if not back:
            return None
        first = back.next
        worker = self.ctx.node.actor_at(first)
        if not isinstance(worker, SecureChannelWorker) or worker.plaintext_address != first:
            return None
        if worker.machine.remote_identity is None:
            return None
        return worker
