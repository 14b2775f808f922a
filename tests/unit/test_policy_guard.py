"""`PolicyStore` (Ockam's resource and resource-type policies) and `PolicyGuard` (when a
portal is allowed, and when it must be checked again), without I/O: the channel end is a plain
object with `subject(now)` and `subject_expires`, the time a float."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portals import (
    TRUST_DEFAULT,
    Policy,
    PolicyGuard,
    PolicyStore,
    Resource,
    ResourceType,
)
from secure import PolicyExpressionError, Subject, parse_policy_expression

ALICE = "I" + "a" * 64
BOB = "I" + "b" * 64
OUTLET = Resource("outlet", ResourceType.TCP_OUTLET)
INLET = Resource("web", ResourceType.TCP_INLET)


class FakeChannel:
    """A channel end whose peer presented a credential with `attributes` until `expires`."""

    def __init__(self, identifier: str, attributes: dict[str, str], expires: float | None) -> None:
        self.identifier = identifier
        self.attributes = attributes
        self.subject_expires = expires

    def subject(self, now: float) -> Subject:
        if self.subject_expires is None or now >= self.subject_expires:
            return Subject(identifier=self.identifier)
        return Subject(identifier=self.identifier, attributes=self.attributes, has_credential=True)


# --- the store ----------------------------------------------------------------------------------


def test_a_resource_is_guarded_by_its_own_policy_else_by_its_types() -> None:
    store = PolicyStore()
    assert store.expression_for(OUTLET) is None
    store.set_resource_type_policy(ResourceType.TCP_OUTLET, "component.db")
    assert store.expression_for(OUTLET) == parse_policy_expression("component.db")
    assert store.expression_for(INLET) is None  # another type
    store.set_resource_policy("outlet", '(= subject.identifier "I1")')
    assert store.expression_for(OUTLET) == parse_policy_expression('(= subject.identifier "I1")')
    assert store.delete_resource_policy("outlet")
    assert store.expression_for(OUTLET) == parse_policy_expression("component.db")
    assert not store.delete_resource_policy("outlet")


def test_the_store_lists_policies_as_given_resources_first() -> None:
    store = PolicyStore()
    store.set_resource_type_policy(ResourceType.TCP_INLET, "  component.web  ")
    store.set_resource_policy("outlet", '(= subject.env "prod")')
    assert store.policies() == [
        Policy(resource="outlet", action="handle_message", expression='(= subject.env "prod")'),
        Policy(resource="tcp-inlet", action="handle_message", expression="component.web"),
    ]
    assert store.resource_type_policy(ResourceType.TCP_INLET) == store.policies()[1]
    assert store.resource_policy("web") is None


def test_a_bad_expression_is_refused_and_nothing_is_stored() -> None:
    store = PolicyStore()
    with pytest.raises(PolicyExpressionError, match="cannot be parsed"):
        store.set_resource_policy("outlet", "component.db or")
    assert store.policies() == []
    with pytest.raises(ValueError, match="must not be empty"):
        store.set_resource_policy("", "a")


def test_trust_defaults_fill_only_the_types_without_a_policy() -> None:
    store = PolicyStore()
    store.set_resource_type_policy(ResourceType.TCP_INLET, "component.web")
    store.set_trust_defaults()
    assert store.resource_type_policy(ResourceType.TCP_OUTLET) == Policy(
        resource="tcp-outlet", action="handle_message", expression=TRUST_DEFAULT
    )
    inlet = store.resource_type_policy(ResourceType.TCP_INLET)
    assert inlet is not None
    assert inlet.expression == "component.web"


def test_every_change_sets_the_event_taken_before_it() -> None:
    store = PolicyStore()
    before = store.changes()
    store.set_resource_policy("outlet", "a")
    assert before.is_set()
    assert not store.changes().is_set()
    after_set = store.changes()
    assert not store.delete_resource_policy("other")  # nothing changed
    assert not after_set.is_set()
    assert store.delete_resource_policy("outlet")
    assert after_set.is_set()


# --- the guard ----------------------------------------------------------------------------------


def test_no_policy_allows_anyone_even_without_a_channel() -> None:
    guard = PolicyGuard(OUTLET, None)
    assert guard.check(None, now=0.0).allowed
    assert guard.deadline == math.inf


def test_no_secure_channel_no_subject_refused_and_said_so_without_secrets() -> None:
    policy = parse_policy_expression('(= subject.identifier "' + ALICE + '")')
    guard = PolicyGuard(OUTLET, None)
    assert not guard.check(policy, now=0.0).allowed
    line = guard.refusal(policy, now=0.0)
    assert line.startswith("tcp-outlet outlet: no secure channel; policy `(= subject.identifier")
    assert "unbound identifier: subject.identifier" in line


def test_the_identifier_decides_and_the_log_names_it() -> None:
    policy = parse_policy_expression('(= subject.identifier "' + ALICE + '")')
    assert PolicyGuard(OUTLET, FakeChannel(ALICE, {}, None)).check(policy, now=0.0).allowed
    bob = PolicyGuard(OUTLET, FakeChannel(BOB, {"component": "db"}, 100.0))
    assert not bob.check(policy, now=0.0).allowed
    assert f"subject {BOB}" in bob.refusal(policy, now=0.0)
    assert bob.deadline == math.inf  # denied: nothing more to check


def test_allowed_by_a_credential_until_it_expires_then_denied() -> None:
    policy = parse_policy_expression("component.db")
    guard = PolicyGuard(OUTLET, FakeChannel(ALICE, {"component.db": "true"}, 105.0))
    assert guard.check(policy, now=100.0).allowed
    assert guard.deadline == 105.0
    assert not guard.due(104.999)
    assert guard.due(105.0)
    assert not guard.check(policy, now=105.0).allowed
    assert "unbound identifier: subject.component.db" in guard.refusal(policy, now=105.0)


def test_a_fresh_credential_moves_the_deadline() -> None:
    policy = parse_policy_expression("component.db")
    channel = FakeChannel(ALICE, {"component.db": "true"}, 105.0)
    guard = PolicyGuard(OUTLET, channel)
    guard.check(policy, now=100.0)
    channel.subject_expires = 200.0  # the peer presented a new one
    assert guard.check(policy, now=104.0).allowed
    assert guard.deadline == 200.0


def test_a_policy_on_the_identifier_alone_needs_no_check_at_expiry() -> None:
    policy = parse_policy_expression('(= subject.identifier "' + ALICE + '")')
    guard = PolicyGuard(INLET, FakeChannel(ALICE, {"component": "db"}, 105.0))
    assert guard.check(policy, now=100.0).allowed
    assert guard.deadline == 105.0  # checked again then, and still allowed
    assert guard.check(policy, now=105.0).allowed
    assert guard.deadline == math.inf


def test_the_resource_is_in_the_policys_environment() -> None:
    policy = parse_policy_expression('(and (= resource.type "tcp-inlet") (= resource.id "web"))')
    assert PolicyGuard(INLET, FakeChannel(ALICE, {}, None)).check(policy, now=0.0).allowed
    assert not PolicyGuard(OUTLET, FakeChannel(ALICE, {}, None)).check(policy, now=0.0).allowed


@settings(deadline=None)
@given(
    created=st.floats(min_value=0, max_value=1e9),
    ttl=st.floats(min_value=0.001, max_value=1e6),
    checks=st.lists(st.floats(min_value=0, max_value=2e6), max_size=20),
)
def test_a_portal_is_never_allowed_past_its_credentials_expiry(
    created: float, ttl: float, checks: list[float]
) -> None:
    """Whatever the times of the checks, the guard allows only before the expiry, and while
    it allows, its next check is due no later than the expiry."""
    expires = created + ttl
    policy = parse_policy_expression("component.db")
    guard = PolicyGuard(OUTLET, FakeChannel(ALICE, {"component.db": "true"}, expires))
    for offset in sorted(checks):
        now = created + offset
        allowed = guard.check(policy, now=now).allowed
        assert allowed == (now < expires)
        if allowed:
            assert guard.deadline == expires
            assert not guard.due(now)
        else:
            assert guard.deadline == math.inf
