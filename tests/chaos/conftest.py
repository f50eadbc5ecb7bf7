"""Chaos fixtures: Postgres only (advisory locks, SKIP LOCKED, real processes), and a webhook receiver
that answers slowly enough for a kill -9 to land between a POST and the commit of its outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gatekeeper.db import Database
from gatekeeper.notify.receiver import LocalReceiver


@pytest.fixture
def db(pg_db: Database) -> Database:
    return pg_db


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    r = LocalReceiver(delay=0.2)
    yield r
    r.close()
