"""The audit log's hash chain, as pure functions: each row's hash covers its fields and the hash of the
row before it, so editing or deleting a past row breaks every link after it.

The same functions seal rows at commit (``registry.audit``), backfill old rows (migration 0007) and
verify the log (``gatekeeper audit verify``): one definition of what a row's hash is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# The row fields a hash covers, in a fixed order. The id is not among them: it is assigned by the
# database after the hash is computed; the chain itself fixes the order (ids grow along it).
FIELDS = ("at", "actor", "action", "entity_type", "entity_id", "before", "after", "note")


@dataclass(frozen=True)
class ChainRow:
    id: int
    fields: dict[str, Any]
    prev_hash: str | None
    hash: str | None


@dataclass(frozen=True)
class Verdict:
    rows: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def describe(self) -> str:
        """One line for people: the count, or the first broken row and why."""
        if self.ok:
            return f"audit chain intact: {self.rows} rows verified"
        where = f"row {self.broken_id}" if self.broken_id is not None else "the start"
        return f"audit chain broken at {where}: {self.reason}; {self.rows} rows verified before it"


def _plain(value: Any) -> Any:
    """JSON values as any engine gives them back: JSONB turns 1e16 into 10000000000000000."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def link_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """sha256 over the canonical JSON of the row's fields followed by the previous row's hash."""
    body = {name: _plain(fields.get(name)) for name in FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{canonical}\n{prev_hash}".encode()).hexdigest()


def first_break(rows: Iterable[ChainRow], head_hash: str | None) -> Verdict:
    """Walk the rows in id order; name the first row whose links do not hold, or the missing tail."""
    prev, count, last_id = GENESIS, 0, None
    for row in rows:
        if row.prev_hash != prev:
            reason = "its prev_hash is not the hash of the row before it (a row was deleted or edited)"
            return Verdict(count, row.id, reason)
        if link_hash(row.fields, prev) != row.hash:
            return Verdict(count, row.id, "its content does not match its hash (the row was edited)")
        prev, count, last_id = row.hash, count + 1, row.id
    if (head_hash or GENESIS) != prev:
        return Verdict(count, last_id, "the chain head is past the last row (rows were deleted at the end)")
    return Verdict(count)
