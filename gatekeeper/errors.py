"""Domain errors. Services raise these; ``gatekeeper.api.errors`` maps each class to its HTTP status, once."""

from __future__ import annotations

from typing import Any


class GatekeeperError(Exception):
    """Base class: a message for people plus structured fields for machines."""

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.fields}


class ValidationFailed(GatekeeperError):
    """Input is well-formed JSON but breaks a domain rule (missing tags, sha mismatch, bad path)."""


class NotFound(GatekeeperError):
    """No such entity (a malformed id is the same answer)."""


class Conflict(GatekeeperError):
    """The request is valid but the current state forbids it."""


class RefusedEvidence(Conflict):
    """Evidence already received was sent again with other figures. Evidence is append-only, so the
    request is refused; the attempt itself is kept in the audit log (``audit`` holds the row's fields),
    written by the API's error handler in a transaction of its own because the request's rolls back."""

    def __init__(self, detail: str, *, audit: dict[str, Any], **fields: Any) -> None:
        super().__init__(detail, **fields)
        self.audit = audit


class PreconditionFailed(GatekeeperError):
    """An ``If-Match`` precondition no longer holds: the state changed since the caller read it."""


class InvalidTransition(Conflict):
    """A candidate cannot move from its current status to the requested one."""


class TooLarge(GatekeeperError):
    """A body past a configured size limit (an artifact upload over ``max_upload_bytes``)."""


class StoreUnavailable(GatekeeperError):
    """The configured artifact store cannot take the upload (a missing bucket, no access)."""


class ExecutorUnavailable(GatekeeperError):
    """The executor cannot run a pass: a resource it needs is missing (a GPU in the Ray cluster, or
    Ray itself). The message names what is missing and what to do instead."""


class GateFailed(GatekeeperError):
    """The gate refused a candidate; the CLI maps this to exit code 1."""


class Unauthorized(GatekeeperError):
    """No bearer token, or an unknown or revoked one."""


class Forbidden(GatekeeperError):
    """The token's role may not do this."""


class ConfigError(Exception):
    """Configuration refused at start-up; the message is one readable line."""
