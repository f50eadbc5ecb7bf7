"""Upload throughput for a 100 MB model folder (one 100 MB safetensors file and a config), sent by
``gatekeeper submit``'s client as tar over real HTTP to a local API, into the local store and into a
bucket on a local S3-compatible server (moto). Each run uploads new bytes (content addressing would
skip a repeat). Prints MB/s per run, the median and the spread (min-max).

    python benchmarks/upload.py [--runs 5] [--mb 100]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from gatekeeper.api.app import create_app
from gatekeeper.api.server import BackgroundServer
from gatekeeper.client import Client
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import create_token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model(folder: Path, megabytes: int, run: int) -> Path:
    out = folder / f"model-{run}"
    out.mkdir()
    (out / "model.safetensors").write_bytes(os.urandom(megabytes * 1024 * 1024))
    (out / "config.json").write_text('{"model_type": "bert"}')
    return out


def _measure(
    settings: Settings, db: Database, secret: str, folder: Path, megabytes: int, runs: int
) -> list[float]:
    speeds = []
    with BackgroundServer(create_app(settings, db)) as server:
        api = Client(server.url, secret, timeout=600)
        for run in range(runs):
            model = _model(folder, megabytes, run)
            digest = artifact_sha256(model)  # the client hashes before asking HEAD; not timed here
            started = time.perf_counter()
            api.upload_artifact(model, digest)
            speeds.append(megabytes / (time.perf_counter() - started))
    return speeds


def _s3(url: str, root: Path, settings: Settings) -> Settings:
    import s3fs

    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": url}, skip_instance_cache=True).mkdir("bench")
    return settings.model_copy(update={"artifact_store": "s3://bench/store", "s3_endpoint_url": url})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "artifacts").mkdir()
        url = f"sqlite:///{root / 'bench.db'}"
        upgrade(url)
        db = Database.from_url(url)
        with db.transaction() as session:
            _, secret = create_token(session, name="bench", role="ci", actor="bench")
        settings = Settings(database_url=url, artifact_root=root / "artifacts", max_upload_bytes=2 * 1024**3)
        port = _free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        try:
            stores = {"local": settings, "s3 (moto)": _s3(f"http://127.0.0.1:{port}", root, settings)}
            for name, active in stores.items():
                (root / name).mkdir()
                speeds = _measure(active, db, secret, root / name, args.mb, args.runs)
                runs = ", ".join(f"{s:.0f}" for s in speeds)
                print(
                    f"{name:<10} {args.mb} MB x {args.runs}: median {statistics.median(speeds):.0f} MB/s "
                    f"(min {min(speeds):.0f}, max {max(speeds):.0f}; runs {runs})"
                )
        finally:
            moto.stop()
            db.dispose()


if __name__ == "__main__":
    main()
