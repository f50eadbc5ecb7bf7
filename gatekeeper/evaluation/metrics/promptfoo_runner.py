"""Run promptfoo assertions over outputs a candidate already generated (no model is called).

The config's provider is ``file://provider.js``, which returns each test's recorded output from
``answers.json`` by example id. promptfoo runs as a subprocess (the pinned
``node_modules/.bin/promptfoo``) with telemetry, updates, sharing and remote generation off, its
state in the work folder, and templating off: outputs and tool-call arguments reach the assertions
verbatim, never rendered as Nunjucks (``{{`` in an answer would otherwise be evaluated).

Assertions see two variables besides ``output``:
``context.vars.tool_calls`` (``[{"name", "arguments": "<json string>"}]``, in the order emitted) and
``context.vars.tool_args`` (tool name -> arguments JSON string of its first call), so an ``is-json``
assertion with a schema value can check a call's arguments via
``transform: "(context.vars.tool_args || {})['get_order_status'] || ''"``. ``regex`` values are
JavaScript regular expressions (no ``(?i)``).

Exit code 100 means some test failed (a result, not an error); any other non-zero code is an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.evaluation.metrics.generation_common import normalise_tool_calls

PROMPTFOO_VERSION = "0.121.20"
REPO_ROOT = Path(__file__).resolve().parents[3]
_PROVIDER_JS = """\
// Written by gatekeeper: replays recorded candidate outputs by example id; calls no model.
const fs = require('fs');
const path = require('path');
const answers = JSON.parse(fs.readFileSync(path.join(__dirname, 'answers.json'), 'utf8'));

module.exports = class RecordedOutputs {
  constructor(options) { this.providerId = (options && options.id) || 'recorded-outputs'; }
  id() { return this.providerId; }
  async callApi(prompt, context) {
    const answer = answers[context.vars.id];
    if (answer === undefined) { return { error: 'no recorded output for id ' + context.vars.id }; }
    return { output: answer.output, metadata: { tool_calls: answer.tool_calls } };
  }
};
"""


class PromptfooNotInstalled(RuntimeError):
    """The promptfoo CLI is missing."""


class PromptfooError(RuntimeError):
    """promptfoo ran but did not produce a usable result."""


@dataclass
class PromptfooResult:
    passed: dict[str, bool]
    assertions: dict[str, list[dict[str, Any]]]
    errors: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0
    wall_seconds: float = 0.0

    @property
    def pass_rate(self) -> float | None:
        return sum(self.passed.values()) / len(self.passed) if self.passed else None

    def to_dict(self) -> dict[str, Any]:
        return {"pass_rate": self.pass_rate, **asdict(self)}


def find_promptfoo(binary: Path | str | None = None) -> Path:
    """The pinned CLI under the repository's node_modules (or the given path)."""
    candidates = [Path(binary)] if binary else [REPO_ROOT / "node_modules" / ".bin" / "promptfoo"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise PromptfooNotInstalled(
        f"promptfoo {PROMPTFOO_VERSION} is not installed (looked for {', '.join(map(str, candidates))}): "
        "run `make install-node` (npm install at the repository root)"
    )


def _call_payload(outputs: Mapping[str, Any]) -> tuple[list[dict[str, str]], dict[str, str]]:
    calls = []
    for call in normalise_tool_calls(outputs.get("tool_calls")):
        raw = call["arguments"]
        calls.append(
            {
                "name": call["name"],
                "arguments": raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False),
            }
        )
    first: dict[str, str] = {}
    for call in calls:
        first.setdefault(call["name"], call["arguments"])
    return calls, first


