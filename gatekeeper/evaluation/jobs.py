"""The evaluation job the worker runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gatekeeper.evaluation import runner
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.reporting import write_reports
from gatekeeper.jobs.worker import JobContext


class EvaluationJob:
    def run(self, ctx: JobContext) -> None:
        runner.run(ctx.db, ctx.settings, ctx.ref_id, echo=ctx.echo)
        with ctx.db.transaction() as session:
            evaluation = evaluations.get_evaluation(session, ctx.ref_id, lock=True)
            paths = write_reports(session, evaluation, ctx.settings.report_dir)
        ctx.echo(f"[EVAL] reports: {paths['html']}")

    def give_up(self, session: Session, ref_id: str, reason: str) -> None:
        runner.fail_in(session, ref_id, reason)
