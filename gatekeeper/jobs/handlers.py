"""Install every job kind the worker knows."""

from __future__ import annotations

from gatekeeper.jobs.worker import register_handler


def install() -> None:
    from gatekeeper.evaluation.jobs import EvaluationJob
    from gatekeeper.evaluation.service import JOB_KIND as EVALUATION
    from gatekeeper.training.jobs import TrainingJob
    from gatekeeper.training.service import JOB_KIND as TRAINING

    register_handler(EVALUATION, EvaluationJob())
    register_handler(TRAINING, TrainingJob())
