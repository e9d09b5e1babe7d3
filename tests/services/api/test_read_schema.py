"""`_schema` descriptions, and schema changes reaching the API without a restart."""

import psycopg
from pytest_django.fixtures import Settings

from config.database import platform_conninfo
from tests.services.api.conftest import Api


def test_schema_lists_and_describes_tables(api: Api) -> None:
    names = [t["name"] for t in api.get("/_schema").json()["resource"]]
    assert "books" in names
    books = api.get("/_schema/books").json()
    assert books["primary_key"] == ["id"]
    fields = {field["name"]: field for field in books["field"]}
    assert fields["id"]["type"] == "id"
    assert fields["id"]["auto_increment"] is True
    assert fields["title"]["required"] is True
    assert fields["author_id"]["is_foreign_key"] is True
    assert fields["author_id"]["ref_table"] == "authors"
    related = {relation["name"]: relation for relation in books["related"]}
    assert related["authors_by_author_id"]["type"] == "belongs_to"
    assert related["genres_by_book_genres"]["junction_table"] == "book_genres"
    enum = next(f for f in api.get("/_schema/every_type").json()["field"] if f["name"] == "c_enum")
    assert enum["picklist"] == ["sad", "ok", "happy"]
    assert api.get("/_schema/nope").status_code == 404


def test_added_column_and_new_table_show_up_without_restart(
    api: Api, target_database: str, settings: Settings
) -> None:
    settings.SLUICEGATE_SCHEMA_CHECK_SECONDS = 0
    assert api.table("genres", limit=1).status_code == 200
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute("ALTER TABLE genres ADD COLUMN shelf text DEFAULT 'A'")
        conn.execute("CREATE TABLE magazines (id serial PRIMARY KEY, title text)")
        conn.execute("INSERT INTO magazines (title) VALUES ('Analog')")
    try:
        row = api.table("genres", limit=1).json()["resource"][0]
        assert row["shelf"] == "A"
        assert api.table("magazines").json()["resource"] == [{"id": 1, "title": "Analog"}]
    finally:
        with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
            conn.execute("ALTER TABLE genres DROP COLUMN shelf")
            conn.execute("DROP TABLE magazines")
    assert api.table("magazines").status_code == 404
    assert "shelf" not in api.table("genres", limit=1).json()["resource"][0]


def test_refresh_true_rereads_the_schema(api: Api, target_database: str) -> None:
    assert api.get("/_table").status_code == 200
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE refreshed_now (id int)")
    try:
        names = api.get("/_table", refresh="true", as_list="true").json()["resource"]
        assert "refreshed_now" in names
    finally:
        with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
            conn.execute("DROP TABLE refreshed_now")


def test_a_query_racing_a_schema_change_is_a_clean_503(
    api: Api, target_database: str, settings: Settings
) -> None:
    settings.SLUICEGATE_SCHEMA_CHECK_SECONDS = 3600  # the snapshot will not notice by itself
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE racing (id int PRIMARY KEY, note text)")
    try:
        assert "racing" in api.get("/_table", refresh="true", as_list="true").json()["resource"]
        with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
            conn.execute("ALTER TABLE racing DROP COLUMN note")
        response = api.table("racing")
        assert response.status_code == 503
        assert response.json()["error"]["message"] == (
            "The service's schema changed; retry in a few seconds."
        )
        assert response["Retry-After"] == "5"
    finally:
        with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
            conn.execute("DROP TABLE racing")
