"""A restricted evaluator of one-line Python expressions over a record (`value`, `row`).

One rule: an expression is interpreted node by node from an allow-list, never
passed to `eval`. It sees two names, `value` (the column's value) and `row`
(the whole record, a mapping), plus a few pure functions (`SAFE_FUNCTIONS`);
it may call only the methods in `SAFE_METHODS` (no name starting with `_`,
so no way to reach dunders, classes or modules), has no loops, lambdas,
comprehensions, imports or assignments, and every string, list or number it
builds is bounded (`MAX_SIZE`), so an expression cannot exhaust memory.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sync.transforms.values import TransformError

MAX_EXPRESSION_LENGTH = 2_000
# The longest string, list or tuple an expression may build.
MAX_SIZE = 100_000
# The largest integer (in bits) an expression may build with `**`.
MAX_INT_BITS = 4_096
NAMES = ("value", "row")


class ExpressionError(TransformError):
    """An expression is not allowed, or failed on a value; the message says where and why."""


def _round(number: Any, digits: int | None = None) -> Any:
    return round(number, digits) if digits is not None else round(number)


def _sum(items: Any, start: Any = 0) -> Any:
    # Numbers only: adding up lists or strings one by one could build huge values.
    values = list(items)
    if not all(isinstance(item, int | float | Decimal) for item in [*values, start]):
        raise TypeError("sum adds numbers only")
    return sum(values, start)


SAFE_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "abs": abs,
    "bool": bool,
    "float": float,
    "int": int,
    "len": len,
    "list": list,
    "max": max,
    "min": min,
    "round": _round,
    "sorted": sorted,
    "str": str,
    "sum": _sum,
    "tuple": tuple,
    "Decimal": Decimal,
}

_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha",
        "isdigit", "islower", "isnumeric", "isspace", "isupper", "join", "lower", "lstrip",
        "partition", "removeprefix", "removesuffix", "rfind", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
        # Checked for size before they run (see _call_method).
        "center", "ljust", "rjust", "zfill", "replace",
    }
)  # fmt: skip
_MOMENT_ATTRIBUTES = frozenset(
    {
        "year", "month", "day", "hour", "minute", "second", "microsecond", "isoformat",
        "weekday", "isoweekday", "date", "timestamp", "strftime",
    }
)  # fmt: skip
SAFE_METHODS: Mapping[type, frozenset[str]] = {
    str: _STR_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    date: _MOMENT_ATTRIBUTES,
    datetime: _MOMENT_ATTRIBUTES,
    time: frozenset({"hour", "minute", "second", "microsecond", "isoformat"}),
    Decimal: frozenset({"is_zero", "is_signed"}),
}
_ALL_ATTRIBUTES = frozenset().union(*SAFE_METHODS.values())
_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})

_BINARY: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_COMPARE: Mapping[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
# Format specs of f-strings: no widths or precisions of four digits or more.
_LONG_NUMBER = re.compile(r"\d{4}")
_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Call, ast.keyword,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.IfExp,
    ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.JoinedStr, ast.FormattedValue,
    *_BINARY, *_UNARY, *_COMPARE,
)  # fmt: skip


def _where(node: ast.AST) -> str:
    column = getattr(node, "col_offset", None)
    if isinstance(node, ast.Attribute) and node.end_col_offset is not None:
        column = node.end_col_offset - len(node.attr)  # the attribute's name, not its owner
    return f" (at character {column + 1})" if column is not None else ""


def _check(tree: ast.Expression) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed in an expression{_where(node)}"
            )
        if isinstance(node, ast.Name) and node.id not in NAMES and node.id not in SAFE_FUNCTIONS:
            allowed = ", ".join((*NAMES, *sorted(SAFE_FUNCTIONS)))
            raise ExpressionError(f"unknown name {node.id!r}{_where(node)}; use {allowed}")
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr not in _ALL_ATTRIBUTES
        ):
            raise ExpressionError(f"attribute {node.attr!r} is not allowed{_where(node)}")
        if isinstance(node, ast.keyword) and node.arg is None:
            raise ExpressionError(f"**-arguments are not allowed{_where(node)}")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = node.format_spec
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if not all(
                isinstance(part, ast.Constant)
                and isinstance(part.value, str)
                and not _LONG_NUMBER.search(part.value)
                for part in parts
            ):
                raise ExpressionError(f"format spec not allowed{_where(node)}")


@lru_cache(maxsize=256)
def compile_expression(source: str) -> ast.Expression:
    """Parse and check `source`; raise ExpressionError when it is not an allowed expression."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"syntax error: {error.msg} (at character {error.offset})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    _check(tree)
    return tree


