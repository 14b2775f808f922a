"""Ockam's boolean policy shorthand, and reading either form of a policy.

``component.db or (component.web and not env.test)`` is shorthand for the full expression
``(or (= subject.component.db "true") (and (= subject.component.web "true") (not (= subject.env.test
"true"))))``: each name is a subject attribute that must be ``"true"``. The grammar and the
messages are Ockam's (``ockam_abac``, ``boolean_expr.rs``)::

    expr     : and_expr ("or" and_expr)*
    and_expr : not_expr ("and" not_expr)*
    not_expr : "not" not_expr | "(" expr ")" | name
    name     : (letter | "_" | "-") (letter | digit | "." | "_" | "-")*

so ``not`` binds tighter than ``and``, and ``and`` tighter than ``or``; both are left
associative. Where the text goes on after a complete expression, the error says what was read
and what was not: ``successfully parsed: `component.db`, but ` or` cannot be parsed``.

Two differences, both ours: an operator word must end where a name could not go on (Ockam
reads ``notable`` as ``not able`` and ``a order`` as ``a or der``), so ``and``, ``or`` and
``not`` are never names; and whitespace around the whole text is ignored.

`parse_policy_expression` reads a policy the way Ockam's ``PolicyExpression`` does: as the
boolean shorthand if it is one, else as a full s-expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Union

import msgspec

from ._policy_expr import (
    MAX_EXPRESSION_DEPTH,
    Expr,
    Ident,
    PolicyExpressionError,
    SList,
    Str,
    parse_expression,
)

NAME_FORMAT = (
    "an alphanumerical name, separated with '.', '-' or '_'. "
    "The first character cannot be a digit or a '.'"
)
"""What Ockam says a name in a boolean expression must be."""

SUBJECT_KEY = "subject"
"""The prefix of subject attributes in an evaluation environment."""

_KEYWORDS = frozenset({"and", "or", "not"})


class Name(msgspec.Struct, frozen=True):
    """A boolean attribute of the subject: true when ``subject.NAME`` is ``"true"``."""

    name: str

    def __post_init__(self) -> None:
        if not self.name or _name_end(self.name, 0) != len(self.name) or self.name in _KEYWORDS:
            raise PolicyExpressionError(f"{self.name!r} is not {NAME_FORMAT}")

    def __str__(self) -> str:
        return self.name

    def to_expression(self) -> Expr:
        """``(= subject.NAME "true")``."""
        return SList((Ident("="), Ident(f"{SUBJECT_KEY}.{self.name}"), Str("true")))


class _Binary(msgspec.Struct, frozen=True):
    left: BooleanExpr
    right: BooleanExpr
    operator: ClassVar[str]

    def __str__(self) -> str:
        return f"{_nested(self.left)} {self.operator} {_nested(self.right)}"

    def to_expression(self) -> Expr:
        """``(OPERATOR LEFT RIGHT)``."""
        return SList((Ident(self.operator), self.left.to_expression(), self.right.to_expression()))


class And(_Binary, frozen=True):
    """Both sides are true."""

    operator = "and"


class Or(_Binary, frozen=True):
    """At least one side is true."""

    operator = "or"


class Not(msgspec.Struct, frozen=True):
    """The operand is false."""

    operand: BooleanExpr

    def __str__(self) -> str:
        return f"not {_nested(self.operand)}"

    def to_expression(self) -> Expr:
        """``(not OPERAND)``."""
        return SList((Ident("not"), self.operand.to_expression()))


BooleanExpr = Union[Name, And, Or, Not]  # noqa: UP007 (a runtime alias)
"""A boolean policy expression."""

PolicyExpression = Union[BooleanExpr, Expr]  # noqa: UP007 (a runtime alias)
"""A policy as written: the boolean shorthand or a full expression (`to_expression`)."""


def _nested(expr: BooleanExpr) -> str:
    # Ockam's printer: operands that are not names are parenthesized, so printing and
    # parsing again gives the same tree.
    return str(expr) if isinstance(expr, Name) else f"({expr})"


def to_expression(policy: PolicyExpression) -> Expr:
    """The full expression a policy stands for (a full expression stands for itself)."""
    if isinstance(policy, Name | And | Or | Not):
        return policy.to_expression()
    return policy


def parse_boolean_expression(text: str) -> BooleanExpr:
    """Parse Ockam's boolean shorthand (``a and (b or not c)``).

    Raises:
        PolicyExpressionError: Nothing could be read (``expected `an alphanumerical name…```),
            or text is left after a complete expression (``successfully parsed: `…`, but `…`
            cannot be parsed``); `PolicyExpressionError.position` is where reading stopped.
    """
    if not isinstance(text, str):
        raise TypeError(f"a policy expression is a string, got {type(text).__name__}")
    text = text.strip()
    too_deep = PolicyExpressionError(
        f"expression nested too deeply (more than {MAX_EXPRESSION_DEPTH} levels)"
    )
    try:
        parsed = _expr(text, 0)
    except RecursionError:
        raise too_deep from None
    if parsed is not None and _depth(parsed[0]) > MAX_EXPRESSION_DEPTH:
        raise too_deep
    if parsed is None:
        raise PolicyExpressionError(f"expected `{NAME_FORMAT}`", 0)
    expr, end = parsed
    if end != len(text):
        raise PolicyExpressionError(
            f"successfully parsed: `{expr}`, but `{text[end:]}` cannot be parsed", end
        )
    return expr


def parse_policy_expression(text: str) -> PolicyExpression:
    """Parse a policy as Ockam does: the boolean shorthand if it is one, else a full expression.

    Raises:
        PolicyExpressionError: It is neither; the message gives both reasons, on one line.
    """
    try:
        return parse_boolean_expression(text)
    except PolicyExpressionError as boolean_error:
        try:
            return parse_expression(text)
        except PolicyExpressionError as full_error:
            raise PolicyExpressionError(
                "Cannot parse the expression as either a simple boolean expression or a full "
                f"policy expression: {boolean_error}; {full_error}",
                full_error.position,
            ) from None


def _depth(expr: BooleanExpr) -> int:
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, And | Or):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, Not):
            stack.append((node.operand, depth + 1))
    return deepest


# A parser returns the node and the position after it, or None where Ockam's would backtrack.
_Parsed = tuple[BooleanExpr, int] | None


def _expr(text: str, pos: int) -> _Parsed:
    return _separated(text, pos, _and_expr, "or", Or)


def _and_expr(text: str, pos: int) -> _Parsed:
    return _separated(text, pos, _not_expr, "and", And)


def _separated(
    text: str,
    pos: int,
    operand: Callable[[str, int], _Parsed],
    keyword: str,
    node: Callable[[BooleanExpr, BooleanExpr], BooleanExpr],
) -> _Parsed:
    first = operand(text, pos)
    if first is None:
        return None
    expr, pos = first
    while (after := _keyword(text, pos, keyword)) is not None:
        following = operand(text, after)
        if following is None:
            break  # the operator stays unread, for the error to show
        expr, pos = node(expr, following[0]), following[1]
    return expr, pos


def _not_expr(text: str, pos: int) -> _Parsed:
    after_not = _keyword(text, pos, "not")
    if after_not is not None and (operand := _not_expr(text, after_not)) is not None:
        return Not(operand[0]), operand[1]
    after_open = _punctuation(text, pos, "(")
    if after_open is not None and (inner := _expr(text, after_open)) is not None:
        after_close = _punctuation(text, inner[1], ")")
        if after_close is not None:
            return inner[0], after_close
    end = _name_end(text, pos)
    if end == pos or text[pos:end] in _KEYWORDS:
        return None
    return Name(text[pos:end]), end


def _name_end(text: str, pos: int) -> int:
    if pos >= len(text) or not (_is_ascii_letter(text[pos]) or text[pos] in "_-"):
        return pos
    end = pos + 1
    while end < len(text) and _is_name_char(text[end]):
        end += 1
    return end


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "._-")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _keyword(text: str, pos: int, keyword: str) -> int | None:
    pos = _skip_space(text, pos)
    end = pos + len(keyword)
    if text[pos:end] != keyword or (end < len(text) and _is_name_char(text[end])):
        return None
    return _skip_space(text, end)


def _punctuation(text: str, pos: int, char: str) -> int | None:
    pos = _skip_space(text, pos)
    if text[pos : pos + 1] != char:
        return None
    return _skip_space(text, pos + 1)
