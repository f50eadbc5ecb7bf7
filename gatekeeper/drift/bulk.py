"""Bulk prediction logs: a JSONL or Arrow IPC body, checked column-wise, stored in one transaction.

The body is spooled as it arrives (never held whole), then read back in blocks: JSONL lines decoded by
msgspec (``bulk_jsonl``) or the stream's record batches (``bulk_arrow``), both as Arrow columns that
``bulk_rows.checked`` checks a block at a time. The first bad row refuses the batch with a 422 naming
its line (JSONL, from 1) or row (Arrow, from 0) and field, and the transaction rolls back, so nothing
of the batch is kept, even when earlier blocks were already written.

A request_id already stored, or repeated in the batch (the first row wins), is ignored, as on the JSON
route. Postgres gets the checked blocks by ``COPY``, SQLite by ``executemany`` (``bulk_write``).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.db import is_postgres
from gatekeeper.drift import bulk_arrow, bulk_jsonl, bulk_rows, bulk_write, ingest
from gatekeeper.drift.schemas import ARROW_MEDIA_TYPE, JSONL_MEDIA_TYPE, IngestRead
from gatekeeper.errors import TooLarge, ValidationFailed
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate

SPOOL_IN_MEMORY = 16 << 20  # a body up to this size is spooled in memory, a larger one on disk
MEDIA_TYPE = JSONL_MEDIA_TYPE


async def spool(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """The body, spooled to memory (then disk); 413 once it passes ``limit`` bytes."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            out.close()
            raise TooLarge(f"body exceeds the {limit} byte limit", field="body", limit_bytes=limit)
        out.write(chunk)
    out.seek(0)
    return out


@dataclass
class Seen:
    """The request_ids of the batch so far (the first row of each wins) and how many rows came."""

    ids: set[str] = field(default_factory=set)
    received: int = 0

    def first_rows(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Each batch without the rows whose request_id came before."""
        for batch in batches:
            ids = batch.column("request_id").to_pylist()
            self.received += len(ids)
            fresh = set(ids)
            if len(fresh) == len(ids) and self.ids.isdisjoint(fresh):
                self.ids |= fresh
                yield batch
                continue
            keep = []
            for index, request_id in enumerate(ids):
                if request_id not in self.ids:
                    self.ids.add(request_id)
                    keep.append(index)
            yield batch.take(pa.array(keep, pa.int64()))


def ingest_bulk(
    session: Session, *, target_name: str, source: IO[bytes], media_type: str = MEDIA_TYPE, actor: str
) -> IngestRead:
    """Store a JSONL or Arrow IPC batch of served predictions, all of it or (on a bad row) none; audited."""
    target = registry.get_target(session, target_name)
    ids = session.scalars(select(Candidate.id).where(Candidate.target_id == target.id))
    check = partial(bulk_rows.checked, candidates={id_: str(id_) for id_ in ids}, target=target.name)
    read = bulk_arrow.read if media_type == ARROW_MEDIA_TYPE else bulk_jsonl.read
    seen = Seen()
    write = bulk_write.write_postgres if is_postgres(session) else bulk_write.write_sqlite
    accepted = write(session, target.id, seen.first_rows(read(source, check)))
    if seen.received == 0:
        raise ValidationFailed("the body holds no prediction log; nothing was stored", field="body")
    ingest.backfill_waiting_labels(session, target.id)
    result = IngestRead(received=seen.received, accepted=accepted, duplicates=seen.received - accepted)
    audit.record(session, actor, "prediction_logs.bulk", "target", target.name, after=result.model_dump())
    return result
