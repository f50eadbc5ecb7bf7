"""Load an evalset folder (any team may bring its own) and refuse it if a file differs from its
manifest, so every number in a report traces to exactly the data it claims."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsets.manifest import MANIFEST_NAME, load_manifest, read_jsonl, tampered_files
from gatekeeper.errors import ValidationFailed

# The roles an offline evaluation reads; training and validation splits are the trainer's.
EVAL_ROLES = ("golden", "holdout", "adversarial", "replay")


@dataclass(frozen=True)
class EvalFile:
    name: str
    role: str
    sha256: str
    rows: list[dict[str, Any]]


@dataclass
class EvalSet:
    folder: Path
    manifest: dict[str, Any]
    files: dict[str, EvalFile] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "unversioned"))

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.get("labels", []))

    def role(self, role: str) -> EvalFile | None:
        return next((f for f in self.files.values() if f.role == role), None)

    def examples(self, role: str) -> list[dict[str, Any]]:
        found = self.role(role)
        return found.rows if found else []

    def file_shas(self) -> dict[str, str]:
        return {name: f.sha256 for name, f in self.files.items()}

    def example_ids(self) -> set[str]:
        return {row["id"] for f in self.files.values() for row in f.rows}


def resolve_folder(evalset_dir: str, root: Path) -> Path:
    path = Path(evalset_dir)
    return path if path.is_absolute() else root / path


def load(folder: Path, roles: tuple[str, ...] = EVAL_ROLES) -> EvalSet:
    """Verify every manifest file's sha256, then read the evaluation roles."""
    if not (folder / MANIFEST_NAME).is_file():
        raise ValidationFailed(f"evalset folder {folder} has no {MANIFEST_NAME}", field="evalset_dir")
    manifest = load_manifest(folder)
    bad = tampered_files(folder, manifest)
    if bad:
        listed = "; ".join(
            f"{name}: expected {exp[:12]}…, actual {act[:12]}…" for name, (exp, act) in bad.items()
        )
        raise ValidationFailed(
            f"evalset files differ from the manifest ({listed})",
            field="evalset_dir",
            tampered={name: {"expected": e, "actual": a} for name, (e, a) in bad.items()},
        )
    evalset = EvalSet(folder=folder, manifest=manifest)
    for name, entry in sorted(manifest["files"].items()):
        if entry.get("role") in roles:
            evalset.files[name] = EvalFile(
                name=name, role=entry["role"], sha256=entry["sha256"], rows=read_jsonl(folder / name)
            )
    if "golden" in roles and evalset.role("golden") is None:
        raise ValidationFailed(f"evalset {folder} has no golden file", field="evalset_dir")
    return evalset
