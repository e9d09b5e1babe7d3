"""Property-based: the endpoint never fails, and filters mean what SQL means."""

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from config.database import platform_conninfo
from tests.services.api.conftest import Api

COLUMNS = {
    "id": st.integers(-2, 7).map(str),
    "author_id": st.integers(0, 4).map(str),
    "price": st.decimals("0", "15", places=2).map(str),
    "title": st.sampled_from(["'Solaris'", "'Kindred'", "'x'", "'The Dispossessed'"]),
    "published": st.sampled_from(["'1961-06-01'", "'1974-05-01'", "'2000-01-01'"]),
}
OPERATORS = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


@st.composite
def conditions(draw: st.DrawFn) -> tuple[str, str]:
    """A filter condition and the equivalent SQL condition."""
    column = draw(st.sampled_from(sorted(COLUMNS)))
    value = draw(COLUMNS[column])
    kind = draw(st.sampled_from(["compare", "null", "in"]))
    if kind == "null":
        negated = draw(st.booleans())
        text = f"{column} IS {'NOT ' if negated else ''}NULL"
        return text, text
    if kind == "in":
        other = draw(COLUMNS[column])
        text = f"{column} IN ({value}, {other})"
        return text, text
    op = draw(OPERATORS)
    return f"{column} {op} {value}", f"{column} {op} {value}"


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, str]:
    parts = draw(st.lists(conditions(), min_size=1, max_size=4))
    glue = draw(
        st.lists(st.sampled_from(["AND", "OR"]), min_size=len(parts) - 1, max_size=len(parts) - 1)
    )
    text, where = parts[0]
    for (next_text, next_where), word in zip(parts[1:], glue, strict=True):
        text, where = f"{text} {word} {next_text}", f"{where} {word} {next_where}"
    if draw(st.booleans()):
        text, where = f"NOT ({text})", f"NOT ({where})"
    return text, where


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=60))
def test_random_filters_never_fail_the_server(api: Api, text: str) -> None:
    response = api.table("books", filter=text)
    assert response.status_code in (200, 400), (text, response.content)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filters())
def test_well_formed_filters_match_sql_run_directly(
    api: Api, target_database: str, pair: tuple[str, str]
) -> None:
    text, where = pair
    response = api.table("books", filter=text, fields="id", order="id")
    assert response.status_code == 200, (text, response.content)
    got = [row["id"] for row in response.json()["resource"]]
    with psycopg.connect(platform_conninfo(dbname=target_database)) as conn:
        statement = sql.SQL("SELECT id FROM books WHERE {} ORDER BY id").format(sql.SQL(where))
        expected = [row[0] for row in conn.execute(statement)]
    assert got == expected, text