def build_config(
    examples: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    asserts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    default_asserts: Sequence[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (promptfoo config, answers by id). ``asserts`` defaults to each example's ``asserts``."""
    tests, answers = [], {}
    for ex, out in zip(examples, outputs, strict=True):
        key = str(ex["id"])
        calls, first = _call_payload(out)
        answers[key] = {"output": str(out.get("output") or ""), "tool_calls": calls}
        test_asserts = list(
            asserts[key] if asserts is not None and key in asserts else ex.get("asserts") or []
        )
        tests.append(
            {
                "description": key,
                "vars": {"id": key, "tool_calls": calls, "tool_args": first},
                "assert": test_asserts,
            }
        )
    config: dict[str, Any] = {
        "description": "gatekeeper generation assertions over recorded outputs",
        "prompts": ["recorded output"],
        "providers": [{"id": "file://provider.js", "label": "candidate"}],
        "tests": tests,
    }
    if default_asserts:
        config["defaultTest"] = {"assert": list(default_asserts)}
    return config, answers


def load_default_asserts(path: Path) -> list[dict[str, Any]]:
    """The ``defaultTest.assert`` list of an evalset's ``promptfoo_asserts.yaml``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list((data.get("defaultTest") or {}).get("assert") or [])


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
            "PROMPTFOO_DISABLE_SHARING": "1",
            "PROMPTFOO_DISABLE_TEMPLATING": "true",
            "PROMPTFOO_CONFIG_DIR": str(workdir / ".promptfoo"),
            # Its per-run log files race the process exit ("write after end") and crash a run
            # that has already written its results; errors still reach stderr.
            "PROMPTFOO_DISABLE_DEBUG_LOG": "true",
            "PROMPTFOO_DISABLE_ERROR_LOG": "true",
            "NODE_NO_WARNINGS": "1",
        }
    )
    return env


def _component(c: Mapping[str, Any]) -> dict[str, Any]:
    a = c.get("assertion") or {}
    return {
        "type": a.get("type"),
        "metric": a.get("metric"),
        "pass": bool(c.get("pass")),
        "score": c.get("score"),
        "reason": c.get("reason"),
    }


def parse_results(
    data: Mapping[str, Any], ids: Sequence[str]
) -> tuple[dict[str, bool], dict[str, list], dict]:
    """Per-test pass and per-assertion results from promptfoo's JSON output, keyed by example id."""
    passed: dict[str, bool] = {}
    assertions: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for row in data["results"]["results"]:
        key = str((row.get("vars") or {}).get("id"))
        if key in passed:
            raise PromptfooError(f"promptfoo reported example {key} twice")
        passed[key] = bool(row.get("success"))
        grading = row.get("gradingResult") or {}
        assertions[key] = [_component(c) for c in grading.get("componentResults") or []]
        if (
            row.get("failureReason") == 2
        ):  # promptfoo's ERROR (provider or transform threw), not a failed check
            errors[key] = str(row.get("error"))[:500]
    if missing := sorted(set(ids) - set(passed)):
        raise PromptfooError(f"promptfoo returned no result for {len(missing)} example(s): {missing[:5]}")
    return passed, assertions, errors


def _write_workdir(workdir: Path, config: dict[str, Any], answers: Any) -> Path:
    """The config, the answers and the provider promptfoo reads; returns where it must write its output."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    (workdir / "answers.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    (workdir / "provider.js").write_text(_PROVIDER_JS, encoding="utf-8")
    out_path = workdir / "out.json"
    out_path.unlink(missing_ok=True)
    return out_path


def _eval_command(exe: Path, out_path: Path, max_concurrency: int) -> list[str]:
    """No cache, no share, no local database: each run is self-contained and leaves nothing behind."""
    flags = ["--no-cache", "--no-progress-bar", "--no-table", "--no-write", "--no-share"]
    return [str(exe), "eval", "-c", "config.yaml", "-o", str(out_path), *flags, "-j", str(max_concurrency)]


def _run_cli(cmd: list[str], workdir: Path, out_path: Path, timeout_s: float) -> tuple[int, float]:
    """Run promptfoo; its exit code (100 means some checks failed, which is a result) and wall time."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=_env(workdir),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PromptfooError(f"promptfoo did not finish within {timeout_s:.0f} s") from exc
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 100) or not out_path.is_file():
        tail = (proc.stderr or proc.stdout or "")[-2000:]
        raise PromptfooError(f"promptfoo exited with code {proc.returncode}: {tail}")
    return proc.returncode, wall


def run_promptfoo(
    examples: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    asserts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    workdir: Path | None = None,
    *,
    default_asserts: Sequence[Mapping[str, Any]] = (),
    binary: Path | str | None = None,
    timeout_s: float = 900.0,
    max_concurrency: int = 8,
) -> PromptfooResult:
    """Evaluate the assertions with the real promptfoo CLI; per-example pass and per-assertion results."""
    exe = find_promptfoo(binary)
    if workdir is None:
        raise ValueError("run_promptfoo needs a workdir (the config, answers and output are written there)")
    config, answers = build_config(examples, outputs, asserts, default_asserts)
    out_path = _write_workdir(Path(workdir), config, answers)
    code, wall = _run_cli(_eval_command(exe, out_path, max_concurrency), Path(workdir), out_path, timeout_s)
    data = json.loads(out_path.read_text(encoding="utf-8"))
    passed, per_assert, errors = parse_results(data, [str(ex["id"]) for ex in examples])
    counts = data["results"].get("stats") or {}
    stats = {k: v for k, v in counts.items() if k in ("successes", "failures", "errors")}
    return PromptfooResult(
        passed=passed, assertions=per_assert, errors=errors, stats=stats, exit_code=code, wall_seconds=wall
    )
