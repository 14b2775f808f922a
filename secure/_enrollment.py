"""An authority's members and enrollment tickets: the rules, sans-IO, over a storage protocol.

Members are identities the authority issues credentials to, each with its attributes. They
join in two ways: *pre-trusted* (the authority's configuration, ``--trusted-identities``), or
by redeeming an enrollment *ticket* that an enroller made. Roles are Ockam's: a member whose
attribute ``ockam-role`` is ``enroller`` may make tickets and add members; an *admin* may also
make enroller tickets (tickets whose members become enrollers).

Who is an admin (ours, stricter than Ockam, which by default treats every enroller as an
admin): an identity that presents a credential from the account authority whose ``project``
attribute is this project's id; and, unless admin checks are enforced, a *pre-trusted*
enroller. An enroller who joined by ticket is never an admin, so enrollers cannot make
enrollers.

Ticket rules: only enrollers make tickets; a ticket has attributes, a usage count (default 1)
and an expiry (default 10 minutes, Ockam's); redeeming one past its expiry, or more often than
its usage count, fails, so a replayed single-use ticket is refused; a pre-trusted identity
cannot redeem one (its attributes come from the configuration). Every refusal is an
`EnrollmentError` subclass whose message says why and names no secret.

Storage is the `EnrollmentStore` protocol: `MemoryEnrollmentStore` here, and
`SqliteEnrollmentStore` (`_enrollment_sqlite`) for an authority node. The rules run inside
`EnrollmentStore.transaction`, so a store shared between processes can make each redeem
atomic.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

import msgspec

from ._channel_info import check_identifier
from ._credential import Credential, _check_attributes, issue_credential
from ._identity import Identity
from ._ticket import secret_hash

ROLE_ATTRIBUTE = "ockam-role"
"""The attribute that gives a member a role (Ockam's ``OCKAM_ROLE_ATTRIBUTE_KEY``)."""

RELAY_ATTRIBUTE = "ockam-relay"
"""The attribute naming the relay a member may create at a project node (Ockam's); ``*``
allows any name."""

ENROLLER_ROLE = "enroller"
"""The role that lets a member make tickets and add members."""

PROJECT_ATTRIBUTE = "project"
"""The account-authority credential attribute naming the project its holder administers."""

DEFAULT_TICKET_DURATION = 600
"""Seconds a ticket stays valid when no expiry is given (Ockam's 10 minutes)."""


class EnrollmentError(Exception):
    """The authority refused an enrollment request; the subclass says why."""


class NotAuthorizedError(EnrollmentError):
    """The requester may not do this (not an enroller; or an enroller, not an admin)."""


class NotAMemberError(EnrollmentError):
    """The identity is not a member of the project."""


class TicketUnknownError(EnrollmentError):
    """No ticket has this secret."""


class TicketExpiredError(EnrollmentError):
    """The ticket's expiry time has passed."""


class TicketUsedUpError(EnrollmentError):
    """The ticket was already redeemed as many times as its usage count allows."""


class Member(msgspec.Struct, frozen=True):
    """A member of the project.

    Attributes:
        identifier: The member's identifier.
        attributes: What its credentials state about it.
        added_by: Who admitted it: the enroller who made its ticket or added it, or the
            authority itself for pre-trusted members.
        added_at: When, in whole seconds since the Unix epoch.
        pre_trusted: Whether it comes from the authority's configuration.
    """

    identifier: str
    attributes: dict[str, str]
    added_by: str
    added_at: int
    pre_trusted: bool = False

    @property
    def is_enroller(self) -> bool:
        """Whether its ``ockam-role`` attribute is ``enroller``."""
        return self.attributes.get(ROLE_ATTRIBUTE) == ENROLLER_ROLE


class TicketRecord(msgspec.Struct, frozen=True):
    """What the authority keeps about a ticket it made (never the secret itself).

    Attributes:
        secret_hash: SHA-256 of the ticket's one-time secret.
        attributes: The attributes its members get (with ``ockam-role`` for enroller tickets).
        issued_by: The enroller who made it.
        created_at: When, in whole seconds since the Unix epoch.
        expires_at: When it stops admitting anyone.
        usage_count: How many enrollments it allows in all.
        uses_left: How many it still allows.
    """

    secret_hash: bytes
    attributes: dict[str, str]
    issued_by: str
    created_at: int
    expires_at: int
    usage_count: int
    uses_left: int

    @property
    def is_enroller(self) -> bool:
        """Whether its members become enrollers."""
        return self.attributes.get(ROLE_ATTRIBUTE) == ENROLLER_ROLE


class Roles(msgspec.Struct, frozen=True):
    """What an identity may do at this authority."""

    member: bool
    enroller: bool
    admin: bool
    pre_trusted: bool


class EnrollmentStore(Protocol):
    """Where an authority keeps its members and tickets."""

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose reads and writes are atomic with respect to other users."""
        ...

    def get_member(self, identifier: str) -> Member | None:
        """The member with this identifier, if any."""
        ...

    def put_member(self, member: Member) -> None:
        """Add or replace a member."""
        ...

    def delete_member(self, identifier: str) -> None:
        """Remove a member (no error if absent)."""
        ...

    def list_members(self) -> list[Member]:
        """Every member, sorted by identifier."""
        ...

    def get_ticket(self, secret_hash: bytes) -> TicketRecord | None:
        """The ticket with this secret hash, if any."""
        ...

    def put_ticket(self, ticket: TicketRecord) -> None:
        """Add or replace a ticket."""
        ...


class MemoryEnrollmentStore:
    """An `EnrollmentStore` in memory, for tests and short-lived authorities."""

    def __init__(self) -> None:
        self._members: dict[str, Member] = {}
        self._tickets: dict[bytes, TicketRecord] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Nothing to do: one process, and the rules never await."""
        yield

    def get_member(self, identifier: str) -> Member | None:
        """The member with this identifier, if any."""
        return self._members.get(identifier)

    def put_member(self, member: Member) -> None:
        """Add or replace a member."""
        self._members[member.identifier] = member

    def delete_member(self, identifier: str) -> None:
        """Remove a member (no error if absent)."""
        self._members.pop(identifier, None)

    def list_members(self) -> list[Member]:
        """Every member, sorted by identifier."""
        return [self._members[i] for i in sorted(self._members)]

    def get_ticket(self, secret_hash: bytes) -> TicketRecord | None:
        """The ticket with this secret hash, if any."""
        return self._tickets.get(secret_hash)

    def put_ticket(self, ticket: TicketRecord) -> None:
        """Add or replace a ticket."""
        self._tickets[ticket.secret_hash] = ticket


class Enrollment:
    """An authority's enrollment rules over a store; see the module documentation.

    Args:
        store: Where members and tickets live.
        authority: The authority's own identifier (``added_by`` of pre-trusted members).
        project_id: The project's id, which an account-authority credential must name.
        enforce_admin_checks: Only account-authority admins are admins (pre-trusted
            enrollers are not).
    """

    def __init__(
        self,
        store: EnrollmentStore,
        *,
        authority: str,
        project_id: str,
        enforce_admin_checks: bool = False,
    ) -> None:
        self._store = store
        self._authority = check_identifier(authority)
        if not project_id:
            raise ValueError("project_id must not be empty")
        self._project_id = project_id
        self._enforce_admin_checks = enforce_admin_checks

    def set_pre_trusted(self, trusted: Mapping[str, Mapping[str, str]], *, now: float) -> None:
        """Make exactly these identities the pre-trusted members, with these attributes.

        Pre-trusted members no longer listed are removed; members who joined otherwise are
        kept, unless listed (they become pre-trusted).

        Raises:
            ValueError: An identifier or attribute is malformed.
        """
        checked = {
            check_identifier(identifier): _check_attributes(attributes)
            for identifier, attributes in trusted.items()
        }
        with self._store.transaction():
            for member in self._store.list_members():
                if member.pre_trusted and member.identifier not in checked:
                    self._store.delete_member(member.identifier)
            for identifier, attributes in checked.items():
                self._store.put_member(
                    Member(identifier, attributes, self._authority, math.floor(now), True)
                )

    def roles(
        self, identifier: str, *, account_attributes: Mapping[str, str] | None = None
    ) -> Roles:
        """What `identifier` may do.

        Args:
            identifier: The requester, as its secure channel proved it.
            account_attributes: The attributes of a credential it presented from the account
                authority, verified by the caller; None if it presented none.
        """
        member = self._store.get_member(identifier)
        account_admin = (
            account_attributes is not None
            and account_attributes.get(PROJECT_ATTRIBUTE) == self._project_id
        )
        pre_trusted = member is not None and member.pre_trusted
        enroller = member is not None and member.is_enroller
        admin = account_admin or (pre_trusted and enroller and not self._enforce_admin_checks)
        return Roles(
            member=member is not None or account_admin,
            enroller=enroller or admin,
            admin=admin,
            pre_trusted=pre_trusted,
        )

    def create_ticket(
        self,
        requester: str,
        *,
        now: float,
        attributes: Mapping[str, str] | None = None,
        usage_count: int = 1,
        expires_in: int = DEFAULT_TICKET_DURATION,
        enroller: bool = False,
        secret: bytes,
        account_attributes: Mapping[str, str] | None = None,
    ) -> TicketRecord:
        """Record a ticket for `secret` (`new_secret`), made by `requester`.

        Args:
            requester: Who asks, as its secure channel proved it.
            now: The current time, in seconds since the Unix epoch.
            attributes: What the ticket's members get.
            usage_count: How many enrollments it allows (at least 1).
            expires_in: Seconds until it expires (at least 1).
            enroller: Its members become enrollers (``ockam-role=enroller``).
            secret: The one-time secret the ticket string carries; only its hash is kept.
            account_attributes: As for `roles`.

        Raises:
            NotAuthorizedError: The requester is not an enroller, or asks for an enroller
                ticket without being an admin.
            ValueError: A count, duration or attribute is malformed.
        """
        if isinstance(usage_count, bool) or not isinstance(usage_count, int) or usage_count < 1:
            raise ValueError(f"usage_count must be a whole number, at least 1, got {usage_count!r}")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1:
            raise ValueError(f"expires_in must be whole seconds, at least 1, got {expires_in!r}")
        granted = _check_attributes(attributes or {})
        if enroller:
            granted[ROLE_ATTRIBUTE] = ENROLLER_ROLE
        roles = self.roles(requester, account_attributes=account_attributes)
        if not roles.enroller:
            raise NotAuthorizedError(
                f"{requester} is not an enroller of project {self._project_id}: "
                "only enrollers and admins make enrollment tickets"
            )
        if granted.get(ROLE_ATTRIBUTE) == ENROLLER_ROLE and not roles.admin:
            raise NotAuthorizedError(
                f"{requester} is an enroller but not an admin of project {self._project_id}: "
                "only admins make enroller tickets"
            )
        created = math.floor(now)
        ticket = TicketRecord(
            secret_hash=secret_hash(secret),
            attributes=dict(sorted(granted.items())),
            issued_by=requester,
            created_at=created,
            expires_at=created + expires_in,
            usage_count=usage_count,
            uses_left=usage_count,
        )
        with self._store.transaction():
            self._store.put_ticket(ticket)
        return ticket

    def redeem(self, secret: bytes, identifier: str, *, now: float) -> Member:
        """Admit `identifier` with a ticket's secret; returns the member it became.

        Raises:
            TicketUnknownError: No ticket has this secret.
            TicketExpiredError: The ticket expired.
            TicketUsedUpError: The ticket was used as often as its usage count allows (a
                replayed single-use ticket).
            EnrollmentError: The identity is pre-trusted.
        """
        check_identifier(identifier)
        with self._store.transaction():
            ticket = self._store.get_ticket(secret_hash(secret))
            if ticket is None:
                raise TicketUnknownError("unknown enrollment ticket: it was never issued here")
            if now >= ticket.expires_at:
                raise TicketExpiredError(
                    f"enrollment ticket expired {now - ticket.expires_at:.0f} s ago"
                )
            if ticket.uses_left < 1:
                raise TicketUsedUpError(
                    f"enrollment ticket was already used {ticket.usage_count} "
                    f"time{'s' if ticket.usage_count != 1 else ''}, all its usage count allows"
                )
            existing = self._store.get_member(identifier)
            if existing is not None and existing.pre_trusted:
                raise EnrollmentError(
                    f"{identifier} is a pre-trusted member: its attributes come from the "
                    "authority's configuration, not from a ticket"
                )
            self._store.put_ticket(msgspec.structs.replace(ticket, uses_left=ticket.uses_left - 1))
            member = Member(
                identifier, dict(ticket.attributes), ticket.issued_by, math.floor(now), False
            )
            self._store.put_member(member)
        return member

    def add_member(
        self,
        requester: str,
        identifier: str,
        attributes: Mapping[str, str],
        *,
        now: float,
        account_attributes: Mapping[str, str] | None = None,
    ) -> Member:
        """Add (or update) a member directly, as an enroller may.

        Raises:
            NotAuthorizedError: The requester is not an enroller; or it makes an enroller
                without being an admin; or the member is pre-trusted.
            ValueError: The identifier or an attribute is malformed.
        """
        check_identifier(identifier)
        granted = _check_attributes(attributes)
        roles = self.roles(requester, account_attributes=account_attributes)
        if not roles.enroller:
            raise NotAuthorizedError(f"{requester} is not an enroller: it cannot add members")
        if granted.get(ROLE_ATTRIBUTE) == ENROLLER_ROLE and not roles.admin:
            raise NotAuthorizedError(f"{requester} is not an admin: it cannot add enrollers")
        with self._store.transaction():
            existing = self._store.get_member(identifier)
            if existing is not None and existing.pre_trusted:
                raise NotAuthorizedError(f"{identifier} is pre-trusted: it cannot be changed")
            member = Member(identifier, granted, requester, math.floor(now), False)
            self._store.put_member(member)
        return member

    def member(self, identifier: str) -> Member:
        """The member `identifier`.

        Raises:
            NotAMemberError: It is not a member.
        """
        member = self._store.get_member(identifier)
        if member is None:
            raise NotAMemberError(
                f"{identifier} is not a member of project {self._project_id}: "
                "enroll with a ticket, or ask an admin to add it"
            )
        return member

    def members(self) -> list[Member]:
        """Every member, sorted by identifier."""
        return self._store.list_members()

    def issue_credential(
        self, authority: Identity, identifier: str, *, now: float, ttl: int
    ) -> Credential:
        """The credential the authority issues a member: its attributes, for `ttl` seconds.

        Raises:
            NotAMemberError: `identifier` is not a member.
        """
        member = self.member(identifier)
        return issue_credential(authority, identifier, member.attributes, ttl=ttl, now=now)
