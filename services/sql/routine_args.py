"""Match a routine call's arguments to a function or procedure and render them as SQL.

One rule: arguments are matched by the catalog's description of the routine
(`Routine.arguments`) only; every value becomes a bound parameter, checked
here as far as Python can and cast to the argument's catalog type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from psycopg import sql

from services.sql.errors import InvalidValue, QueryError
from services.sql.schema import Argument, Column, Routine
from services.sql.values import as_text, checked_text

IN_MODES: Final = frozenset({"IN", "INOUT", "VARIADIC"})
# Pseudo-types an argument cannot be cast to; PostgreSQL infers them from the call.
POLYMORPHIC: Final = frozenset({
    "any", "anyelement", "anyarray", "anynonarray", "anyenum", "anyrange", "anymultirange",
    "anycompatible", "anycompatiblearray", "anycompatiblenonarray", "anycompatiblerange",
    "anycompatiblemultirange",
})  # fmt: skip


class InvalidArgument(QueryError):
    """An argument value that does not fit the argument's type."""

    def __init__(self, name: str, detail: str = "") -> None:
        suffix = f" {detail}" if detail else ""
        super().__init__(f"Invalid value for argument '{name}'.{suffix}")


@dataclass(frozen=True, slots=True)
class RoutineCall:
    """The arguments a request gives, as JSON-like Python values: positional first, then by name."""

    positional: tuple[object, ...] = ()
    named: Mapping[str, object] = field(default_factory=dict)


# --- choosing the routine and matching its arguments -------------------------------


def kind_word(routine: Routine) -> str:
    return "Function" if routine.kind == "function" else "Procedure"


def argument_label(routine: Routine, index: int) -> str:
    """An argument's name, or `$n` (its position) when it has none."""
    return routine.arguments[index].name or f"${index + 1}"


def signature(routine: Routine) -> str:
    """`name(a integer, b text)`: the routine's input arguments, for messages."""
    inputs = ", ".join(
        f"{argument_label(routine, i)} {argument.type_name}"
        for i, argument in enumerate(routine.arguments)
        if argument.mode in IN_MODES
    )
    return f"{routine.name}({inputs})"


def choose_routine(
    candidates: Sequence[Routine], call: RoutineCall
) -> tuple[Routine, dict[int, object]]:
    """Return the one routine of `candidates` (overloads of one name) the call fits, and its values.

    The values map positions in `routine.arguments` to the given raw values.
    Overloads are told apart by argument names and counts; among several that
    fit, the one leaving out the fewest defaulted arguments wins. Raises
    QueryError: the one candidate's own complaint (unknown, missing or
    duplicate argument), or that no form or more than one form fits.
    """
    if not candidates:
        raise ValueError("choose_routine() needs at least one routine")
    fits: list[tuple[Routine, dict[int, object]]] = []
    complaints: list[QueryError] = []
    for routine in candidates:
        try:
            fits.append((routine, match_arguments(routine, call)))
        except QueryError as complaint:
            complaints.append(complaint)
    first = candidates[0]
    forms = "; ".join(signature(routine) for routine in candidates)
    if not fits:
        if len(candidates) == 1:
            raise complaints[0]
        raise QueryError(
            f'No form of {kind_word(first).lower()} "{first.name}" takes the arguments given. '
            f"Its forms: {forms}."
        )

    def left_out(fit: tuple[Routine, dict[int, object]]) -> int:
        routine, values = fit
        inputs = sum(1 for argument in routine.arguments if argument.mode in IN_MODES)
        return inputs - len(values)

    fewest = min(left_out(fit) for fit in fits)
    best = [fit for fit in fits if left_out(fit) == fewest]
    if len(best) > 1:
        raise QueryError(
            f'The call of {kind_word(first).lower()} "{first.name}" is ambiguous: '
            f"{'; '.join(signature(routine) for routine, _ in best)} all take these arguments."
        )
    return best[0]


