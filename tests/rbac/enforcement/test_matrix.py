"""The authorisation matrix: generated roles x tables x verbs x component patterns.

Each generated role is checked over HTTP against an oracle written from
DreamFactory's resolution rules as API.md states them: the most specific
tier with a rule for the caller's requestor wins (exact component, then
wildcards, then `*`, service rules before all-services rules), verbs are
united within that tier, and everything else is denied.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from rbac.models import VERBS

TABLES = ("owners", "patients", "visits")


def patterns_for(table: str) -> list[str]:
    return ["*", "_table/*", f"_table/{table}", f"_table/{table}/*", "_schema/*", "_func/*"]


def oracle_verbs(rules: list[dict[str, Any]], table: str, requestor: str = "API") -> set[str]:
    """The verbs a role's rules grant on `table` (independent of the implementation)."""
    exact, record_wildcard = f"_table/{table}", f"_table/{table}/*"
    ranks = {exact: 0, record_wildcard: 1, "_table/*": 2, "*": 3}
    best: tuple[int, int] | None = None
    verbs: set[str] = set()
    for rule in rules:
        if requestor not in rule["requestors"] or rule["component"] not in ranks:
            continue
        tier = (1 if rule["service"] == "all" else 0, ranks[rule["component"]])
        if best is None or tier < best:
            best, verbs = tier, set(rule["verbs"])
        elif tier == best:
            verbs |= set(rule["verbs"])
    return verbs


def random_role(rng: random.Random) -> list[dict[str, Any]]:
    rules = []
    for _ in range(rng.randint(0, 4)):
        table = rng.choice(TABLES)
        rules.append(
            {
                "service": rng.choice(["this", "this", "all"]),
                "component": rng.choice(patterns_for(table)),
                "verbs": rng.sample(VERBS, rng.randint(1, 3)),
                "requestors": rng.choice([["API"], ["API"], ["SCRIPT"], ["API", "SCRIPT"]]),
            }
        )
    return rules


# Seeded, so every run checks the same roles.
ROLES = [random_role(random.Random(seed)) for seed in range(36)]  # noqa: S311


def as_specs(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for rule in rules:
        spec = {key: value for key, value in rule.items() if key != "service"}
        if rule["service"] == "all":
            spec["service"] = "all"
        specs.append(spec)
    return specs


@pytest.mark.parametrize("rules", ROLES, ids=[f"role{index}" for index in range(len(ROLES))])
def test_generated_role_reaches_exactly_what_the_rules_grant(
    make_caller: Callable[..., Any], rules: list[dict[str, Any]]
) -> None:
    caller = make_caller(as_specs(rules))
    expected = {table: oracle_verbs(rules, table) for table in TABLES}
    reachable = {table for table, verbs in expected.items() if verbs}
    listing = caller.get("/_table")
    if not any("API" in rule["requestors"] for rule in rules):
        # No rule for API callers: the service itself is unknown to this role.
        assert listing.status_code == 404, listing.content
        assert caller.get("/api/v2").json() == {"resource": []}
        return
    assert listing.status_code == 200, listing.content
    listed = {
        item["name"]: set(item["access"])
        for item in listing.json()["resource"]
        if item["name"] in TABLES
    }
    assert listed == {table: expected[table] for table in reachable}
    for table in TABLES:
        response = caller.table(table, limit=1)
        if "GET" in expected[table]:
            assert response.status_code == 200, (table, response.content)
        elif expected[table]:
            assert response.status_code == 403, (table, response.content)
            assert response.json()["error"]["message"] == (
                f"Access Forbidden. GET access to component '_table/{table}' of service "
                f"'{caller.service}' is not allowed by this user's role."
            )
        else:
            assert response.status_code == 404, (table, response.content)
            assert response.json()["error"]["message"] == (
                f'Table "{table}" does not exist in the database.'
            )


def test_the_matrix_covers_every_tier_and_outcome() -> None:
    """The generated roles exercise each outcome, so the matrix cannot pass vacuously."""
    outcomes = set()
    for rules in ROLES:
        for table in TABLES:
            verbs = oracle_verbs(rules, table)
            outcomes.add("get" if "GET" in verbs else "other" if verbs else "none")
    assert outcomes == {"get", "other", "none"}
    components = {rule["component"].split("/")[-1] for rules in ROLES for rule in rules}
    assert {"*", "owners", "patients", "visits"} <= components


def test_more_specific_tier_overrides_a_broader_grant(make_caller: Callable[..., Any]) -> None:
    caller = make_caller(
        [
            {"component": "*", "verbs": ["GET", "POST"]},
            {"component": "_table/patients", "verbs": ["DELETE"]},
        ]
    )
    assert caller.table("owners").status_code == 200
    assert caller.table("patients").status_code == 403


def test_verbs_are_united_within_a_tier(make_caller: Callable[..., Any]) -> None:
    caller = make_caller(
        [
            {"component": "_table/patients", "verbs": ["POST"]},
            {"component": "_table/patients", "verbs": ["GET"]},
        ]
    )
    listing = caller.get("/_table").json()["resource"]
    assert listing == [
        {"name": "patients", "label": "Patients", "is_view": False, "access": ["GET", "POST"]}
    ]


def test_script_only_rule_is_invisible_to_api_callers(make_caller: Callable[..., Any]) -> None:
    caller = make_caller([{"component": "*", "verbs": ["GET"], "requestors": ["SCRIPT"]}])
    assert caller.get("/_table").status_code == 404
    assert caller.table("patients").status_code == 404


def test_no_rules_means_no_services(make_caller: Callable[..., Any]) -> None:
    caller = make_caller([])
    assert caller.get("/api/v2").json() == {"resource": []}
    assert caller.get("").status_code == 404
