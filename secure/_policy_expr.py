"""Ockam's policy expression language: s-expressions, their parser and their printer.

An expression is a tree of `Expr` nodes: literals (`Str`, `Int`, `Float`, `Bool`), identifiers
(`Ident`, such as ``subject.component``), sequences (`Seq`, ``[...]``) and lists (`SList`,
``(op arg ...)``). The text form is Ockam's (``ockam_abac``, ``expr.rs`` and ``parser.rs``)::

    (and (= subject.component "db") (member? subject.env ["prod" "staging"]))

`parse_expression` reads it, ``str(expr)`` prints it back, and ``parse_expression(str(e)) == e``
for every expression whose outermost form is an operation. Errors are `PolicyExpressionError`,
worded as Ockam words them where Ockam has a message, with the character position where
reading stopped. `equal_values` and `compare_values` are Ockam's typed equality and ordering,
which refuse to compare values of different types. Evaluation is in `_policy_eval.py`; the boolean
shorthand (``component.db or component.web``) in `_policy_boolean.py`.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any, Union

import msgspec

OPERATORS = ("and", "or", "not", "if", "<", ">", "=", "!=", "member?", "exists?", "in")
"""The operations an expression may start with: Ockam's, plus ``in`` (ours, as ``member?``)."""

MAX_EXPRESSION_DEPTH = 64
"""How deeply lists and sequences may nest (ours: bounds the parser, printer and evaluator)."""

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_IDENT = re.compile(r"[a-zA-Z!$%&*/<=>?~_^][a-zA-Z0-9!$%&*/<=>?~_^.+\-:;@]*")
_INT = re.compile(r"[+-]?(?:0x[0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*)")
_DIGITS = r"[0-9](?:_?[0-9])*"
_FLOAT = re.compile(
    rf"[+-]?(?:{_DIGITS}\.(?:{_DIGITS})?(?:[eE][+-]?{_DIGITS})?|{_DIGITS}[eE][+-]?{_DIGITS}|inf|nan)"
)
_LITERAL_WORDS = frozenset({"true", "false", "inf", "nan"})
_DELIMITERS = frozenset('()[]",') | frozenset(" \t\r\n")
_UNICODE_ESCAPE = re.compile(r"u\{([0-9a-fA-F]{1,6})\}")
_BYTE_ESCAPE = re.compile(r"[0-9a-fA-F]{2}")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_PRINT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


class PolicyExpressionError(ValueError):
    """A policy expression could not be parsed, or a node could not be built.

    Attributes:
        position: The character offset in the text where reading stopped, when known.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class Str(msgspec.Struct, frozen=True):
    """A string literal, ``"db"``."""

    value: str

    def __post_init__(self) -> None:
        try:
            self.value.encode()
        except UnicodeEncodeError:
            raise PolicyExpressionError(f"string {self.value!r} is not valid Unicode") from None

    def __str__(self) -> str:
        return '"' + "".join(_print_char(c) for c in self.value) + '"'


class Int(msgspec.Struct, frozen=True):
    """A 64-bit signed integer literal, ``42``."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not _INT_MIN <= self.value <= _INT_MAX:
            raise PolicyExpressionError(f"integer {self.value!r} does not fit in 64 bits")

    def __str__(self) -> str:
        return str(self.value)


class Float(msgspec.Struct, frozen=True):
    """A floating-point literal, ``1.5``, ``+inf``, ``nan``."""

    value: float

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "nan"
        if math.isinf(self.value):
            return "-inf" if self.value < 0 else "+inf"
        return repr(self.value)


