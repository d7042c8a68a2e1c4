"""Redis and PostgreSQL for the scale-out tests: started by .ci/run (.ci/services), found through
REVIEWBOT_TEST_REDIS and REVIEWBOT_TEST_POSTGRESQL. Without them a test skips, except in CI,
where a missing service is a failure."""

from __future__ import annotations

import os
import uuid

import pytest


def service_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: .ci/run starts the service and sets it")
        pytest.skip(f"{variable} is not set (eval \"$(bash .ci/services)\" starts the services)")
    return url


@pytest.fixture
def redis_url():
    """A Redis database emptied for the test."""
    from redis import Redis

    url = service_url("REVIEWBOT_TEST_REDIS")
    Redis.from_url(url).flushdb()
    yield url
    Redis.from_url(url).flushdb()


@pytest.fixture
def postgresql_url():
    """The PostgreSQL database with a new schema of its own for the test (cheaper than a new
    database), dropped after it."""
    import psycopg

    url = service_url("REVIEWBOT_TEST_POSTGRESQL")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    yield f"{url}?options=-csearch_path%3D{name}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DROP SCHEMA {name} CASCADE")
