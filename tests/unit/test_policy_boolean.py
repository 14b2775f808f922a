"""Ockam's boolean policy shorthand: grammar, printing, its meaning, and its messages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import (
    NAME_FORMAT,
    And,
    BooleanExpr,
    Name,
    Not,
    Or,
    PolicyExpressionError,
    SList,
    parse_boolean_expression,
    parse_expression,
    parse_policy_expression,
    to_expression,
)

a, b, c, d = Name("a"), Name("b"), Name("c"), Name("d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", a),
        ("a and b", And(a, b)),
        ("a and b and c", And(And(a, b), c)),
        ("a or b or c", Or(Or(a, b), c)),
        ("not a", Not(a)),
        ("not (not a)", Not(Not(a))),
        ("not not a", Not(Not(a))),
        ("(not a)", Not(a)),
        ("( ( (a )))", a),
        ("(a or b) and (not c)", And(Or(a, b), Not(c))),
        ("((a or b) and (not c))", And(Or(a, b), Not(c))),
        # precedence: not > and > or
        ("a or b and not c", Or(a, And(b, Not(c)))),
        ("not(a)and(b)", And(Not(a), b)),
        ("  a or b  ", Or(a, b)),
        ("web", Name("web")),
        ("internal_web1", Name("internal_web1")),
        ("external.db-production", Name("external.db-production")),
        ("___reserved", Name("___reserved")),
        ("-x", Name("-x")),
        # operator words end where a name cannot go on (ours; Ockam reads `not able`)
        ("notable or order", Or(Name("notable"), Name("order"))),
        ("android and oracle", And(Name("android"), Name("oracle"))),
    ],
)
def test_parse(text: str, expected: BooleanExpr) -> None:
    assert parse_boolean_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("component.db or", "successfully parsed: `component.db`, but ` or` cannot be parsed", 12),
        ("na*me", "successfully parsed: `na`, but `*me` cannot be parsed", 2),
        ("()", f"expected `{NAME_FORMAT}`", 0),
        ("", f"expected `{NAME_FORMAT}`", 0),
        ("1a", f"expected `{NAME_FORMAT}`", 0),
        (".a", f"expected `{NAME_FORMAT}`", 0),
        ("a and", "successfully parsed: `a`, but ` and` cannot be parsed", 1),
        ("a and b not c", "successfully parsed: `a and b`, but ` not c` cannot be parsed", 7),
        (
            "(a and b) or (c and d))",
            "successfully parsed: `(a and b) or (c and d)`, but `)` cannot be parsed",
            22,
        ),
        ("a or not", "successfully parsed: `a`, but ` or not` cannot be parsed", 1),
        ("x andy", "successfully parsed: `x`, but ` andy` cannot be parsed", 1),
        ("(" * 200 + "a" + ")" * 200, "nested too deeply", None),
        (" and ".join(["a"] * 70), "nested too deeply", None),
    ],
)
def test_parse_errors(text: str, message: str, position: int | None) -> None:
    with pytest.raises(PolicyExpressionError) as caught:
        parse_boolean_expression(text)
    assert str(caught.value) == message or message in str(caught.value)
    assert caught.value.position == position


def test_printing_is_ockams() -> None:
    assert str(a) == "a"
    assert str(And(a, b)) == "a and b"
    assert str(Or(a, b)) == "a or b"
    assert str(And(Or(a, b), Not(c))) == "(a or b) and (not c)"
    assert str(Not(Not(a))) == "not (not a)"


def test_names_become_subject_attributes_set_to_true() -> None:
    assert to_expression(Or(Name("component.db"), Name("component.web"))) == parse_expression(
        '(or (= subject.component.db "true") (= subject.component.web "true"))'
    )
    assert to_expression(And(Or(a, b), Not(c))) == parse_expression(
        '(and (or (= subject.a "true") (= subject.b "true")) (not (= subject.c "true")))'
    )
    full = parse_expression("(= subject.a 1)")
    assert to_expression(full) is full


def test_names_are_checked() -> None:
    for name in ("and", "or", "not", "1a", "a b", ""):
        with pytest.raises(PolicyExpressionError, match="is not an alphanumerical name"):
            Name(name)


def test_a_policy_is_boolean_when_it_can_be_and_full_otherwise() -> None:
    assert parse_policy_expression("a or b") == Or(a, b)
    full = parse_policy_expression('(= subject.identifier "I00")')
    assert isinstance(full, SList)
    with pytest.raises(PolicyExpressionError) as caught:
        parse_policy_expression("component.db or")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "Cannot parse the expression as either a simple boolean expression or a full policy "
        "expression: successfully parsed: `component.db`, but ` or` cannot be parsed; "
        "The first identifier of the expression: `component.db or` must be an operation."
    )


_names = st.from_regex(r"[A-Za-z_\-][A-Za-z0-9._\-]{0,8}", fullmatch=True).filter(
    lambda name: name not in {"and", "or", "not"}
)
_booleans: st.SearchStrategy[BooleanExpr] = st.recursive(
    st.builds(Name, _names),
    lambda children: st.one_of(
        st.builds(And, children, children),
        st.builds(Or, children, children),
        st.builds(Not, children),
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(_booleans)
def test_parse_of_print_is_identity(expr: BooleanExpr) -> None:
    assert parse_boolean_expression(str(expr)) == expr


@settings(deadline=None)
@given(_booleans)
def test_the_printed_text_means_what_python_reads_in_it(expr: BooleanExpr) -> None:
    # Python's `not`, `and`, `or` have the same precedence and associativity: the printed
    # form, with each name made a variable, must give the same tree as Python's parser.
    import ast

    names: dict[str, str] = {}
    source = re.sub(
        r"[A-Za-z_\-][A-Za-z0-9._\-]*",
        lambda m: (
            m.group(0)
            if m.group(0) in {"and", "or", "not"}
            else names.setdefault(m.group(0), f"v{len(names)}")
        ),
        str(expr),
    )
    back = {v: k for k, v in names.items()}

    def rebuild(node: ast.expr) -> BooleanExpr:
        if isinstance(node, ast.Name):
            return Name(back[node.id])
        if isinstance(node, ast.UnaryOp):
            return Not(rebuild(node.operand))
        assert isinstance(node, ast.BoolOp)
        kind = And if isinstance(node.op, ast.And) else Or
        result = rebuild(node.values[0])
        for value in node.values[1:]:
            result = kind(result, rebuild(value))
        return result

    assert rebuild(ast.parse(source, mode="eval").body) == parse_boolean_expression(str(expr))
