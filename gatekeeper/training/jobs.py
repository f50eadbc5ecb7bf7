"""The training job the worker runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gatekeeper.jobs.worker import JobContext
from gatekeeper.training import service as training


class TrainingJob:
    def run(self, ctx: JobContext) -> None:
        training.execute(ctx.db, ctx.settings, ctx.ref_id, echo=ctx.echo)

    def give_up(self, session: Session, ref_id: str, reason: str) -> None:
        training.mark_failed(session, ref_id, reason)
