"""Evaluating policy expressions against a subject, a resource and an action, as Ockam does.

The environment maps names to values: ``subject.identifier`` (the identity proven by the
secure channel), ``subject.has_credential``, ``subject.NAME`` for each attribute of the
subject's verified credential (strings), ``resource.NAME`` and ``action.NAME`` for what the
caller says about the resource and the action (``resource.id``, ``action.id``). A policy
allows access only when it evaluates to ``true``: an error (an unbound name, a type mismatch)
or any other value denies, and says why (`PolicyDecision.reason`). No subject (no secure
channel) binds no ``subject.*`` name, so any policy about the subject denies.

The operators and their rules are Ockam's (``ockam_abac``, ``eval.rs``):

- ``and``, ``or``: any number of boolean arguments, evaluated left to right only as far as
  needed (``(and)`` is true, ``(or)`` false); ``not``: one; ``if``: test, then, else.
- ``=``, ``<``, ``>``: two or more arguments, compared pairwise in a chain; values of
  different types do not compare (an error, so a denial). ``!=``: not ``=``.
- ``member?`` (and ``in``, ours): a value and a sequence.
- ``exists?``: identifiers (not evaluated), true when every one is bound.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import msgspec

from ._credential import RESERVED_ATTRIBUTES, CredentialData
from ._policy_boolean import SUBJECT_KEY, PolicyExpression, to_expression
from ._policy_expr import (
    Bool,
    Expr,
    Ident,
    Seq,
    SList,
    Str,
    TypeMismatch,
    compare_values,
    equal_values,
)

RESOURCE_KEY = "resource"
"""The prefix of resource attributes in an environment."""

ACTION_KEY = "action"
"""The prefix of action attributes in an environment."""

DEFAULT_ACTION = "handle_message"
"""Ockam's one action: a message arriving at the resource."""


class PolicyEvaluationError(Exception):
    """An expression could not be evaluated (Ockam's ``EvalError``): the policy denies."""


class Subject(msgspec.Struct, frozen=True):
    """Who is asking: the identity a secure channel proved, and its verified attributes.

    Attributes:
        identifier: The peer's identifier, from the secure channel handshake.
        attributes: The attributes of its verified credential (empty without one).
        has_credential: Whether a credential from the trusted authority was verified.
    """

    identifier: str
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    has_credential: bool = False

    @classmethod
    def from_credential(cls, data: CredentialData) -> Subject:
        """The subject a verified credential describes."""
        return cls(identifier=data.subject, attributes=dict(data.attributes), has_credential=True)


class PolicyDecision(msgspec.Struct, frozen=True):
    """The outcome of checking a policy, for enforcing and for logging.

    Attributes:
        allowed: Whether the policy evaluated to ``true``.
        reason: Why not, when not (never contains secrets): the evaluation error or the value.
    """

    allowed: bool
    reason: str = ""


def policy_environment(
    subject: Subject | None,
    *,
    resource: Mapping[str, str] | None = None,
    action: Mapping[str, str] | None = None,
) -> dict[str, Expr]:
    """The names a policy can use, with their values (all strings but ``has_credential``).

    Args:
        subject: The verified subject, or None when the request came through no secure channel.
        resource: Facts about the resource, bound as ``resource.NAME`` (``id``, ``type``).
        action: Facts about the action, bound as ``action.NAME``; default
            ``{"id": "handle_message"}``.
    """
    env: dict[str, Expr] = {}
    for prefix, facts in (
        (RESOURCE_KEY, resource or {}),
        (ACTION_KEY, {"id": DEFAULT_ACTION} if action is None else action),
    ):
        for name, value in facts.items():
            env[f"{prefix}.{name}"] = Str(value)
    if subject is not None:
        env[f"{SUBJECT_KEY}.identifier"] = Str(subject.identifier)
        env[f"{SUBJECT_KEY}.has_credential"] = Bool(subject.has_credential)
        for name, value in subject.attributes.items():
            if name not in RESERVED_ATTRIBUTES:  # the identifier cannot be overridden
                env[f"{SUBJECT_KEY}.{name}"] = Str(value)
    return env


def evaluate_expression(expr: Expr, env: Mapping[str, Expr]) -> Expr:
    """The value of `expr` in `env`.

    Raises:
        PolicyEvaluationError: An unbound identifier, an unknown operator, a wrong number or
            type of arguments, or values of different types compared; in Ockam's words.
    """
    if isinstance(expr, Ident):
        try:
            return env[expr.name]
        except KeyError:
            raise PolicyEvaluationError(f"unbound identifier: {expr.name}") from None
    if isinstance(expr, Seq):
        return Seq(tuple(evaluate_expression(item, env) for item in expr.items))
    if not isinstance(expr, SList):
        return expr
    if not expr.items:
        return expr  # the unit, ()
    head, args = expr.items[0], expr.items[1:]
    if not isinstance(head, Ident):
        raise PolicyEvaluationError(f"invalid type of expression {head}: expected (op ...)")
    try:
        return _apply(head.name, args, env)
    except TypeMismatch as exc:
        raise PolicyEvaluationError(str(exc)) from None


