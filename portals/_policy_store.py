"""A node's policies, as Ockam keeps them: by resource name, and by resource type.

Ockam (``ockam_abac``'s `Policies`) stores a policy for a *resource* (an outlet's address, an
inlet's alias) and for a *resource type* (``tcp-outlet``, ``tcp-inlet``), each for an action
(only ``handle_message`` here). The policy that guards a resource is its own if it has one,
else its type's. A resource with neither is not guarded: anyone who reaches it is served
(Ockam denies instead, but it only sets up access control on nodes that trust an authority,
and it stores the type defaults, `TRUST_DEFAULT`, on those nodes; `set_trust_defaults` does
that here).
"""

from __future__ import annotations

import enum

import msgspec
import trio

from secure import DEFAULT_ACTION, PolicyExpression, parse_policy_expression


class ResourceType(enum.Enum):
    """The kinds of resource a policy can guard (Ockam's `ResourceType`, the ones built here)."""

    TCP_INLET = "tcp-inlet"
    TCP_OUTLET = "tcp-outlet"


class Resource(msgspec.Struct, frozen=True):
    """A guarded thing: its name (an outlet's address, an inlet's alias) and its type."""

    name: str
    type: ResourceType

    def facts(self) -> dict[str, str]:
        """What a policy sees of it: ``resource.id`` and ``resource.type``."""
        return {"id": self.name, "type": self.type.value}

    def __str__(self) -> str:
        return f"{self.type.value} {self.name}"


class Policy(msgspec.Struct, frozen=True):
    """A stored policy, as `policy show --output json` shows it (Ockam's field names).

    Attributes:
        resource: The resource's name, or the resource type's (``tcp-outlet``).
        action: The action it guards (``handle_message``).
        expression: The expression as it was given.
    """

    resource: str
    action: str
    expression: str


TRUST_DEFAULT = "(= subject.has_credential true)"
"""The resource types' policy on a node that trusts an authority: the subject presented a
credential that the node verified (Ockam's `subject_has_credential_policy_expression`)."""


class _Rule(msgspec.Struct, frozen=True):
    text: str
    expression: PolicyExpression


_Key = tuple[str, str]  # (resource name or type, action)


class PolicyStore:
    """The policies of one node's resources and resource types, in memory.

    Every change sets the event `changes()` returned before it, so the portals open under a
    policy check again at once (a changed policy applies to them too, as Ockam's applies to
    the next message); a portal opened while no policy was in force is not watched.
    """

    def __init__(self) -> None:
        self._by_name: dict[_Key, _Rule] = {}
        self._by_type: dict[_Key, _Rule] = {}
        self._changed = trio.Event()

    def changes(self) -> trio.Event:
        """An event set at the next change of any policy."""
        return self._changed

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # --- setting -------------------------------------------------------------------------------

    def set_resource_policy(
        self, name: str, expression: str | PolicyExpression, *, action: str = DEFAULT_ACTION
    ) -> Policy:
        """Guard the resource called `name` with `expression` (either form, text or parsed).

        Raises:
            PolicyExpressionError: `expression` is text that does not parse.
            ValueError: `name` or `action` is empty.
        """
        if not name:
            raise ValueError("a policy's resource name must not be empty")
        return self._set(self._by_name, name, expression, action)

    def set_resource_type_policy(
        self,
        resource_type: ResourceType,
        expression: str | PolicyExpression,
        *,
        action: str = DEFAULT_ACTION,
    ) -> Policy:
        """Guard every resource of `resource_type` that has no policy of its own.

        Raises:
            PolicyExpressionError: `expression` is text that does not parse.
        """
        return self._set(self._by_type, resource_type.value, expression, action)

    def set_trust_defaults(self) -> None:
        """Give each resource type that has no policy `TRUST_DEFAULT` (as Ockam does on a node
        that trusts an authority)."""
        for resource_type in ResourceType:
            if (resource_type.value, DEFAULT_ACTION) not in self._by_type:
                self.set_resource_type_policy(resource_type, TRUST_DEFAULT)

    def _set(
        self,
        table: dict[_Key, _Rule],
        resource: str,
        expression: str | PolicyExpression,
        action: str,
    ) -> Policy:
        if not action:
            raise ValueError("a policy's action must not be empty")
        if isinstance(expression, str):
            rule = _Rule(expression.strip(), parse_policy_expression(expression))
        else:
            rule = _Rule(str(expression), expression)
        table[(resource, action)] = rule
        self._touch()
        return Policy(resource=resource, action=action, expression=rule.text)

    # --- reading -------------------------------------------------------------------------------

    def expression_for(
        self, resource: Resource, *, action: str = DEFAULT_ACTION
    ) -> PolicyExpression | None:
        """The policy that guards `resource`: its own, else its type's; None when neither."""
        rule = self._by_name.get((resource.name, action)) or self._by_type.get(
            (resource.type.value, action)
        )
        return None if rule is None else rule.expression

    def resource_policy(self, name: str, *, action: str = DEFAULT_ACTION) -> Policy | None:
        """The policy stored for the resource called `name`, if any."""
        return _policy(self._by_name, name, action)

    def resource_type_policy(
        self, resource_type: ResourceType, *, action: str = DEFAULT_ACTION
    ) -> Policy | None:
        """The policy stored for `resource_type`, if any."""
        return _policy(self._by_type, resource_type.value, action)

    def policies(self) -> list[Policy]:
        """Every stored policy: the resources' (by name), then the resource types'."""
        return [
            Policy(resource=resource, action=action, expression=rule.text)
            for table in (self._by_name, self._by_type)
            for (resource, action), rule in sorted(table.items())
        ]

    # --- deleting ------------------------------------------------------------------------------

    def delete_resource_policy(self, name: str, *, action: str = DEFAULT_ACTION) -> bool:
        """Forget the policy of the resource called `name`; False when it had none."""
        return self._delete(self._by_name, name, action)

    def delete_resource_type_policy(
        self, resource_type: ResourceType, *, action: str = DEFAULT_ACTION
    ) -> bool:
        """Forget the policy of `resource_type`; False when it had none."""
        return self._delete(self._by_type, resource_type.value, action)

    def _delete(self, table: dict[_Key, _Rule], resource: str, action: str) -> bool:
        if table.pop((resource, action), None) is None:
            return False
        self._touch()
        return True


def _policy(table: dict[_Key, _Rule], resource: str, action: str) -> Policy | None:
    rule = table.get((resource, action))
    return None if rule is None else Policy(resource=resource, action=action, expression=rule.text)
