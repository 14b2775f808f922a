"""An authority's enrollment rules: pre-trusted members, roles, tickets and their limits."""

from __future__ import annotations

import pytest

from secure import (
    DEFAULT_TICKET_DURATION,
    Enrollment,
    EnrollmentError,
    Identity,
    Member,
    MemoryEnrollmentStore,
    NotAMemberError,
    NotAuthorizedError,
    Roles,
    TicketExpiredError,
    TicketUnknownError,
    TicketUsedUpError,
    new_secret,
    secret_hash,
    verify_credential,
)

NOW = 1_800_000_000.0
AUTHORITY = Identity.generate()
ADMIN, ENROLLER, MEMBER, NEWCOMER, OTHER = (Identity.generate().identifier for _ in range(5))
ACCOUNT_ADMIN = {"project": "p-1"}


def _authority(*, enforce_admin_checks: bool = False) -> tuple[Enrollment, MemoryEnrollmentStore]:
    store = MemoryEnrollmentStore()
    enrollment = Enrollment(
        store,
        authority=AUTHORITY.identifier,
        project_id="p-1",
        enforce_admin_checks=enforce_admin_checks,
    )
    enrollment.set_pre_trusted(
        {
            ADMIN: {"ockam-role": "enroller"},
            MEMBER: {"component": "db"},
        },
        now=NOW,
    )
    return enrollment, store


def _enroll_enroller(enrollment: Enrollment) -> None:
    secret = new_secret()
    enrollment.create_ticket(ADMIN, now=NOW, enroller=True, secret=secret)
    enrollment.redeem(secret, ENROLLER, now=NOW)


def test_pre_trusted_members_and_their_roles() -> None:
    enrollment, store = _authority()
    assert store.get_member(MEMBER) == Member(
        MEMBER, {"component": "db"}, AUTHORITY.identifier, 1_800_000_000, pre_trusted=True
    )
    assert enrollment.roles(ADMIN) == Roles(
        member=True, enroller=True, admin=True, pre_trusted=True
    )
    assert enrollment.roles(MEMBER) == Roles(
        member=True, enroller=False, admin=False, pre_trusted=True
    )
    assert enrollment.roles(OTHER) == Roles(
        member=False, enroller=False, admin=False, pre_trusted=False
    )


def test_set_pre_trusted_replaces_the_previous_list_and_keeps_ticket_members() -> None:
    enrollment, store = _authority()
    _enroll_enroller(enrollment)
    enrollment.set_pre_trusted({OTHER: {}}, now=NOW)
    assert [m.identifier for m in store.list_members()] == sorted([OTHER, ENROLLER])


def test_an_account_authority_credential_for_the_project_makes_an_admin() -> None:
    enrollment, _ = _authority(enforce_admin_checks=True)
    assert enrollment.roles(OTHER, account_attributes=ACCOUNT_ADMIN).admin
    assert not enrollment.roles(OTHER, account_attributes={"project": "p-2"}).admin
    # with admin checks enforced, a pre-trusted enroller is an enroller, not an admin
    assert enrollment.roles(ADMIN) == Roles(
        member=True, enroller=True, admin=False, pre_trusted=True
    )
    secret = new_secret()
    enrollment.create_ticket(
        OTHER, now=NOW, enroller=True, secret=secret, account_attributes=ACCOUNT_ADMIN
    )
    with pytest.raises(NotAuthorizedError, match="only admins make enroller tickets"):
        enrollment.create_ticket(ADMIN, now=NOW, enroller=True, secret=new_secret())


def test_a_ticket_admits_with_its_attributes_and_who_made_it() -> None:
    enrollment, store = _authority()
    secret = new_secret()
    ticket = enrollment.create_ticket(
        ADMIN, now=NOW, attributes={"component": "web"}, secret=secret
    )
    assert ticket.secret_hash == secret_hash(secret)
    assert ticket.expires_at == NOW + DEFAULT_TICKET_DURATION
    assert (ticket.usage_count, ticket.uses_left) == (1, 1)
    member = enrollment.redeem(secret, NEWCOMER, now=NOW + 1)
    assert member == Member(NEWCOMER, {"component": "web"}, ADMIN, 1_800_000_001)
    assert store.get_member(NEWCOMER) == member
    assert enrollment.member(NEWCOMER) == member


def test_a_replayed_single_use_ticket_is_refused() -> None:
    enrollment, _ = _authority()
    secret = new_secret()
    enrollment.create_ticket(ADMIN, now=NOW, secret=secret)
    enrollment.redeem(secret, NEWCOMER, now=NOW)
    with pytest.raises(TicketUsedUpError, match="already used 1 time, all its usage count allows"):
        enrollment.redeem(secret, OTHER, now=NOW)
    with pytest.raises(TicketUsedUpError):
        enrollment.redeem(secret, NEWCOMER, now=NOW)
    with pytest.raises(NotAMemberError):
        enrollment.member(OTHER)


def test_a_two_use_ticket_admits_two() -> None:
    enrollment, _ = _authority()
    secret = new_secret()
    enrollment.create_ticket(ADMIN, now=NOW, usage_count=2, secret=secret)
    enrollment.redeem(secret, NEWCOMER, now=NOW)
    enrollment.redeem(secret, OTHER, now=NOW)
    with pytest.raises(TicketUsedUpError, match="already used 2 times"):
        enrollment.redeem(secret, Identity.generate().identifier, now=NOW)


