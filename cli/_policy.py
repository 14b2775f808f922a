"""Policies: `ockam policy create/show/list/delete`, a node's access control on its portals.

A policy guards a resource (an outlet by address, an inlet by alias: `--resource NAME`) or
every resource of a type that has none of its own (`--resource-type tcp-outlet|tcp-inlet`);
the node keeps them in its `PolicyStore` (`portals`), which its outlets and inlets consult for
every portal. The node writes them to the state database after every change and reads them
back when it starts (`cli._policy_db`), so a restarted node keeps them. Output and JSON are
Ockam's (`ockam_command/src/policy`, `ockam_api`'s `Policy`: `resource`, `action`,
`expression`).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Annotated, Literal

import trio
from cyclopts import Parameter
from rich.markup import escape

from portals import Policy, PolicyStore, ResourceType
from secure import (
    DEFAULT_ACTION,
    PolicyExpressionError,
    parse_boolean_expression,
    parse_expression,
    parse_policy_expression,
)

from ._app import DEFAULT, Common, NodeOption, YesOption, ask_node, command_group, confirm
from ._control import Empty, Request
from ._controller import NodeController
from ._feature import Feature
from ._policy_db import PolicyDatabase, PolicyKind, StoredPolicy
from ._state import StateStore

log = logging.getLogger("ockam.policy")

RESOURCE_TYPES = {t.value: t for t in ResourceType}
"""The resource types by name: `tcp-outlet`, `tcp-inlet`."""

ResourceTypeName = Literal["tcp-outlet", "tcp-inlet"]


class CreatePolicy(Request, frozen=True, tag="policy-create"):
    """Set the policy of a resource (`kind` `resource`, by name) or of a resource type.

    `form` says how `expression` reads: `expression` (an s-expression, Ockam's
    `--expression`) or `allow` (either form: the boolean shorthand too).
    """

    resource: str
    expression: str
    kind: PolicyKind = "resource"
    form: Literal["expression", "allow"] = "expression"


class ShowPolicy(Request, frozen=True, tag="policy-show"):
    """The policy of one resource or resource type."""

    resource: str
    kind: PolicyKind = "resource"


class DeletePolicy(Request, frozen=True, tag="policy-delete"):
    """Forget the policy of one resource or resource type."""

    resource: str
    kind: PolicyKind = "resource"


class ListPolicies(Request, frozen=True, tag="policy-list"):
    """Every policy of the node: the resources', then the resource types'."""


@dataclass
class _Persistence:
    """Where a node's policies are saved, and the lock that keeps saves in order (each
    writes a snapshot taken under it, so a later change is never overwritten by an earlier
    one)."""

    database: PolicyDatabase
    lock: trio.Lock = field(default_factory=trio.Lock)


def parse_policy(text: str, form: Literal["expression", "allow"], *, flag: str) -> None:
    """Refuse `text` (given as `flag`) unless it parses in `form`, saying where it stopped.

    Raises:
        PolicyExpressionError: It does not parse; one line, with the position.
    """
    try:
        if form == "expression":
            parse_expression(text)
        else:
            _parse_either(text)
    except PolicyExpressionError as exc:
        message = str(exc)
        if exc.position is not None and "character" not in message:
            message += f" (at character {exc.position})"
        raise PolicyExpressionError(f"invalid {flag} `{text}`: {message}", exc.position) from None


def _parse_either(text: str) -> None:
    """Parse `text` in either form; when it is neither, the error of the parser that read
    further (the one that says where the user's text went wrong)."""
    try:
        parse_policy_expression(text)
    except PolicyExpressionError:
        errors: list[PolicyExpressionError] = []
        for parser in (parse_expression, parse_boolean_expression):
            try:
                parser(text)
            except PolicyExpressionError as exc:
                errors.append(exc)
        full, boolean = errors
        if text.lstrip().startswith("(") and (full.position or 0) >= (boolean.position or 0):
            raise full from None
        raise boolean from None


def snapshot(store: PolicyStore) -> list[StoredPolicy]:
    """Every policy in `store`, as rows of the state database."""
    every = store.policies()
    actions = sorted({p.action for p in every})
    # `policies()` lists the resources' policies, then the resource types': count the latter.
    types = [
        policy
        for resource_type in ResourceType
        for action in actions
        if (policy := store.resource_type_policy(resource_type, action=action)) is not None
    ]
    split = len(every) - len(types)
    return [
        StoredPolicy("resource" if index < split else "resource_type", *_fields(policy))
        for index, policy in enumerate(every)
    ]


def _fields(policy: Policy) -> tuple[str, str, str]:
    return policy.resource, policy.action, policy.expression


def restore(store: PolicyStore, rows: list[StoredPolicy]) -> int:
    """Put `rows` into `store`; a row that no longer reads is logged and skipped.

    Returns:
        How many rows were restored.
    """
    restored = 0
    for row in rows:
        try:
            if row.kind == "resource_type":
                store.set_resource_type_policy(
                    ResourceType(row.resource), row.expression, action=row.action
                )
            else:
                store.set_resource_policy(row.resource, row.expression, action=row.action)
            restored += 1
        except ValueError as exc:  # PolicyExpressionError, or an unknown resource type
            log.warning("skipped the stored policy of %s %s: %s", row.kind, row.resource, exc)
    return restored


async def save_policies(controller: NodeController) -> None:
    """Write the node's policies to the state database (its shutdown hook, and after every
    change)."""
    persistence = controller.node.attached(_Persistence)
    if persistence is None:
        return
    async with persistence.lock:
        rows = snapshot(controller.portals.policies)
        await trio.to_thread.run_sync(persistence.database.save, rows)


async def _save_on_change(controller: NodeController) -> None:
    """Save the node's policies after each change (an outlet's `--allow`, its deletion...)."""
    store = controller.portals.policies
    changed = store.changes()
    while True:
        await changed.wait()
        changed = store.changes()  # before saving: a change during the save is not missed
        try:
            await save_policies(controller)
        except Exception:
            log.exception("could not save the policies of node %s", controller.node.name)


async def load_policies(controller: NodeController) -> None:
    """Read the node's policies from the state database (its setup hook), then keep saving
    them as they change."""
    # controller.home is $OCKAM_HOME/nodes/NAME, in the OCKAM_HOME the node was started with.
    database = PolicyDatabase(StateStore(controller.home.parent.parent), controller.node.name)
    controller.node.attach(_Persistence(database))
    rows = await trio.to_thread.run_sync(database.load)
    restored = restore(controller.portals.policies, rows)
    if rows:
        log.info("node %s restored %d policies", controller.node.name, restored)
    controller.node.nursery.start_soon(_save_on_change, controller)


policy_app = command_group(
    "policy", "Create and manage policies: who may use a node's TCP outlets and inlets."
)
FEATURE = Feature("policy", commands=[policy_app], setup=[load_policies], shutdown=[save_policies])


def _noun(kind: PolicyKind) -> str:
    return "resource type" if kind == "resource_type" else "resource"


@FEATURE.handles(CreatePolicy)
async def _create(c: NodeController, r: CreatePolicy) -> Policy:
    parse_policy(r.expression, r.form, flag=f"--{r.form}")
    store = c.portals.policies
    if r.kind == "resource_type":
        policy = store.set_resource_type_policy(RESOURCE_TYPES[r.resource], r.expression)
    else:
        policy = store.set_resource_policy(r.resource, r.expression)
    await save_policies(c)
    return policy


def _find(c: NodeController, r: ShowPolicy | DeletePolicy) -> Policy:
    """The policy `r` names; the node's 'not found' error when there is none."""
    store = c.portals.policies
    if r.kind == "resource_type":
        policy = store.resource_type_policy(RESOURCE_TYPES[r.resource])
    else:
        policy = store.resource_policy(r.resource)
    if policy is None:
        raise c.not_found(f"policy for {_noun(r.kind)}", r.resource)
    return policy


@FEATURE.handles(ShowPolicy)
async def _show(c: NodeController, r: ShowPolicy) -> Policy:
    return _find(c, r)


@FEATURE.handles(DeletePolicy)
async def _delete(c: NodeController, r: DeletePolicy) -> Empty:
    _find(c, r)
    store = c.portals.policies
    if r.kind == "resource_type":
        store.delete_resource_type_policy(RESOURCE_TYPES[r.resource])
    else:
        store.delete_resource_policy(r.resource)
    await save_policies(c)
    return Empty()


@FEATURE.handles(ListPolicies)
async def _list(c: NodeController, r: ListPolicies) -> list[Policy]:
    return c.portals.policies.policies()


def _target(resource: str) -> tuple[PolicyKind, str]:
    """A resource as Ockam reads one (`ResourceTypeOrName`): a type's name is the type."""
    if not resource:
        raise ValueError("a policy's resource must not be empty")
    return ("resource_type" if resource in RESOURCE_TYPES else "resource"), resource


def _line(policy: Policy) -> str:
    return f"{policy.resource}  {policy.expression}"


ResourceArgument = Annotated[
    str,
    Parameter(
        help="The resource: tcp-outlet or tcp-inlet (a resource type), or a resource's name "
        "(an outlet's address, an inlet's alias)."
    ),
]


@policy_app.command(name="create")
def policy_create(
    *,
    resource_type: Annotated[ResourceTypeName | None, Parameter(name="--resource-type")] = None,
    resource: str | None = None,
    expression: str | None = None,
    allow: str | None = None,
    at: NodeOption = None,
    common: Common = DEFAULT,
) -> None:
    """Create (or replace) the policy of a resource type or of one resource.

    Parameters
    ----------
    resource_type
        Guard every resource of this type that has no policy of its own.
    resource
        Guard one resource: an outlet's address (outlet, for /service/outlet) or an inlet's
        alias.
    expression
        The policy as an s-expression, like '(= subject.identifier "I…")' or
        '(and (= subject.component "db") (exists? subject.env))'.
    allow
        The policy as the boolean shorthand, like 'component.db or component.web'
        (an s-expression works too).
    """
    printer = common.printer()
    if (resource_type is None) == (resource is None):
        raise ValueError("give one of --resource-type or --resource")
    if (expression is None) == (allow is None):
        raise ValueError("give one of --expression or --allow")
    kind: PolicyKind = "resource_type"
    name: str = resource_type or ""
    if resource is not None:
        kind, name = _target(resource)
        if kind == "resource_type" and not common.quiet:
            # Ockam's backwards compatibility: `--resource tcp-outlet` means the type.
            print(
                f"warning: --resource {name} is deprecated: use --resource-type {name} instead",
                file=sys.stderr,
            )
    form: Literal["expression", "allow"] = "expression" if expression is not None else "allow"
    text = expression if expression is not None else allow
    assert text is not None
    parse_policy(text, form, flag=f"--{form}")
    record, policy = ask_node(at, CreatePolicy(name, text, kind=kind, form=form), Policy)
    printer.emit(
        plain=_line(policy),
        data=policy,
        pretty=f"[green]✔︎[/green] Policy for {_noun(kind)} {escape(policy.resource)} created at "
        f"node {record.name}: {escape(policy.expression)}",
    )


@policy_app.command(name="show")
def policy_show(
    resource: ResourceArgument, /, *, at: NodeOption = None, common: Common = DEFAULT
) -> None:
    """Show the policy of a resource type or of one resource."""
    printer = common.printer()
    kind, name = _target(resource)
    _, policy = ask_node(at, ShowPolicy(name, kind=kind), Policy)
    printer.emit(
        plain=_line(policy),
        data=policy,
        pretty=f"Policy for {_noun(kind)} {escape(policy.resource)} is {escape(policy.expression)}",
    )


@policy_app.command(name="list")
def policy_list(*, at: NodeOption = None, common: Common = DEFAULT) -> None:
    """List a node's policies: the resources', then the resource types'."""
    printer = common.printer()
    record, policies = ask_node(at, ListPolicies(), list[Policy])
    printer.table(
        title=f"Policies on node {record.name}",
        columns=["Resource", "Action", "Expression"],
        # Expressions hold brackets (`[...]` sequences) that rich would read as markup.
        rows=[[escape(p.resource), p.action, escape(p.expression)] for p in policies],
        data=policies,
        plain_rows=[_line(p) for p in policies],
        empty=f"No policies on node {record.name}.",
    )


@policy_app.command(name="delete")
def policy_delete(
    resource: ResourceArgument,
    /,
    *,
    at: NodeOption = None,
    yes: YesOption = False,
    common: Common = DEFAULT,
) -> None:
    """Delete the policy of a resource type or of one resource: what it guarded falls back to
    its type's policy, or to none."""
    printer = common.printer()
    kind, name = _target(resource)
    confirm(f"Delete the policy for {_noun(kind)} {name}?", yes=yes)
    record, _ = ask_node(at, DeletePolicy(name, kind=kind), Empty)
    printer.emit(
        plain=name,
        data={"resource": name, "action": DEFAULT_ACTION, "node": record.name},
        pretty=f"[green]✔︎[/green] Policy for {_noun(kind)} {escape(name)} has been deleted",
    )
