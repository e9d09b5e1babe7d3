"""Transforms between a column's value and a HubSpot property's value, and the checks of a mapping.

One rule: transforms are pure functions registered by name in `TRANSFORMS`
(the set documented in docs/sync.md); a value one cannot convert raises
`TransformError`, never passes through changed silently.

- `values`: HubSpot's string forms of dates, timestamps, numbers, booleans;
- `functions`: the transforms and `transform_push` / `transform_pull`;
- `expression`: the restricted evaluator behind the `expression` transform;
- `checks`: `check_mapping` / `mapping_problems`, for validating a job's mappings.
"""

from sync.transforms.checks import MappingProblem, check_mapping, mapping_problems
from sync.transforms.expression import ExpressionError, compile_expression, evaluate
from sync.transforms.functions import TRANSFORMS, Transform, transform_pull, transform_push
from sync.transforms.values import MAX_STRING_LENGTH, TransformError, format_value

TRANSFORM_NAMES = tuple(TRANSFORMS)
TRANSFORM_CHOICES = [(name, name.replace("_", " ")) for name in TRANSFORM_NAMES]

__all__ = [
    "MAX_STRING_LENGTH",
    "TRANSFORMS",
    "TRANSFORM_CHOICES",
    "TRANSFORM_NAMES",
    "ExpressionError",
    "MappingProblem",
    "Transform",
    "TransformError",
    "check_mapping",
    "compile_expression",
    "evaluate",
    "format_value",
    "mapping_problems",
    "transform_pull",
    "transform_push",
]