def test_an_expired_ticket_is_refused_and_a_valid_one_admits() -> None:
    enrollment, _ = _authority()
    short, long = new_secret(), new_secret()
    enrollment.create_ticket(ADMIN, now=NOW, expires_in=1, secret=short)
    enrollment.create_ticket(ADMIN, now=NOW, expires_in=30, secret=long)
    with pytest.raises(TicketExpiredError, match="expired 1 s ago"):
        enrollment.redeem(short, NEWCOMER, now=NOW + 2)
    assert enrollment.redeem(long, NEWCOMER, now=NOW + 2).identifier == NEWCOMER
    with pytest.raises(TicketExpiredError):
        enrollment.redeem(long, OTHER, now=NOW + 30)


def test_an_unknown_ticket_is_refused() -> None:
    enrollment, _ = _authority()
    with pytest.raises(TicketUnknownError, match="never issued here"):
        enrollment.redeem(new_secret(), NEWCOMER, now=NOW)


def test_only_enrollers_and_admins_make_tickets() -> None:
    enrollment, _ = _authority()
    for outsider in (MEMBER, OTHER):
        with pytest.raises(NotAuthorizedError, match="is not an enroller of project p-1"):
            enrollment.create_ticket(outsider, now=NOW, secret=new_secret())
    enrollment.create_ticket(OTHER, now=NOW, secret=new_secret(), account_attributes=ACCOUNT_ADMIN)


def test_an_enroller_makes_member_tickets_but_not_enroller_tickets() -> None:
    enrollment, _ = _authority()
    _enroll_enroller(enrollment)
    assert enrollment.roles(ENROLLER) == Roles(
        member=True, enroller=True, admin=False, pre_trusted=False
    )
    secret = new_secret()
    enrollment.create_ticket(ENROLLER, now=NOW, attributes={"component": "db"}, secret=secret)
    assert enrollment.redeem(secret, NEWCOMER, now=NOW).added_by == ENROLLER
    with pytest.raises(NotAuthorizedError, match="an enroller but not an admin"):
        enrollment.create_ticket(ENROLLER, now=NOW, enroller=True, secret=new_secret())
    # nor by spelling the role as an attribute
    with pytest.raises(NotAuthorizedError):
        enrollment.create_ticket(
            ENROLLER, now=NOW, attributes={"ockam-role": "enroller"}, secret=new_secret()
        )


def test_a_pre_trusted_identity_cannot_redeem_a_ticket() -> None:
    enrollment, store = _authority()
    secret = new_secret()
    enrollment.create_ticket(ADMIN, now=NOW, attributes={"component": "x"}, secret=secret)
    with pytest.raises(EnrollmentError, match="is a pre-trusted member"):
        enrollment.redeem(secret, MEMBER, now=NOW)
    member = store.get_member(MEMBER)
    assert member is not None
    assert member.attributes == {"component": "db"}
    enrollment.redeem(secret, NEWCOMER, now=NOW)  # the refusal did not use the ticket


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"usage_count": 0}, "usage_count must be a whole number"),
        ({"expires_in": 0}, "expires_in must be whole seconds"),
        ({"attributes": {"identifier": "x"}}, "reserved"),
        ({"attributes": {"a b": "x"}}, "without spaces"),
    ],
)
def test_create_ticket_checks_its_arguments(kwargs: dict[str, object], message: str) -> None:
    enrollment, _ = _authority()
    with pytest.raises(ValueError, match=message):
        enrollment.create_ticket(ADMIN, now=NOW, secret=new_secret(), **kwargs)  # type: ignore[arg-type]


def test_direct_member_additions_follow_the_same_roles() -> None:
    enrollment, _ = _authority()
    _enroll_enroller(enrollment)
    added = enrollment.add_member(ENROLLER, NEWCOMER, {"component": "web"}, now=NOW)
    assert added.added_by == ENROLLER
    with pytest.raises(NotAuthorizedError, match="cannot add enrollers"):
        enrollment.add_member(ENROLLER, OTHER, {"ockam-role": "enroller"}, now=NOW)
    with pytest.raises(NotAuthorizedError, match="cannot add members"):
        enrollment.add_member(NEWCOMER, OTHER, {}, now=NOW)
    with pytest.raises(NotAuthorizedError, match="is pre-trusted"):
        enrollment.add_member(ADMIN, MEMBER, {}, now=NOW)
    enrollment.add_member(ADMIN, OTHER, {"ockam-role": "enroller"}, now=NOW)


def test_members_get_credentials_with_their_attributes() -> None:
    enrollment, _ = _authority()
    credential = enrollment.issue_credential(AUTHORITY, MEMBER, now=NOW, ttl=60)
    data = verify_credential(
        credential, issuer_identity=AUTHORITY.identifier, now=NOW, subject=MEMBER
    )
    assert data.attributes == {"component": "db"}
    with pytest.raises(NotAMemberError, match="is not a member of project p-1"):
        enrollment.issue_credential(AUTHORITY, OTHER, now=NOW, ttl=60)
