"""Build the MangaAssist evalsets, or prove the committed ones regenerate byte for byte.

``python -m evalsets.build intent_classifier [--out DIR] [--seed N] [--check]``. Each target's
builder lives in its own module with ``build(out_dir, seed) -> manifest`` and is imported only
when asked for, so one target's dependencies never block another's build.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evalsets.manifest import MANIFEST_NAME, file_sha256, load_manifest, read_jsonl, tampered_files

HERE = Path(__file__).resolve().parent
BUILDERS: dict[str, str] = {
    "intent_classifier": "evalsets.intent",
    "reranker": "evalsets.reranker",
    "generator": "evalsets.generator",
}


def _builder_module(target: str) -> Any:
    if target not in BUILDERS:
        raise ValueError(f"unknown evalset target {target!r}; expected one of {sorted(BUILDERS)}")
    return importlib.import_module(BUILDERS[target])


def default_dir(target: str) -> Path:
    return HERE / target


def build(target: str, out_dir: Path | None = None, seed: int | None = None) -> dict[str, Any]:
    """Generate ``target``'s sets into ``out_dir`` (default ``evalsets/<target>/``); returns the manifest."""
    module = _builder_module(target)
    out = Path(out_dir) if out_dir is not None else default_dir(target)
    return module.build(out) if seed is None else module.build(out, seed=seed)


def check(target: str, folder: Path | None = None) -> dict[str, tuple[str, str]]:
    """Rebuild with the committed manifest's seed into a temp dir and compare every file's sha256.

    Returns ``{file: (committed_sha, rebuilt_sha)}`` for each file that differs, ``manifest.yaml``
    included (so a changed description counts too); empty means the committed sets are exactly what
    the code produces. Whether the committed files still match their manifest is
    :func:`evalsets.manifest.tampered_files`'s question.
    """
    committed = Path(folder) if folder is not None else default_dir(target)
    manifest = load_manifest(committed)
    with tempfile.TemporaryDirectory(prefix=f"evalset-{target}-") as tmp:
        module = _builder_module(target)
        kwargs = {"scale": manifest["scale"]} if "scale" in manifest else {}
        module.build(Path(tmp), seed=manifest["seed"], **kwargs)
        bad = tampered_files(Path(tmp), manifest)
        ours, theirs = file_sha256(committed / MANIFEST_NAME), file_sha256(Path(tmp) / MANIFEST_NAME)
        if ours != theirs:
            bad[MANIFEST_NAME] = (ours, theirs)
        return bad


def summarize(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """One line per file: rows, and class shares where rows carry a label."""
    lines = []
    for name, entry in sorted(manifest["files"].items()):
        line = f"  {name:<20} role={entry['role']:<12} rows={entry['rows']}"
        if name.endswith(".jsonl"):
            labels = [r["label"] for r in read_jsonl(folder / name) if isinstance(r.get("label"), str)]
            if labels:
                counts = Counter(labels)
                shares = " ".join(f"{k}={100 * v / len(labels):.1f}%" for k, v in counts.most_common())
                line += f" labelled={len(labels)} {shares}"
        lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evalsets.build", description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(BUILDERS))
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: evalsets/<target>/)")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: the builder's)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild into a temp dir and compare with the committed manifest instead",
    )
    args = parser.parse_args(argv)
    folder = args.out or default_dir(args.target)
    if args.check:
        print(f"[EVALSET] checking {args.target} in {folder} by rebuilding it", flush=True)
        bad = check(args.target, folder)
        for name, (expected, actual) in sorted(bad.items()):
            print(f"[EVALSET] MISMATCH {name}: committed {expected[:12]} rebuilt {actual[:12]}")
        print(f"[EVALSET] {'byte-identical' if not bad else f'{len(bad)} file(s) differ'}")
        return 0 if not bad else 1
    print(
        f"[EVALSET] building {args.target} into {folder}"
        + (f" (seed {args.seed})" if args.seed is not None else ""),
        flush=True,
    )
    manifest = build(args.target, folder, args.seed)
    print(
        f"[EVALSET] wrote {len(manifest['files'])} files, version {manifest.get('version')}, "
        f"seed {manifest.get('seed')}"
    )
    for line in summarize(folder, manifest):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
