"""The six lineage tags every training run and candidate must carry ("no anonymous models")."""

from collections.abc import Mapping
from typing import Any

LINEAGE_TAGS: tuple[str, ...] = (
    "model_target",
    "code_revision",
    "data_snapshot_id",
    "label_version",
    "feature_schema_version",
    "seed",
)


def missing_tags(tags: Mapping[str, Any] | None) -> list[str]:
    """Return the lineage tags that are absent or blank, in canonical order."""
    tags = tags or {}
    return [
        name for name in LINEAGE_TAGS if not str(tags.get(name) if tags.get(name) is not None else "").strip()
    ]


def normalise_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Keep the six tags as trimmed strings (seeds arrive as ints from YAML and JSON)."""
    return {name: str(tags[name]).strip() for name in LINEAGE_TAGS}