class Bool(msgspec.Struct, frozen=True):
    """``true`` or ``false``."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


class Ident(msgspec.Struct, frozen=True):
    """An identifier: an operator (``=``, ``member?``) or a name looked up when evaluating."""

    name: str

    def __post_init__(self) -> None:
        if not _IDENT.fullmatch(self.name) or self.name in _LITERAL_WORDS:
            raise PolicyExpressionError(f"{self.name!r} is not an identifier")

    def __str__(self) -> str:
        return self.name


class Seq(msgspec.Struct, frozen=True):
    """A sequence of values, ``["db" "web"]``."""

    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return "[" + " ".join(str(item) for item in self.items) + "]"


class SList(msgspec.Struct, frozen=True):
    """A list, ``(op arg ...)``: an operation applied to its arguments; ``()`` is the unit."""

    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return "(" + " ".join(str(item) for item in self.items) + ")"


Expr = Union[Str, Int, Float, Bool, Ident, Seq, SList]  # noqa: UP007 (a runtime alias)
"""Any node of a policy expression."""


def _print_char(char: str) -> str:
    escaped = _PRINT_ESCAPES.get(char)
    if escaped is not None:
        return escaped
    return char if char.isprintable() else f"\\u{{{ord(char):x}}}"


class TypeMismatch(Exception):
    """Two values of different types were compared (Ockam's ``TypeMismatch``)."""

    def __init__(self, left: Expr, right: Expr) -> None:
        super().__init__(f"{left} and {right} are not of the same type")
        self.left = left
        self.right = right


def equal_values(left: Expr, right: Expr) -> bool:
    """Ockam's typed equality: values of the same type compare, sequences element-wise.

    Raises:
        TypeMismatch: The two (or two elements inside them) are of different types.
    """
    pair = _item_pair(left, right)
    if pair is not None:
        if len(pair[0]) != len(pair[1]):
            return False
        return all(equal_values(a, b) for a, b in zip(*pair, strict=True))
    if type(left) is not type(right) or isinstance(left, Seq | SList):
        raise TypeMismatch(left, right)
    return bool(_scalar(left) == _scalar(right))


def compare_values(left: Expr, right: Expr) -> int | None:
    """Ockam's typed ordering: -1, 0 or 1, or None when unordered (a NaN is involved).

    Sequences order by length first, then element by element.

    Raises:
        TypeMismatch: The two (or two elements inside them) are of different types.
    """
    pair = _item_pair(left, right)
    if pair is not None:
        if len(pair[0]) != len(pair[1]):
            return -1 if len(pair[0]) < len(pair[1]) else 1
        for a, b in zip(*pair, strict=True):
            order = compare_values(a, b)
            if order != 0:
                return order
        return 0
    if type(left) is not type(right) or isinstance(left, Seq | SList):
        raise TypeMismatch(left, right)
    a, b = _scalar(left), _scalar(right)
    if a < b:
        return -1
    if a > b:
        return 1
    return 0 if a == b else None


def _item_pair(left: Expr, right: Expr) -> tuple[tuple[Expr, ...], tuple[Expr, ...]] | None:
    if (isinstance(left, Seq) and isinstance(right, Seq)) or (
        isinstance(left, SList) and isinstance(right, SList)
    ):
        return left.items, right.items
    return None


def _scalar(expr: Expr) -> Any:
    if isinstance(expr, Seq | SList):
        raise TypeError("a sequence or list is not a scalar")  # callers compare those item-wise
    return expr.name if isinstance(expr, Ident) else expr.value


def is_operation(expr: Expr) -> bool:
    """Whether `expr` starts with an operation, as every policy expression must."""
    if isinstance(expr, Ident):
        return expr.name in OPERATORS
    if isinstance(expr, SList) and expr.items:
        return is_operation(expr.items[0])
    return False


def parse_expression(text: str) -> Expr:
    """Parse a policy expression in Ockam's s-expression syntax.

    Several values at the top level make one list, so ``= subject.a "1"`` reads as
    ``(= subject.a "1")``. Commas between values are read as spaces, so
    ``["db1", "db2"]`` (as Ockam's help writes it) is ``["db1" "db2"]``.

    Raises:
        PolicyExpressionError: The text is empty, not well formed, nests deeper than
            `MAX_EXPRESSION_DEPTH`, mixes types in a sequence, or does not start with an operation.
    """
    if not isinstance(text, str):
        raise TypeError(f"a policy expression is a string, got {type(text).__name__}")
    values = _Parser(text).parse()
    if not values:
        raise PolicyExpressionError("empty expression value", 0)
    expr = values[0] if len(values) == 1 else SList(tuple(values))
    if not is_operation(expr):
        raise PolicyExpressionError(
            f"The first identifier of the expression: `{text}` must be an operation. "
            f"The available operations are: {', '.join(OPERATORS)}",
            0,
        )
    return expr


class _Parser:
    """One pass over the text with an explicit stack of open lists and sequences."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> list[Expr]:
        text = self.text
        top: list[Expr] = []
        # Each open bracket: its character, where it opened, the values read inside it.
        stack: list[tuple[str, int, list[Expr]]] = []
        while True:
            self._skip_separators()
            if self.pos >= len(text):
                break
            start, char = self.pos, text[self.pos]
            values = stack[-1][2] if stack else top
            if char in "([":
                if len(stack) >= MAX_EXPRESSION_DEPTH:
                    raise PolicyExpressionError(
                        f"expression nested too deeply (more than {MAX_EXPRESSION_DEPTH} levels) "
                        f"at character {start}",
                        start,
                    )
                stack.append((char, start, []))
                self.pos += 1
            elif char in ")]":
                self.pos += 1
                node = self._close(stack, char, start)
                (stack[-1][2] if stack else top).append(node)
            elif char == '"':
                values.append(Str(self._string()))
            else:
                values.append(self._atom())
        if stack:
            opening, position, _ = stack[-1]
            raise PolicyExpressionError(f"unclosed '{opening}'", position)
        return top

    def _close(self, stack: list[tuple[str, int, list[Expr]]], char: str, start: int) -> Expr:
        if not stack:
            opening = "(" if char == ")" else "["
            raise PolicyExpressionError(f"'{char}' without matching '{opening}'", start)
        opening, position, items = stack.pop()
        if char == ")" and opening == "[":
            raise PolicyExpressionError("'[' without matching ']'", position)
        if char == "]" and opening == "(":
            raise PolicyExpressionError("'(' without matching ')'", position)
        if char == ")":
            return SList(tuple(items))
        for left, right in itertools.pairwise(items):
            try:
                equal_values(left, right)
            except TypeMismatch as exc:
                raise PolicyExpressionError(str(exc), position) from None
        return Seq(tuple(items))

    def _skip_separators(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        self.pos = pos

    def _string(self) -> str:
        text, start = self.text, self.pos
        pos = start + 1
        out = bytearray()
        while True:
            if pos >= len(text):
                raise PolicyExpressionError(
                    f"unterminated string starting at character {start}", start
                )
            char = text[pos]
            if char == '"':
                self.pos = pos + 1
                try:
                    return out.decode()
                except UnicodeDecodeError:
                    raise PolicyExpressionError(
                        f"string at character {start} is not valid UTF-8", start
                    ) from None
            if char != "\\":
                out += char.encode(errors="surrogatepass")
                pos += 1
                continue
            pos = self._escape(pos, out)

    def _escape(self, pos: int, out: bytearray) -> int:
        text = self.text
        simple = _ESCAPES.get(text[pos + 1 : pos + 2])
        if simple is not None:
            out += simple.encode()
            return pos + 2
        unicode = _UNICODE_ESCAPE.match(text, pos + 1)
        if unicode:
            code = int(unicode.group(1), 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise PolicyExpressionError(
                    f"\\u{{{unicode.group(1)}}} at character {pos} is not a Unicode scalar value",
                    pos,
                )
            out += chr(code).encode()
            return unicode.end()
        byte = _BYTE_ESCAPE.match(text, pos + 1)
        if byte:
            out.append(int(byte.group(0), 16))
            return byte.end()
        raise PolicyExpressionError(
            f"invalid escape {text[pos : pos + 2]!r} in string at character {pos}", pos
        )

    def _atom(self) -> Expr:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] not in _DELIMITERS and not text[pos].isspace():
            pos += 1
        self.pos = pos
        atom = text[start:pos]
        if atom in ("true", "false"):
            return Bool(atom == "true")
        if _INT.fullmatch(atom):
            value = int(atom, 0) if "0x" in atom else int(atom)
            if not _INT_MIN <= value <= _INT_MAX:
                raise PolicyExpressionError(
                    f"number too large to fit in target type: {atom} at character {start}",
                    start,
                )
            return Int(value)
        if _FLOAT.fullmatch(atom):
            return Float(float(atom))
        if _IDENT.fullmatch(atom):
            return Ident(atom)
        raise PolicyExpressionError(f"invalid token '{atom}' at character {start}", start)
