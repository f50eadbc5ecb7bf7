"""A fork server for the chaos tests: it imports Gatekeeper once (1-3 s of imports), then forks each
``gatekeeper <command>`` it is asked for as a process of its own, so a test can kill -9 and restart
``serve``, ``worker`` and ``canary-daemon`` many times a second. Each child runs the real CLI entry point
with its own environment, connections and threads; only the import cost is shared.

Protocol on stdin/stdout, one JSON line each way: ``{"argv": [...], "env": {...}, "log": path}`` ->
``{"pid": n}``. It prints ``ready`` once the imports are done and exits at end of input."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback

# The heavy imports, done once in the parent (gatekeeper.api.main is left out: it builds the app and
# its engine at import, which must happen in each child).
import uvicorn  # noqa: F401

import gatekeeper.api.app  # noqa: F401
import gatekeeper.canary.daemon  # noqa: F401
import gatekeeper.evaluation.jobs  # noqa: F401
import gatekeeper.jobs.worker  # noqa: F401
import gatekeeper.training.jobs  # noqa: F401
from gatekeeper.cli import main
from gatekeeper.quiet import quiet_libraries

quiet_libraries()  # imports transformers' logging: seconds, so once here rather than in every child


def _child(request: dict) -> None:
    """Become the command: fresh stdio on the log file, the requested environment, then the CLI."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(request["env"])
    sys.argv = ["gatekeeper", *request["argv"]]
    code = 1
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_forks() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children: no zombies
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    serve_forks()
