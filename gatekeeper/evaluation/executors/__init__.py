"""Executors: where an evaluation's prediction passes run (``local`` or ``ray``), chosen by settings."""

from __future__ import annotations

from gatekeeper.config import Settings
from gatekeeper.errors import ExecutorUnavailable
from gatekeeper.evaluation.executors.base import Executor
from gatekeeper.evaluation.executors.local import LocalExecutor


def executor_for(settings: Settings, local: LocalExecutor) -> Executor:
    """The executor the settings name; ``local`` is the in-process one (it also serves the latency
    check), returned as is when the setting is ``local``."""
    if settings.executor == "local":
        return local
    try:
        from gatekeeper.evaluation.executors.ray import RayExecutor
    except ImportError as exc:
        raise ExecutorUnavailable(
            f"GATEKEEPER_EXECUTOR=ray needs Ray: pip install 'gatekeeper[ray]' ({exc})", missing="ray"
        ) from None
    return RayExecutor(settings)
