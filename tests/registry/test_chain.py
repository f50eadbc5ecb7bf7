"""The hash chain's pure functions, on hand-built rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from gatekeeper.registry.chain import GENESIS, ChainRow, first_break, link_hash

AT = datetime(2026, 12, 7, 5, 0, 0, 123456, tzinfo=UTC)


def fields(n: int) -> dict:
    return {
        "at": AT + timedelta(seconds=n),
        "actor": "ci",
        "action": "candidate.register",
        "entity_type": "candidate",
        "entity_id": f"c{n}",
        "before": None,
        "after": {"status": "registered", "score": 0.5 + n},
        "note": None,
    }


def chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        digest = link_hash(fields(i), prev)
        rows.append(ChainRow(i, fields(i), prev, digest))
        prev = digest
    return rows


def test_the_hash_ignores_key_order_timezone_and_integral_float_spelling() -> None:
    a = fields(1)
    tokyo = a["at"].astimezone(timezone(timedelta(hours=9)))
    b = {**a, "at": tokyo, "after": {"score": 1.5, "status": "registered"}}
    assert link_hash(a, GENESIS) == link_hash(b, GENESIS)
    big = link_hash({**a, "after": {"n": 1e16}}, GENESIS)
    assert big == link_hash({**a, "after": {"n": 10**16}}, GENESIS)
    assert link_hash(a, GENESIS) != link_hash({**a, "actor": "mallory"}, GENESIS)
    assert link_hash(a, GENESIS) != link_hash(a, "1" * 64)


def test_an_intact_chain_verifies_with_its_count() -> None:
    rows = chain(5)
    verdict = first_break(rows, rows[-1].hash)
    assert verdict.ok and verdict.rows == 5 and "5 rows" in verdict.describe()
    assert first_break([], None).ok


def test_an_edited_row_is_named() -> None:
    rows = chain(5)
    rows[2] = ChainRow(3, {**rows[2].fields, "actor": "mallory"}, rows[2].prev_hash, rows[2].hash)
    verdict = first_break(rows, rows[-1].hash)
    assert (verdict.ok, verdict.broken_id, verdict.rows) == (False, 3, 2)
    assert "row 3" in verdict.describe() and "edited" in verdict.describe()


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows = chain(5)
    forged = {**rows[2].fields, "actor": "mallory"}
    rows[2] = ChainRow(3, forged, rows[2].prev_hash, link_hash(forged, rows[2].prev_hash))
    assert first_break(rows, rows[-1].hash).broken_id == 4


def test_a_deleted_row_is_detected_in_the_middle_at_the_start_and_at_the_end() -> None:
    rows = chain(5)
    assert first_break(rows[:2] + rows[3:], rows[-1].hash).broken_id == 4
    assert first_break(rows[1:], rows[-1].hash).broken_id == 2
    tail = first_break(rows[:4], rows[-1].hash)
    assert (tail.ok, tail.broken_id, tail.rows) == (False, 4, 4) and "end" in tail.reason
