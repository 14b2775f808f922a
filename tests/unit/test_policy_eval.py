"""Evaluating policies as Ockam does: each operator, each error, the environment, and random
policies and attribute sets against a reference evaluator that Python's `eval` runs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import (
    Bool,
    CredentialData,
    Expr,
    Identity,
    Int,
    PolicyDecision,
    PolicyEvaluationError,
    Seq,
    Str,
    Subject,
    check_policy,
    evaluate_expression,
    is_authorized,
    parse_boolean_expression,
    parse_expression,
    policy_environment,
)

ALICE = Identity.generate().identifier


def _eval(text: str, **env: Expr) -> Expr:
    return evaluate_expression(
        parse_expression(text), {k.replace("_", "."): v for k, v in env.items()}
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("(and)", True),
        ("(or)", False),
        ("(and true true)", True),
        ("(and true false)", False),
        ("(and false unbound)", False),  # lazy: the rest is never evaluated
        ("(or true unbound)", True),
        ("(or false true)", True),
        ("(not false)", True),
        ("(not (= 1 1))", False),
        ("(if true false unbound)", False),
        ("(if false unbound true)", True),
        ("(= 1 1 1)", True),
        ("(= 1 1 2)", False),
        ('(= "a" "a")', True),
        ("(= [1 2] [1 2])", True),
        ("(= [1 2] [1])", False),
        ("(!= 1 2)", True),
        ("(!= 1 1)", False),
        ("(< 1 2 3)", True),
        ("(< 1 3 2)", False),
        ("(> 3 2 1)", True),
        ('(< "a" "b")', True),
        ("(< 1.5 2.5)", True),
        ("(< nan 1.0)", False),
        ("(> nan 1.0)", False),
        ('(< 2 1 "x")', False),  # the chain stops at the first pair that fails
        ('(member? "db" ["web" "db"])', True),
        ('(member? "x" ["web" "db"])', False),
        ("(member? 1 [])", False),
        ('(in "db" ["web" "db"])', True),
        ("(exists? x)", True),
        ("(exists? x y)", False),
        ("(exists?)", True),
    ],
)
def test_operators(text: str, value: bool) -> None:
    assert _eval(text, x=Int(1)) == Bool(value)


def test_values_evaluate_to_themselves_and_names_to_their_binding() -> None:
    assert _eval("(= x x)", x=Str("a")) == Bool(True)
    assert evaluate_expression(parse_expression("(and)"), {}) == Bool(True)
    assert evaluate_expression(Seq((Int(1),)), {}) == Seq((Int(1),))
    assert _eval("(member? x [y z])", x=Str("a"), y=Str("b"), z=Str("a")) == Bool(True)
    assert _eval("(= () ())") == Bool(True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(= subject.a 1)", "unbound identifier: subject.a"),
        ("(and (frobnicate 1))", "unknown operator: frobnicate"),
        ("(and ((and) 1))", "invalid type of expression (and): expected (op ...)"),
        ("(and 1)", "invalid type of expression 1: 'and' expects boolean arguments"),
        ('(or "x")', "'or' expects boolean arguments"),
        ("(not 1)", "'not' expects boolean arguments"),
        ("(not true true)", "malformed expression: 'not' requires one argument"),
        ("(if true 1)", "malformed expression: 'if' requires three arguments"),
        ("(if 1 2 3)", "'if' expects test to evaluate to bool"),
        ("(= 1)", "malformed expression: '=' requires at least two arguments"),
        ("(< 1)", "'<' requires at least two arguments"),
        ("(> 1)", "'>' requires at least two arguments"),
        ("(!= 1)", "'!=' requires at least two arguments"),
        ('(= 1 "1")', '1 and "1" are not of the same type'),
        ("(< 1 1.0)", "1 and 1.0 are not of the same type"),
        ("(member? 1)", "'member?' requires two arguments"),
        ("(member? 1 2)", "invalid type of expression 2: 'member?' expects sequence"),
        ('(member? 1 ["a"])', '1 and "a" are not of the same type'),
        ("(in 1 2)", "'in' expects sequence"),
        ("(exists? 1)", "invalid type of expression 1: 'exists?' expects identifiers"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyEvaluationError) as caught:
        _eval(text)
    assert message in str(caught.value)


def test_the_environment() -> None:
    subject = Subject(ALICE, {"component": "db", "identifier": "Ifake"}, has_credential=True)
    env = policy_environment(subject, resource={"id": "outlet", "type": "tcp-outlet"})
    assert env == {
        "subject.identifier": Str(ALICE),  # an attribute cannot override it
        "subject.has_credential": Bool(True),
        "subject.component": Str("db"),
        "resource.id": Str("outlet"),
        "resource.type": Str("tcp-outlet"),
        "action.id": Str("handle_message"),
    }
    assert policy_environment(None) == {"action.id": Str("handle_message")}
    assert policy_environment(Subject(ALICE), action={"id": "x"})["subject.has_credential"] == Bool(
        False
    )


def test_a_subject_from_a_verified_credential() -> None:
    data = CredentialData(ALICE, "project-member", {"role": "db"}, 1, 2)
    assert Subject.from_credential(data) == Subject(ALICE, {"role": "db"}, has_credential=True)


def test_decisions_and_their_reasons() -> None:
    policy = parse_expression(f'(= subject.identifier "{ALICE}")')
    assert check_policy(policy, Subject(ALICE)) == PolicyDecision(allowed=True)
    bob = Identity.generate().identifier
    assert check_policy(policy, Subject(bob)) == PolicyDecision(
        allowed=False, reason="policy evaluated to false"
    )
    # no secure channel, no subject, no access
    assert check_policy(policy, None) == PolicyDecision(
        allowed=False, reason="policy evaluation failed: unbound identifier: subject.identifier"
    )
    assert check_policy(parse_expression("(if true 1 2)"), None) == PolicyDecision(
        allowed=False, reason="evaluation did not yield a boolean result: 1"
    )
    assert is_authorized(
        parse_expression('(= resource.type "tcp-outlet")'), None, resource={"type": "tcp-outlet"}
    )
    assert is_authorized(parse_expression('(= action.id "handle_message")'), None)


def test_the_boolean_form() -> None:
    policy = parse_boolean_expression("component.db or component.web")
    assert is_authorized(policy, Subject(ALICE, {"component.db": "no", "component.web": "true"}))
    assert not is_authorized(policy, Subject(ALICE, {"component.db": "yes", "component.web": "1"}))
    # `or` stops at the first true, so what follows may be unbound ...
    assert is_authorized(policy, Subject(ALICE, {"component.db": "true"}))
    # ... but an unbound name it has to read denies, as in Ockam
    assert not is_authorized(policy, Subject(ALICE, {"component.web": "true"}))
    assert not is_authorized(policy, None)


# -- random policies and attribute sets against a reference evaluator --------------------------
#
# The reference translates a policy into Python source and runs it with `eval`: names become
# dictionary look-ups (a missing one raises KeyError: denied), `and`/`or`/`not` are Python's
# (lazy in the same way), comparisons are Python's on strings.

_ATTRIBUTES = ("a", "b", "c")
_VALUES = ("x", "y", "true")
_name = st.sampled_from([f"subject.{name}" for name in _ATTRIBUTES])
_literal = st.sampled_from(_VALUES)


def _comparison(op: str) -> st.SearchStrategy[tuple[str, str]]:
    python = {"=": "==", "!=": "!=", "<": "<", ">": ">"}[op]
    return st.tuples(_name, _literal).map(
        lambda pair: (f'({op} {pair[0]} "{pair[1]}")', f"(E[{pair[0]!r}] {python} {pair[1]!r})")
    )


_leaf = st.one_of(
    *(_comparison(op) for op in ("=", "!=", "<", ">")),
    st.tuples(_name, st.lists(_literal, max_size=3)).map(
        lambda p: (
            f"(member? {p[0]} [{' '.join(f'{v!r}'.replace(chr(39), chr(34)) for v in p[1])}])",
            f"(E[{p[0]!r}] in {p[1]!r})",
        )
    ),
    st.lists(_name, min_size=1, max_size=2).map(
        lambda names: (f"(exists? {' '.join(names)})", f"all(n in E for n in {names!r})")
    ),
)


def _combine(children: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    def join(op: str, parts: list[tuple[str, str]]) -> tuple[str, str]:
        ockam = f"({op} {' '.join(p[0] for p in parts)})"
        python = f" {op} ".join(p[1] for p in parts) if parts else str(op == "and")
        return ockam, f"({python})"

    return st.one_of(
        st.builds(join, st.sampled_from(["and", "or"]), st.lists(children, max_size=3)),
        children.map(lambda p: (f"(not {p[0]})", f"(not {p[1]})")),
    )


_policies = st.recursive(_leaf, _combine, max_leaves=8)
_attribute_sets = st.dictionaries(st.sampled_from(_ATTRIBUTES), st.sampled_from(_VALUES))


def _reference(python: str, attributes: dict[str, str]) -> bool:
    env = {f"subject.{k}": v for k, v in attributes.items()}
    env["subject.identifier"] = ALICE
    try:
        return bool(eval(python, {"E": env}))
    except KeyError:
        return False


@settings(deadline=None)
@given(_policies, _attribute_sets)
def test_random_policies_against_the_reference(
    policy: tuple[str, str], attributes: dict[str, str]
) -> None:
    ockam, python = policy
    subject = Subject(ALICE, attributes, has_credential=True)
    assert is_authorized(parse_expression(ockam), subject) is _reference(python, attributes)


_bool_names = st.sampled_from(["p", "q", "r.s", "t-u"])
_bool_policies = st.recursive(
    _bool_names,
    lambda children: st.one_of(
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        children.map(lambda c: f"not {c}"),
    ),
    max_leaves=8,
)


@settings(deadline=None)
@given(_bool_policies, st.dictionaries(_bool_names, st.sampled_from(["true", "false", "1"])))
def test_random_boolean_policies_against_python(text: str, attributes: dict[str, str]) -> None:
    import re

    python = re.sub(
        r"[a-z][a-z.\-]*",
        lambda m: (
            m.group(0) if m.group(0) in {"and", "or", "not"} else f"(E[{m.group(0)!r}] == 'true')"
        ),
        text,
    )
    allowed = is_authorized(parse_boolean_expression(text), Subject(ALICE, attributes))
    try:
        expected = bool(eval(python, {"E": attributes}))
    except KeyError:
        expected = False
    assert allowed is expected
