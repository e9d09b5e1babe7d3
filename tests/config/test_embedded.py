"""The embedded servers really start, keep their data and are reused."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from config.embedded import running_postgres_url, running_redis_url, start_postgres, start_redis
from config.environment import BASE_DIR, database_config

pytestmark = pytest.mark.slow


def connect(url: str) -> psycopg.Connection:
    config = database_config(url)
    return psycopg.connect(
        host=config["HOST"], user=config["USER"], dbname=config["NAME"], autocommit=True
    )


def test_embedded_postgres_keeps_its_data_dir_across_restarts(tmp_path: Path) -> None:
    server = start_postgres(tmp_path)
    try:
        assert running_postgres_url(tmp_path) == server.url
        with connect(server.url) as conn:
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        attached = start_postgres(tmp_path)  # a second start reuses the running server
        assert attached.url == server.url
    finally:
        server.stop()
    assert running_postgres_url(tmp_path) is None

    again = start_postgres(tmp_path)
    try:
        with connect(again.url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [(42,)]
    finally:
        again.stop()
    assert running_postgres_url(tmp_path) is None


def test_embedded_redis_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        assert running_redis_url(tmp_path) == server.url
        with redis.Redis.from_url(server.url) as client:
            client.set("kept", "yes")
    finally:
        server.stop()
    assert running_redis_url(tmp_path) is None

    again = start_redis(tmp_path)
    try:
        with redis.Redis.from_url(again.url) as client:
            assert client.get("kept") == b"yes"
    finally:
        again.stop()
    assert running_redis_url(tmp_path) is None


def test_launch_exec_hands_embedded_urls_to_the_command_then_stops_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SLUICEGATE_ENV="development", SLUICEGATE_DATA_DIR=str(tmp_path))
    probe = (
        "import os, psycopg, redis;"
        "from config.environment import database_config as c;"
        "d = c(os.environ['DATABASE_URL']);"
        "print(psycopg.connect(host=d['HOST'], user=d['USER'], dbname=d['NAME']).execute('SELECT 7').fetchone()[0]);"
        "print(redis.Redis.from_url(os.environ['REDIS_URL']).ping())"
    )
    result = subprocess.run(
        [sys.executable, "-m", "config.launch", "exec", "--", sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "True"]
    assert running_postgres_url(tmp_path) is None
    assert running_redis_url(tmp_path) is None
