"""API tokens and roles. Secrets are shown once at creation; only their sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper import changes
from gatekeeper.clock import utcnow
from gatekeeper.db import Database
from gatekeeper.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from gatekeeper.registry import audit
from gatekeeper.registry.models import ApiToken

TOKEN_PREFIX = "gk_"


class Role(StrEnum):
    CI = "ci"
    SERVING = "serving"
    REVIEWER = "reviewer"
    ONCALL = "oncall"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role

    def require(self, *roles: Role) -> None:
        """Admin may do everything; anyone else needs one of ``roles``."""
        if self.role is Role.ADMIN or self.role in roles:
            return
        wanted = " or ".join(sorted({r.value for r in roles} | {"admin"}))
        raise Forbidden(f"role {self.role.value} may not do this; needs {wanted}", role=self.role.value)


SYSTEM = Actor("system", Role.ADMIN)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, role: str, actor: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise ValidationFailed("token name is empty", field="name")
    try:
        role_value = Role(role)
    except ValueError:
        raise ValidationFailed(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}", field="role"
        ) from None
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named {name!r} already exists", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role_value.value, secret_sha256=hash_secret(secret))
    session.add(token)
    session.flush()
    after = {"name": name, "role": role_value.value}
    audit.record(session, actor, "token.create", "token", name, after=after)
    return token, secret


def revoke_token(session: Session, *, name: str, actor: str) -> ApiToken:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name).with_for_update())
    if token is None:
        raise NotFound(f"no token named {name!r}", field="name")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        before = {"revoked": False}
        after = {"revoked": True}
        audit.record(session, actor, "token.revoke", "token", name, before=before, after=after)
        changes.announce(session, changes.Change("tokens"))
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def authenticate(session: Session, authorization: str | None) -> Actor:
    """Turn an ``Authorization: Bearer`` header into an actor, or raise 401."""
    if not authorization:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    token = session.scalar(select(ApiToken).where(ApiToken.secret_sha256 == hash_secret(secret.strip())))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked token")
    return Actor(token.name, Role(token.role))


class TokenCache:
    """Actors by ``Authorization`` header for the hottest read (routing): re-read after
    ``changes.MAX_AGE``, and forgotten as soon as a revocation commits (in this process at once, in
    others by NOTIFY). Only accepted tokens are kept, so the cache holds at most one entry per token."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._actors: dict[str, tuple[Actor, float]] = {}
        self._epoch = 0
        self._ahead = changes.RefreshAhead()
        changes.subscribe(db, self.on_change)

    def on_change(self, change: changes.Change) -> None:
        if change.kind in ("tokens", "all"):
            self._epoch += 1
            self._actors.clear()

    def cached(self, authorization: str | None) -> Actor | None:
        """The actor if the token was checked less than ``MAX_AGE`` ago; past half that, it is checked
        again in the background (a token in use never expires from the cache, a revoked one drops)."""
        key = authorization or ""
        hit = self._actors.get(key)
        if hit is None or not self._ahead.usable(key, hit[1], lambda: self._recheck(key)):
            return None
        return hit[0]

    async def _recheck(self, key: str) -> None:
        try:
            await anyio.to_thread.run_sync(self.authenticate, key)
        except Unauthorized:
            self._actors.pop(key, None)
        except Exception:  # the database blinked: the entry ages out and the next request checks
            pass

    def authenticate(self, authorization: str | None) -> Actor:
        """Check the token in the database (blocking: call it on a worker thread) and remember it."""
        epoch, started = self._epoch, time.monotonic()
        with self.db.session() as session:
            actor = authenticate(session, authorization)
        if epoch == self._epoch:  # no revocation committed while we read: the answer is current
            self._actors[authorization or ""] = (actor, started)
        return actor
