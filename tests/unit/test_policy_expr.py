"""Policy s-expressions: Ockam's syntax read and printed back, and every parse error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import (
    MAX_EXPRESSION_DEPTH,
    OPERATORS,
    Bool,
    Expr,
    Float,
    Ident,
    Int,
    PolicyExpressionError,
    Seq,
    SList,
    Str,
    TypeMismatch,
    parse_expression,
)
from secure import compare_values as order
from secure import equal_values as same


def _call(op: str, *args: Expr) -> SList:
    return SList((Ident(op), *args))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('(= subject.identifier "I00")', _call("=", Ident("subject.identifier"), Str("I00"))),
        ("(and)", _call("and")),
        (
            "(< a 1 -2 +3 0x1F 1_000)",
            _call("<", Ident("a"), Int(1), Int(-2), Int(3), Int(31), Int(1000)),
        ),
        (
            "(> a 1.5 -0.25 1e+20 2E3 +inf -inf)",
            _call(
                ">",
                Ident("a"),
                Float(1.5),
                Float(-0.25),
                Float(1e20),
                Float(2000.0),
                Float(math.inf),
                Float(-math.inf),
            ),
        ),
        ("(= a true false)", _call("=", Ident("a"), Bool(True), Bool(False))),
        ('(member? a ["db" "web"])', _call("member?", Ident("a"), Seq((Str("db"), Str("web"))))),
        # commas read as spaces: Ockam's own help writes sequences so
        ('(member? a ["db1", "db2"])', _call("member?", Ident("a"), Seq((Str("db1"), Str("db2"))))),
        ("(exists? subject.a subject.b)", _call("exists?", Ident("subject.a"), Ident("subject.b"))),
        ("(in a [1 2])", _call("in", Ident("a"), Seq((Int(1), Int(2))))),
        ("(= a [])", _call("=", Ident("a"), Seq(()))),
        ("(= a ())", _call("=", Ident("a"), SList(()))),
        # several values at the top level are one list
        ('= subject.a "1"', _call("=", Ident("subject.a"), Str("1"))),
        ("((and) x)", SList((_call("and"), Ident("x")))),
        ("  (not\n\t(= a 1))  ", _call("not", _call("=", Ident("a"), Int(1)))),
        ("(!= $x ?y ~z)", _call("!=", Ident("$x"), Ident("?y"), Ident("~z"))),
    ],
)
def test_parse(text: str, expected: Expr) -> None:
    assert parse_expression(text) == expected


def test_string_escapes() -> None:
    parsed = parse_expression(r'(= a "q\"b\\t\tn\nr\r\u{1F600}\41\c3\a9")')
    assert isinstance(parsed, SList)
    assert parsed.items[2] == Str('q"b\\t\tn\nr\r\U0001f600Aé')
    assert parse_expression(str(parsed)) == parsed


def test_printing_is_ockams() -> None:
    expr = _call(
        "and",
        _call("=", Ident("subject.component"), Str('d"b\n')),
        _call("<", Ident("x"), Int(-3), Float(1.0), Float(math.nan), Float(math.inf)),
        _call("member?", Ident("y"), Seq((Bool(True), Bool(False)))),
        SList(()),
    )
    assert str(expr) == (
        '(and (= subject.component "d\\"b\\n") (< x -3 1.0 nan +inf) (member? y [true false]) ())'
    )


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty expression value", 0),
        ("   ", "empty expression value", 0),
        ("(and (", "unclosed '('", 5),
        ("(= a [1", "unclosed '['", 5),
        (")", "')' without matching '('", 0),
        ("(= a 1))", "')' without matching '('", 7),
        ("]", "']' without matching '['", 0),
        ("(= a [1)", "'[' without matching ']'", 5),
        ("(= a (1])", "'(' without matching ')'", 5),
        ('(= a [1 "a"])', '1 and "a" are not of the same type', 5),
        ("(= a [1 1.0])", "1 and 1.0 are not of the same type", 5),
        ("(= a 99999999999999999999)", "number too large to fit in target type", 5),
        ('(= a "abc)', "unterminated string starting at character 5", 5),
        (r'(= a "\q")', r"invalid escape '\\q' in string at character 6", 6),
        (r'(= a "\u{d800}")', "is not a Unicode scalar value", 6),
        (r'(= a "\ff")', "is not valid UTF-8", 5),
        ("(= a #)", "invalid token '#' at character 5", 5),
        ("(= a -)", "invalid token '-' at character 5", 5),
        ("(= a 1x)", "invalid token '1x' at character 5", 5),
        (
            "foo",
            "The first identifier of the expression: `foo` must be an operation. The available "
            "operations are: and, or, not, if, <, >, =, !=, member?, exists?, in",
            0,
        ),
        ('("and" 1)', "must be an operation", 0),
        ("[and]", "must be an operation", 0),
        ("(" * (MAX_EXPRESSION_DEPTH + 1), "nested too deeply (more than 64 levels)", 64),
    ],
)
def test_parse_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(PolicyExpressionError) as caught:
        parse_expression(text)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_nodes_refuse_what_could_not_be_printed_and_read_back() -> None:
    for name in ("true", "nan", "1a", "a b", "", "-x", "a,b"):
        with pytest.raises(PolicyExpressionError, match="is not an identifier"):
            Ident(name)
    with pytest.raises(PolicyExpressionError, match="does not fit in 64 bits"):
        Int(2**63)
    with pytest.raises(PolicyExpressionError, match="not valid Unicode"):
        Str("\ud800")


def test_typed_equality_and_ordering() -> None:
    assert same(Str("a"), Str("a"))
    assert not same(Seq((Int(1),)), Seq((Int(1), Int(2))))
    assert same(Seq((Int(1), Int(2))), Seq((Int(1), Int(2))))
    with pytest.raises(TypeMismatch, match='1 and "1" are not of the same type'):
        same(Int(1), Str("1"))
    with pytest.raises(TypeMismatch):
        same(Int(1), Float(1.0))
    with pytest.raises(TypeMismatch):
        same(Seq((Int(1),)), Seq((Str("1"),)))
    assert order(Int(1), Int(2)) == -1
    assert order(Str("b"), Str("a")) == 1
    assert order(Bool(False), Bool(True)) == -1
    assert order(Float(math.nan), Float(1.0)) is None
    assert order(Seq((Int(9),)), Seq((Int(1), Int(1)))) == -1  # length first
    assert order(Seq((Int(1), Int(3))), Seq((Int(1), Int(2)))) == 1
    with pytest.raises(TypeMismatch):
        order(Seq(()), SList(()))


# -- parse(print(e)) == e ---------------------------------------------------------------------

_ident_chars = "abcxyzABC!$%&*/<=>?~_^.+-:;@0123456789"
_idents = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("abcxyzABC!$%&*/<=>?~_^"),
    st.text(_ident_chars, max_size=10),
).filter(lambda name: name not in {"true", "false", "inf", "nan"})
_strings = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_floats = st.floats(allow_nan=False)
_scalars: st.SearchStrategy[Expr] = st.one_of(
    st.builds(Str, _strings),
    st.builds(Int, st.integers(-(2**63), 2**63 - 1)),
    st.builds(Float, _floats),
    st.builds(Bool, st.booleans()),
    st.builds(Ident, _idents),
)
# A sequence holds values of one type, as the parser insists.
_seqs = st.one_of(
    st.lists(st.builds(Str, _strings), max_size=4),
    st.lists(st.builds(Int, st.integers(-(2**63), 2**63 - 1)), max_size=4),
    st.lists(st.builds(Ident, _idents), max_size=4),
).map(lambda items: Seq(tuple(items)))
_exprs: st.SearchStrategy[Expr] = st.recursive(
    st.one_of(_scalars, _seqs),
    lambda children: st.lists(children, max_size=4).map(lambda items: SList(tuple(items))),
    max_leaves=20,
)
_policies = st.builds(
    lambda op, args: SList((Ident(op), *args)),
    st.sampled_from(OPERATORS),
    st.lists(_exprs, max_size=4),
)


@settings(deadline=None)
@given(_policies)
def test_parse_of_print_is_identity(expr: SList) -> None:
    assert parse_expression(str(expr)) == expr


@settings(deadline=None)
@given(st.text(alphabet=' ()[]"abc123.', max_size=30).map(lambda text: text + "#"))
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(PolicyExpressionError):
        parse_expression(text)