def match_arguments(routine: Routine, call: RoutineCall) -> dict[int, object]:
    """Map the call's values onto `routine`'s input arguments (positions in `routine.arguments`).

    Positional values fill the inputs in order (surplus values go to a
    VARIADIC last argument); named values go to the argument of that name (a
    value named after an OUT argument is ignored, as DreamFactory clients send
    those). Raises QueryError for too many values, an unknown name, a value
    given twice or a required argument missing.
    """
    what = f'{kind_word(routine).lower()} "{routine.name}"'
    inputs = [i for i, argument in enumerate(routine.arguments) if argument.mode in IN_MODES]
    positional = list(call.positional)
    variadic = bool(inputs) and routine.arguments[inputs[-1]].mode == "VARIADIC"
    if variadic and len(positional) >= len(inputs):
        rest = positional[len(inputs) - 1 :]
        packed = rest[0] if len(rest) == 1 and isinstance(rest[0], list) else list(rest)
        positional = [*positional[: len(inputs) - 1], packed]
    if len(positional) > len(inputs):
        raise QueryError(
            f"Too many arguments for {what}: it takes {len(inputs)}, "
            f"{len(call.positional)} were given."
        )
    values: dict[int, object] = dict(zip(inputs, positional, strict=False))
    by_name = {argument.name: i for i, argument in enumerate(routine.arguments) if argument.name}
    for name, value in call.named.items():
        index = by_name.get(name)
        if index is None:
            raise QueryError(f"Unknown argument '{name}' for {what}.")
        argument = routine.arguments[index]
        if argument.mode not in IN_MODES:
            continue
        if index in values:
            raise QueryError(f"Argument '{name}' of {what} is given twice.")
        if argument.mode == "VARIADIC" and not isinstance(value, list | str):
            value = [value]
        values[index] = value
    for index in inputs:
        if index not in values and not routine.arguments[index].has_default:
            raise QueryError(
                f"Missing required argument '{argument_label(routine, index)}' for {what}."
            )
    return values


# --- argument values -------------------------------------------------------------


def array_literal(items: Sequence[object]) -> str:
    """PostgreSQL's array input text for a JSON list (nested lists: more dimensions)."""
    parts: list[str] = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(array_literal(item))
        else:
            text = as_text(item).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{text}"')
    return "{" + ",".join(parts) + "}"


def argument_text(argument: Argument, label: str, raw: object) -> str | None:
    """The bound text of one argument value (None for null), checked as far as Python can.

    Raises InvalidArgument for a value that cannot be of the argument's type;
    kinds PostgreSQL parses in many spellings are left to the server.
    """
    if raw is None:
        return None
    if argument.json_kind == "array":
        if isinstance(raw, list):
            return array_literal(raw)
        text = as_text(raw)
        # `?ids=1,2,3` in a query string; `{1,2,3}` is already array input.
        if not text.lstrip().startswith("{"):
            return array_literal([part.strip() for part in text.split(",")])
        return text
    if argument.json_kind == "json":
        return raw if isinstance(raw, str) else json.dumps(raw)
    if isinstance(raw, dict | list):
        raise InvalidArgument(label)
    column = Column(
        name=label,
        position=0,
        type_name=argument.type_name,
        base_type=argument.base_type,
        json_kind=argument.json_kind,
        nullable=True,
    )
    try:
        return checked_text(column, raw, field=label)
    except InvalidValue:
        raise InvalidArgument(label) from None


def type_sql(type_name: str) -> sql.SQL:
    # The type as `format_type()` spelled it when the catalog was read:
    # PostgreSQL's own quoting of a type that exists, never client text.
    return sql.SQL(type_name)


def castable(argument: Argument) -> bool:
    """False for pseudo-types (the call itself decides them) and types gone from the catalog."""
    return argument.base_type not in POLYMORPHIC and argument.type_name != "unknown"


def typed(argument: Argument, value: sql.Composable) -> sql.Composable:
    """`value::type`, when the argument's type can be cast to."""
    if not castable(argument):
        return value
    return sql.SQL("{}::{}").format(value, type_sql(argument.type_name))


def arguments_sql(
    routine: Routine,
    values: Mapping[int, object],
    bound: list[object],
    checks: list[tuple[str, sql.Composable, object]],
) -> sql.Composable:
    """The argument list of the call, appending bound values to `bound` in order.

    Arguments are passed by position until the first one left out (so that
    PostgreSQL applies its default), by name after it. A procedure's OUT
    arguments are passed as typed NULLs, as CALL requires; a function's are
    not passed at all.
    """
    parts: list[sql.Composable] = []
    by_name = False
    for index, argument in enumerate(routine.arguments):
        label = argument_label(routine, index)
        if argument.mode == "OUT":
            if routine.kind == "function":
                continue
            expr = typed(argument, sql.SQL("NULL"))
        elif index not in values:
            by_name = True
            continue
        else:
            text = argument_text(argument, label, values[index])
            bound.append(text)
            expr = typed(argument, sql.Placeholder())
            if text is not None and castable(argument):
                checks.append((label, type_sql(argument.type_name), text))
        if by_name:
            if not argument.name:
                raise QueryError(
                    f"Argument '{label}' of {kind_word(routine).lower()} \"{routine.name}\" "
                    "has no name, so the arguments before it cannot be left out."
                )
            expr = sql.SQL("{} => {}").format(sql.Identifier(argument.name), expr)
        if argument.mode == "VARIADIC":
            expr = sql.SQL("VARIADIC {}").format(expr)
        parts.append(expr)
    return sql.SQL("{}({})").format(
        sql.Identifier(routine.sql_schema, routine.sql_name), sql.SQL(", ").join(parts)
    )