def _apply(op: str, args: tuple[Expr, ...], env: Mapping[str, Expr]) -> Expr:
    if op in ("and", "or"):
        stop = op == "or"  # the value that ends the evaluation early
        for arg in args:
            if _boolean(evaluate_expression(arg, env), op) is stop:
                return Bool(stop)
        return Bool(not stop)
    if op == "not":
        _arity(op, args, exactly=1)
        return Bool(not _boolean(evaluate_expression(args[0], env), op))
    if op == "if":
        if len(args) != 3:
            raise PolicyEvaluationError("malformed expression: 'if' requires three arguments")
        test = evaluate_expression(args[0], env)
        if not isinstance(test, Bool):
            raise PolicyEvaluationError(
                f"invalid type of expression {test}: 'if' expects test to evaluate to bool"
            )
        return evaluate_expression(args[1] if test.value else args[2], env)
    if op in ("=", "!=", "<", ">"):
        _arity(op, args, at_least=2)
        values = [evaluate_expression(arg, env) for arg in args]
        holds = all(_holds(op, left, right) for left, right in itertools.pairwise(values))
        return Bool(holds if op != "!=" else not holds)
    if op in ("member?", "in"):
        _arity(op, args, exactly=2)
        value, sequence = evaluate_expression(args[0], env), evaluate_expression(args[1], env)
        if not isinstance(sequence, Seq):
            raise PolicyEvaluationError(
                f"invalid type of expression {sequence}: '{op}' expects sequence as second argument"
            )
        return Bool(any(equal_values(value, item) for item in sequence.items))
    if op == "exists?":
        for arg in args:
            if not isinstance(arg, Ident):
                raise PolicyEvaluationError(
                    f"invalid type of expression {arg}: 'exists?' expects identifiers as arguments"
                )
        return Bool(all(arg.name in env for arg in args if isinstance(arg, Ident)))
    raise PolicyEvaluationError(f"unknown operator: {op}")


def _holds(op: str, left: Expr, right: Expr) -> bool:
    if op in ("=", "!="):
        return equal_values(left, right)
    return compare_values(left, right) == (-1 if op == "<" else 1)


def _boolean(value: Expr, op: str) -> bool:
    if not isinstance(value, Bool):
        raise PolicyEvaluationError(
            f"invalid type of expression {value}: '{op}' expects boolean arguments"
        )
    return value.value


def _arity(op: str, args: tuple[Expr, ...], *, exactly: int = 0, at_least: int = 0) -> None:
    if exactly and len(args) != exactly:
        count = "one argument" if exactly == 1 else "two arguments"
        raise PolicyEvaluationError(f"malformed expression: '{op}' requires {count}")
    if len(args) < at_least:
        raise PolicyEvaluationError(f"malformed expression: '{op}' requires at least two arguments")


def check_policy(
    policy: PolicyExpression,
    subject: Subject | None,
    *,
    resource: Mapping[str, str] | None = None,
    action: Mapping[str, str] | None = None,
) -> PolicyDecision:
    """Decide whether `subject` may act on a resource guarded by `policy`.

    Args:
        policy: The policy, in either form (`parse_policy_expression`).
        subject: The verified subject, or None when no secure channel carries the request.
        resource: Facts about the resource (``{"id": "outlet", "type": "tcp-outlet"}``).
        action: Facts about the action; default ``{"id": "handle_message"}``.

    Returns:
        Allowed only when the policy evaluates to ``true``; otherwise the reason.
    """
    expr = to_expression(policy)
    env = policy_environment(subject, resource=resource, action=action)
    try:
        value = evaluate_expression(expr, env)
    except PolicyEvaluationError as exc:
        return PolicyDecision(allowed=False, reason=f"policy evaluation failed: {exc}")
    if value == Bool(True):
        return PolicyDecision(allowed=True)
    if value == Bool(False):
        return PolicyDecision(allowed=False, reason="policy evaluated to false")
    return PolicyDecision(
        allowed=False, reason=f"evaluation did not yield a boolean result: {value}"
    )


def is_authorized(
    policy: PolicyExpression,
    subject: Subject | None,
    *,
    resource: Mapping[str, str] | None = None,
    action: Mapping[str, str] | None = None,
) -> bool:
    """Whether `check_policy` allows: the policy evaluates to ``true`` for `subject`."""
    return check_policy(policy, subject, resource=resource, action=action).allowed
