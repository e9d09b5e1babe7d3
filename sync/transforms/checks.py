"""Whether a mapping can work: the column's type, the property's type, the transform between them.

One rule: these checks look only at definitions (a catalog `Column`, HubSpot's
`PropertyDefinition`, the mapping), never at data, and say what is wrong in a
sentence an admin can act on; each problem names the mapping field to fix
(`column`, `property`, `transform` or `options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.sql.schema import Column
from sync.hubspot.types import PropertyDefinition
from sync.jobspec import FieldMapping
from sync.transforms.functions import TRANSFORMS, Transform

Field = Literal["column", "property", "transform", "options", "direction"]

# Column JSON kinds a property type takes without a transform.
DIRECT_KINDS: dict[str, frozenset[str]] = {
    "string": frozenset(
        {"string", "integer", "number", "boolean", "date", "datetime", "time", "interval", "json"}
    ),
    "phone_number": frozenset({"string", "integer"}),
    "number": frozenset({"integer", "number"}),
    "bool": frozenset({"boolean"}),
    "enumeration": frozenset({"string", "integer", "boolean"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime", "date"}),
}
# A transform that makes a column of this kind fit, to suggest in messages.
SUGGESTIONS: dict[tuple[str, str], str] = {
    ("datetime", "date"): "date_midnight_utc",
    ("string", "date"): "date_midnight_utc",
    ("string", "datetime"): "epoch_millis",
    ("array", "enumeration"): "join",
    ("array", "string"): "join",
    ("string", "bool"): "boolean",
    ("integer", "bool"): "boolean",
    ("datetime", "number"): "epoch_millis",
}
BOOL_VALUES = frozenset({"true", "false"})


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """One reason a mapping cannot work, and the mapping field it concerns."""

    field: Field
    message: str


def pushes(mapping: FieldMapping) -> bool:
    return mapping.direction in ("push", "both")


def pulls(mapping: FieldMapping) -> bool:
    return mapping.direction in ("pull", "both")


def _kind(column: Column) -> str:
    return f"{column.json_kind} ({column.type_name})"


def _options_of(prop: PropertyDefinition) -> frozenset[str] | None:
    """The values the property takes, or None when HubSpot does not list them."""
    if prop.type == "bool":
        return BOOL_VALUES
    if prop.type == "enumeration" and not prop.external_options:
        return frozenset(option.value for option in prop.options)
    return None


def _unknown_options(values: list[str], prop: PropertyDefinition) -> list[str]:
    allowed = _options_of(prop)
    if allowed is None:
        return []
    return [value for value in values if value not in allowed]


def _option_list(prop: PropertyDefinition) -> str:
    allowed = sorted(_options_of(prop) or ())
    shown = ", ".join(allowed[:20])
    return shown + (", …" if len(allowed) > 20 else "")


def _direct(
    mapping: FieldMapping, column: Column, prop: PropertyDefinition
) -> list[MappingProblem]:
    """Problems of a mapping without a transform: the types must meet as they are."""
    kinds = DIRECT_KINDS.get(prop.type)
    if kinds is not None and column.json_kind not in kinds:
        hint = SUGGESTIONS.get((column.json_kind, prop.type))
        advice = f"; use the {hint} transform" if hint else ""
        return [
            MappingProblem(
                "property",
                f"type mismatch: column '{column.name}' is {_kind(column)} but HubSpot property "
                f"'{prop.name}' is {prop.type}{advice}",
            )
        ]
    if column.enum_labels is not None:
        unknown = _unknown_options(list(column.enum_labels), prop)
        if unknown:
            return [
                MappingProblem(
                    "property",
                    f"unknown enum option: values {', '.join(map(repr, unknown))} of column "
                    f"'{column.name}' are not options of '{prop.name}' "
                    f"({_option_list(prop)}); map them with enum_map",
                )
            ]
    return []


def _enum_map(
    mapping: FieldMapping, column: Column, prop: PropertyDefinition
) -> list[MappingProblem]:
    values = mapping.options.get("values") or {}
    problems: list[MappingProblem] = []
    unknown = _unknown_options([str(option) for option in values.values()], prop)
    if unknown:
        problems.append(
            MappingProblem(
                "options",
                f"unknown enum option: {', '.join(map(repr, unknown))} "
                f"{'is' if len(unknown) == 1 else 'are'} not "
                f"{'an option' if len(unknown) == 1 else 'options'} of '{prop.name}' "
                f"({_option_list(prop)})",
            )
        )
    if pushes(mapping) and column.enum_labels is not None:
        missing = [label for label in column.enum_labels if label not in values]
        if missing:
            problems.append(
                MappingProblem(
                    "options",
                    f"values {', '.join(map(repr, missing))} of column '{column.name}' have no "
                    "entry in the value map",
                )
            )
    if pulls(mapping):
        targets = [str(option) for option in values.values()]
        twice = sorted({target for target in targets if targets.count(target) > 1})
        if twice:
            problems.append(
                MappingProblem(
                    "options",
                    f"several values map to {', '.join(map(repr, twice))}: a pull could not tell "
                    "them apart; make the mapping push-only or the map one-to-one",
                )
            )
    return problems


def _with_transform(
    mapping: FieldMapping, transform: Transform, column: Column, prop: PropertyDefinition
) -> list[MappingProblem]:
    problems = [
        MappingProblem("options", text) for text in transform.check_options(mapping.options)
    ]
    if transform.column_kinds is not None and column.json_kind not in transform.column_kinds:
        problems.append(
            MappingProblem(
                "transform",
                f"{transform.name} does not fit column '{column.name}' ({_kind(column)}); it "
                f"takes {', '.join(sorted(transform.column_kinds))} columns",
            )
        )
    if transform.property_types is not None and prop.type not in transform.property_types:
        problems.append(
            MappingProblem(
                "transform",
                f"{transform.name} does not fit HubSpot property '{prop.name}' ({prop.type}); it "
                f"makes values for {', '.join(sorted(transform.property_types))} properties",
            )
        )
    if pulls(mapping) and not transform.reversible:
        problems.append(
            MappingProblem(
                "transform",
                f"{transform.name} cannot be reversed, so the mapping cannot pull; "
                "set its direction to push",
            )
        )
    if problems:
        return problems
    if transform.name == "enum_map":
        return _enum_map(mapping, column, prop)
    if transform.name == "boolean" and prop.type == "enumeration":
        unknown = _unknown_options(sorted(BOOL_VALUES), prop)
        if unknown:
            return [
                MappingProblem(
                    "transform",
                    f"boolean sends true/false, but '{prop.name}' has no option "
                    f"{', '.join(map(repr, unknown))}",
                )
            ]
    if transform.name == "join" and prop.type == "enumeration" and prop.field_type != "checkbox":
        return [
            MappingProblem(
                "transform",
                f"join sends several values, but '{prop.name}' takes one ({prop.field_type}); "
                "only checkbox properties take several",
            )
        ]
    return []


def mapping_problems(
    mapping: FieldMapping, column: Column, prop: PropertyDefinition
) -> list[MappingProblem]:
    """Why `mapping` of `column` to `prop` cannot work; empty when it can.

    Checks the transform exists and fits both types and its options (enum
    options against the property's), the types meet without a transform,
    a pushed property is writable and a pulled column is not filled by
    the database.
    """
    problems: list[MappingProblem] = []
    if pushes(mapping) and (prop.read_only_value or prop.calculated):
        problems.append(
            MappingProblem(
                "property",
                f"HubSpot property '{prop.name}' is read-only; a mapping to it can only pull",
            )
        )
    if pulls(mapping) and (column.auto or column.is_generated or column.is_identity):
        problems.append(
            MappingProblem(
                "column",
                f"column '{column.name}' is filled by the database; a mapping to it can only push",
            )
        )
    if not mapping.transform:
        return problems + _direct(mapping, column, prop)
    transform = TRANSFORMS.get(mapping.transform)
    if transform is None:
        return [*problems, MappingProblem("transform", f"unknown transform '{mapping.transform}'")]
    return problems + _with_transform(mapping, transform, column, prop)


def check_mapping(
    mapping: FieldMapping, column: Column, property_definition: PropertyDefinition
) -> list[str]:
    """The messages of `mapping_problems`: type mismatch, unknown option, unfit transform …"""
    return [problem.message for problem in mapping_problems(mapping, column, property_definition)]
