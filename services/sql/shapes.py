"""Query shapes: a filter with its literal values taken out, and the values in a fixed order.

One rule: two filters with the same shape compile to the same SQL text, and
`literals` lists their values in the same order for both, so a statement
compiled for one can be reused with the other's values.
"""

from __future__ import annotations

from services.sql.ast import And, Between, Comparison, Expr, InList, Like, Literal, Not, Or, Value


def literals(expr: Expr | None) -> list[Literal]:
    """Every Literal value node of `expr`, depth first, left to right."""
    found: list[Literal] = []
    stack: list[Expr] = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.item)
        elif isinstance(node, Comparison | Like):
            if isinstance(node.value, Literal):
                found.append(node.value)
        elif isinstance(node, InList):
            found.extend(value for value in node.values if isinstance(value, Literal))
        elif isinstance(node, Between):
            found.extend(value for value in (node.low, node.high) if isinstance(value, Literal))
    return found


def blank(value: Value) -> Value:
    return Literal(value.kind, "") if isinstance(value, Literal) else value


def shape(expr: Expr) -> Expr:
    """`expr` with every literal's text blanked (its kind kept): the filter's shape."""
    if isinstance(expr, And):
        return And(tuple(shape(item) for item in expr.items))
    if isinstance(expr, Or):
        return Or(tuple(shape(item) for item in expr.items))
    if isinstance(expr, Not):
        return Not(shape(expr.item))
    if isinstance(expr, Comparison):
        return Comparison(expr.field, expr.op, blank(expr.value))
    if isinstance(expr, Like):
        return Like(expr.field, expr.op, blank(expr.value), expr.negated)
    if isinstance(expr, InList):
        return InList(expr.field, tuple(blank(v) for v in expr.values), expr.negated)
    if isinstance(expr, Between):
        return Between(expr.field, blank(expr.low), blank(expr.high), expr.negated)
    return expr


def uses_relations(expr: Expr | None) -> bool:
    """Whether any condition of `expr` names a field of a related table."""
    if expr is None:
        return False
    if isinstance(expr, And | Or):
        return any(uses_relations(item) for item in expr.items)
    if isinstance(expr, Not):
        return uses_relations(expr.item)
    return expr.field.relation is not None
