"""Each domain error answers with one HTTP status, looked up in ``gatekeeper.api.errors`` alone; a
subclass (defined anywhere) answers with its nearest listed ancestor's."""

from __future__ import annotations

import pytest

from gatekeeper import errors
from gatekeeper.api.errors import status_of
from gatekeeper.canary.rules.triggers import NoBaseline
from trainers.common.label_qa import LabelQARejected


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.GatekeeperError, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.RefusedEvidence, 409),
        (errors.InvalidTransition, 409),
        (errors.GateFailed, 409),
        (NoBaseline, 409),
        (errors.PreconditionFailed, 412),
        (errors.TooLarge, 413),
        (errors.ValidationFailed, 422),
        (LabelQARejected, 422),
        (errors.StoreUnavailable, 503),
    ],
)
def test_status_of_each_domain_error(error: type[errors.GatekeeperError], status: int) -> None:
    assert status_of(error) == status
