"""What every page shares: the API connection (env, overridable in the sidebar), the typed client with
its GETs briefly cached, and one way to show an API refusal."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st
from pydantic import ValidationError

from gatekeeper.client import ApiError, Client, plain, refused_locally

URL_KEY, TOKEN_KEY = "gk_url", "gk_token"
DEFAULT_URL = "http://127.0.0.1:8000"
CACHE_TTL_S = 15
T = TypeVar("T")


def connection() -> tuple[str, str | None]:
    """The API URL and token: the sidebar's values once set, else GATEKEEPER_URL / GATEKEEPER_TOKEN."""
    url = st.session_state.get(URL_KEY) or os.environ.get("GATEKEEPER_URL") or DEFAULT_URL
    token = st.session_state.get(TOKEN_KEY) or os.environ.get("GATEKEEPER_TOKEN") or None
    return str(url), token


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _cached_get(url: str, token: str | None, path: str, params: tuple[tuple[str, Any], ...]) -> Any:
    # Keyed by URL and token, so two users (or roles) of one dashboard process never share answers.
    return Client(url, token).request("GET", path, params=dict(params))


@dataclass
class CachedClient(Client):
    """The typed client with its GETs cached for a few seconds (pages rerun on every click)."""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET":
            return super().request(method, path, **kwargs)
        params = kwargs.get("params") or {}
        kept = tuple(sorted((k, v) for k, v in params.items() if v is not None))
        return _cached_get(self.url, self.token, path, kept)


def reader() -> CachedClient:
    return CachedClient(*connection())


def writer() -> Client:
    """An uncached client for write actions."""
    return Client(*connection())


def clear_cache() -> None:
    _cached_get.clear()


def show_api_error(exc: ApiError, action: str | None = None) -> None:
    """The API's own words, with the HTTP status; 401/403 explain which token to use."""
    where = f"{action}: " if action else ""
    if exc.status == 0:
        st.error(f"{where}{exc.detail}", icon=":material/cloud_off:")
    elif exc.status in (401, 403):
        st.error(f"{where}HTTP {exc.status}: {exc.detail}", icon=":material/lock:")
    else:
        st.error(f"{where}HTTP {exc.status}: {exc.detail}")
    extra = {k: v for k, v in (exc.body or {}).items() if k != "detail"} if isinstance(exc.body, dict) else {}
    if extra:
        st.json(extra, expanded=False)


@contextmanager
def api_errors(action: str | None = None) -> Iterator[None]:
    """Show an ApiError raised in the block instead of a traceback."""
    try:
        yield
    except ApiError as exc:
        show_api_error(exc, action)
    except ValidationError as exc:
        show_api_error(refused_locally(exc), action)


def load(fn: Callable[..., T], *args: Any, action: str | None = None, **kwargs: Any) -> T | None:
    """Call a data function; on an API refusal show it and return None (the page then stops)."""
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        show_api_error(exc, action)
        return None


def require(value: T | None) -> T:
    """Stop the page quietly when a load failed (its error is already on screen)."""
    if value is None:
        st.stop()
    return value  # type: ignore[return-value]


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def query_param(name: str) -> str | None:
    value = st.query_params.get(name)
    return str(value) if value else None


def table(frame: Any, *, key: str, **kwargs: Any) -> None:
    """A dataframe inside a keyed container, so tests (AppTest) and the browser can find it by key."""
    with st.container(key=key):
        st.dataframe(frame, **kwargs)


# --- who is connected, and write actions -----------------------------------------------------------


def whoami() -> dict[str, str] | None:
    """The token's name and role (``GET /v1/whoami``), or None when the API does not say."""
    try:
        return reader().whoami()
    except ApiError:
        return None


def may(*roles: str) -> bool:
    """Whether the connected role may do what needs one of ``roles`` (admin may do everything). An
    unknown role (whoami failed) may try: the API decides and its refusal is shown."""
    me = whoami()
    return me is None or me.get("role") == "admin" or me.get("role") in roles


def role_hint(*roles: str) -> str:
    """Which role an action needs, and whether the connected one has it."""
    needs = " or ".join([*roles, "admin"])
    me = whoami()
    if me is None:
        return f"needs {needs}"
    if may(*roles):
        return f"needs {needs}; you are {me['name']} ({me['role']})"
    return f"needs {needs}; you are {me['name']} ({me['role']}): the API will refuse"


def when(value: Any) -> str:
    """An API timestamp as 'YYYY-MM-DD HH:MM UTC' (n/a when missing)."""
    if not value:
        return "n/a"
    text = str(value).replace("T", " ")
    return f"{text[:16]} UTC"


def run_action(key: str, call: Callable[[], Any], describe: Callable[[Any], str]) -> None:
    """Call the API, remember the outcome under ``key`` and rerun, so the page above shows the new state
    and the outcome stays on screen (``outcome(key)``)."""
    try:
        result = plain(call())
    except (ApiError, ValidationError) as exc:
        refused = refused_locally(exc) if isinstance(exc, ValidationError) else exc
        st.session_state[key] = {
            "ok": False,
            "status": refused.status,
            "detail": refused.detail,
            "body": refused.body,
        }
    else:
        st.session_state[key] = {"ok": True, "message": describe(result), "body": result}
    clear_cache()
    st.rerun()


def outcome(key: str) -> dict[str, Any] | None:
    return st.session_state.get(key)


def show_outcome(key: str, action: str) -> dict[str, Any] | None:
    """Show a remembered outcome: success in green, a refusal as the API's own words."""
    done = outcome(key)
    if done is None:
        return None
    if done["ok"]:
        st.success(done["message"], icon=":material/check_circle:")
    else:
        show_api_error(ApiError(done["status"], done["detail"], done["body"]), action)
    return done
