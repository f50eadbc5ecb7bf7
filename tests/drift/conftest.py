"""The drift tests' champion: a promoted candidate with a synthetic reference."""

from __future__ import annotations

import uuid

import pytest

from gatekeeper.config import Settings
from gatekeeper.db import Database
from tests.drift.world import make_champion, make_target, synthetic_reference


@pytest.fixture
def champion(db: Database, settings: Settings) -> uuid.UUID:
    make_target(db)
    cid = make_champion(db, settings)
    synthetic_reference(db, cid)
    return cid