def _weight(value: Any) -> int:
    """How much a value holds: characters of text, items of containers (nested), 1 otherwise."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value) + sum(_weight(item) for item in value)
    if isinstance(value, dict):
        return len(value) + sum(_weight(key) + _weight(item) for key, item in value.items())
    return 1


def _too_big() -> ExpressionError:
    return ExpressionError(f"the expression built a value larger than {MAX_SIZE} items")


def _bounded(result: Any) -> Any:
    if isinstance(result, str | list | tuple | dict) and _weight(result) > MAX_SIZE:
        raise _too_big()
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"the expression built a number larger than 2**{MAX_INT_BITS}")
    return result


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Mod) and isinstance(left, str):
        # printf-style widths come from the data and are not bounded; f-strings' are.
        raise ExpressionError("%-formatting of text is not allowed; use an f-string")
    if isinstance(op, ast.Mult):
        # Check a repetition's size before it is built.
        for sequence, count in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and _weight(sequence) * count > MAX_SIZE
            ):
                raise _too_big()
    if (
        isinstance(op, ast.Pow)
        and isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and max(left.bit_length(), 1) * right > MAX_INT_BITS
    ):
        raise ExpressionError(f"the expression built a number larger than 2**{MAX_INT_BITS}")
    return _BINARY[type(op)](left, right)


class _Interpreter:
    def __init__(self, value: Any, row: Mapping[str, Any]) -> None:
        self.names: dict[str, Any] = {"value": value, "row": row}

    def run(self, node: ast.AST) -> Any:
        result = self._eval(node)
        # The record's own values are what they are; what the expression builds is bounded.
        return result if isinstance(node, ast.Name | ast.Constant) else _bounded(result)

    def _eval(self, node: ast.AST) -> Any:  # one branch per node type
        if isinstance(node, ast.Expression):
            return self.run(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.names[node.id] if node.id in self.names else SAFE_FUNCTIONS[node.id]
        if isinstance(node, ast.BinOp):
            return _binary(node.op, self.run(node.left), self.run(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.run(node.operand))
        if isinstance(node, ast.BoolOp):
            return self._bool_op(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self.run(node.body) if self.run(node.test) else self.run(node.orelse)
        if isinstance(node, ast.Subscript):
            return self.run(node.value)[self.run(node.slice)]
        if isinstance(node, ast.Slice):
            parts = (node.lower, node.upper, node.step)
            return slice(*(None if part is None else self.run(part) for part in parts))
        if isinstance(node, ast.List):
            return [self.run(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.run(item) for item in node.elts)
        if isinstance(node, ast.Dict):
            keys = [None if key is None else self.run(key) for key in node.keys]
            return dict(zip(keys, (self.run(item) for item in node.values), strict=True))
        if isinstance(node, ast.JoinedStr):
            return "".join(str(self.run(part)) for part in node.values)
        if isinstance(node, ast.FormattedValue):
            return self._formatted(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError(f"{type(node).__name__} is not allowed{_where(node)}")

    def _bool_op(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for item in node.values:
            result = self.run(item)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _compare(self, node: ast.Compare) -> bool:
        left = self.run(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _formatted(self, node: ast.FormattedValue) -> str:
        item = self.run(node.value)
        if node.conversion == ord("r"):
            item = repr(item)
        elif node.conversion == ord("s"):
            item = str(item)
        elif node.conversion == ord("a"):
            item = ascii(item)
        spec = "" if node.format_spec is None else str(self.run(node.format_spec))
        return format(item, spec)

    def _owner_methods(self, owner: Any, name: str, node: ast.AST) -> None:
        allowed = next(
            (names for kind, names in SAFE_METHODS.items() if type(owner) is kind),
            frozenset(),
        )
        if name not in allowed:
            raise ExpressionError(
                f"{type(owner).__name__} has no allowed attribute {name!r}{_where(node)}"
            )

    def _attribute(self, node: ast.Attribute) -> Any:
        owner = self.run(node.value)
        self._owner_methods(owner, node.attr, node)
        return getattr(owner, node.attr)

    def _call(self, node: ast.Call) -> Any:
        args = [self.run(arg) for arg in node.args]
        kwargs = {kw.arg: self.run(kw.value) for kw in node.keywords if kw.arg is not None}
        if isinstance(node.func, ast.Attribute):
            owner = self.run(node.func.value)
            name = node.func.attr
            self._owner_methods(owner, name, node.func)
            if isinstance(owner, str):
                _check_string_call(owner, name, args, kwargs)
            return getattr(owner, name)(*args, **kwargs)
        if isinstance(node.func, ast.Name) and node.func.id in SAFE_FUNCTIONS:
            return SAFE_FUNCTIONS[node.func.id](*args, **kwargs)
        raise ExpressionError(f"only the allowed functions and methods can be called{_where(node)}")


def _check_string_call(text: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Refuse padding, joining and replacing that would build a string past MAX_SIZE, beforehand."""
    if name in _PADDING:
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int) and width > MAX_SIZE:
            raise _too_big()
    items = args[0] if args else None
    if (
        name == "join"
        and isinstance(items, list | tuple)
        and len(text) * len(items) + _weight(items) > MAX_SIZE
    ):
        raise _too_big()
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], args[1]
        if isinstance(new, str) and len(new) > len(old):
            count = len(text) + 1 if old == "" else text.count(old)
            if len(text) + count * (len(new) - len(old)) > MAX_SIZE:
                raise _too_big()


def evaluate(source: str, *, value: Any, row: Mapping[str, Any]) -> Any:
    """Evaluate expression `source` with `value` and `row` bound.

    Raises ExpressionError when the expression is not allowed, or when it
    fails on these values (the message names the Python error).
    """
    tree = compile_expression(source)
    try:
        return _Interpreter(value, row).run(tree)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
        raise ExpressionError(
            f"the expression failed: {type(error).__name__}: {error}".rstrip(": ")
        ) from None
