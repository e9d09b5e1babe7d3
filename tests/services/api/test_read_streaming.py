"""CSV and NDJSON streams: not capped by the maximum, built by PostgreSQL."""

import json
from typing import Any

from services.models import Service
from tests.services.api.conftest import Api


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def test_csv_by_accept_header_and_by_file_name(api: Api, target_service: Service) -> None:
    response = api.table("books", fields="id,title", headers={"Accept": "text/csv"}, order="id")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = body(response).splitlines()
    assert lines[0] == "id,title"
    assert lines[1] == "1,The Dispossessed"
    assert len(lines) == 6
    download = api.table("books", file="books export.csv", fields="id")
    assert download["Content-Disposition"] == 'attachment; filename="books_export.csv"'
    assert body(download).splitlines()[0] == "id"


def test_ndjson_streams_every_row_past_the_maximum(api: Api, target_service: Service) -> None:
    target_service.max_records = 2
    target_service.save()
    from services.api.registry import forget_services

    forget_services()
    response = api.table("books", headers={"Accept": "application/x-ndjson"}, fields="id")
    lines = body(response).splitlines()
    assert [json.loads(line) for line in lines] == [{"id": n} for n in range(1, 6)]


def test_stream_errors_are_clean_before_streaming(api: Api) -> None:
    response = api.table("books", filter="nope = 1", headers={"Accept": "text/csv"})
    assert response.status_code == 400
    bad_value = api.table("every_type", filter="c_inet = 'x'", headers={"Accept": "text/csv"})
    assert bad_value.status_code == 400
