"""The demo's simulated clock starts at the same time of day every run, never after the real now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatekeeper.demo import STORY_START, story_start


def test_the_story_starts_at_the_last_fixed_time_of_day_before_now() -> None:
    evening = datetime(2026, 12, 7, 22, 10, 33, tzinfo=UTC)
    morning = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert story_start(evening) == datetime(2026, 12, 7, *STORY_START, tzinfo=UTC)
    assert story_start(morning) == datetime(2026, 12, 6, *STORY_START, tzinfo=UTC)
    exact = datetime(2026, 12, 7, *STORY_START, tzinfo=UTC)
    assert story_start(exact) == exact and story_start(exact - timedelta(seconds=1)) < exact
