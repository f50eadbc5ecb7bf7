import hashlib
from pathlib import Path

import pytest

from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256, pickled_files, resolve_under_root


def test_folder_hash_follows_the_documented_definition(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "sub" / "tokenizer.json").write_text("{}")
    (tmp_path / "Config.json").write_text('{"a": 1}')
    lines = []
    for rel in sorted(["model.safetensors", "sub/tokenizer.json", "Config.json"], key=lambda p: p.encode()):
        lines.append(f"{rel}\t{hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()}\n")
    assert artifact_sha256(tmp_path) == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_file_hash_is_plain_sha256(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"abc" * 1000)
    assert artifact_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_renaming_a_file_changes_the_folder_hash(tmp_path: Path) -> None:
    (tmp_path / "a.safetensors").write_bytes(b"x")
    before = artifact_sha256(tmp_path)
    (tmp_path / "a.safetensors").rename(tmp_path / "b.safetensors")
    assert artifact_sha256(tmp_path) != before


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "x.pkl", "last.ckpt", "w.pth"])
def test_pickle_formats_are_found(tmp_path: Path, name: str) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / name).write_bytes(b"\x80\x04")
    assert pickled_files(tmp_path) == [f"deep/{name}"]


def test_symlinks_are_refused(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ValidationFailed, match="symlink"):
        artifact_sha256(tmp_path)


@pytest.mark.parametrize("uri", ["../outside", "models/../../outside", "/etc", "file:///etc/passwd"])
def test_paths_outside_the_root_are_refused(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ValidationFailed, match="escapes the artifact root"):
        resolve_under_root(uri, root)


def test_paths_inside_the_root_resolve(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert resolve_under_root("m", tmp_path) == (tmp_path / "m").resolve()
    assert resolve_under_root(f"file://{tmp_path}/m", tmp_path) == (tmp_path / "m").resolve()


def test_other_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="file:// URI"):
        resolve_under_root("s3://bucket/model", tmp_path)
