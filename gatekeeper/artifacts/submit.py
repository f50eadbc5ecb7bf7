"""What ``gatekeeper submit`` sends, decided from plain values: the lineage tags (flags over a tags
file over the CI's own environment) and the CI run's link. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The CI environment variables a tag is read from, first match wins (GitHub Actions, GitLab CI,
# Buildkite, Jenkins). Only the commit is standard across CIs; the other tags are the job's to give.
CI_TAG_SOURCES: dict[str, tuple[str, ...]] = {
    "code_revision": ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT"),
}


def _ci_run_url(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_PIPELINE_URL") or env.get("BUILDKITE_BUILD_URL") or env.get("BUILD_URL")


def ci_metadata(env: Mapping[str, str]) -> dict[str, str]:
    """Candidate metadata that links back to the CI run that submitted it."""
    url = _ci_run_url(env)
    return {"ci_run_url": url} if url else {}


def resolve_tags(
    target: str, flags: Mapping[str, str], file_tags: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, str]:
    """The six tags: ``--tag`` over ``--tags-file`` over the CI environment; model_target is the target."""
    tags: dict[str, str] = {"model_target": target}
    for tag, names in CI_TAG_SOURCES.items():
        found = next((env[name] for name in names if env.get(name)), None)
        if found:
            tags[tag] = found
    tags.update({str(k): str(v) for k, v in file_tags.items()})
    tags.update(flags)
    return tags
