"""The gate's three verdicts and what each means to a caller: one place for the verdict -> exit code
mapping (``gatekeeper evaluate --wait``, ``gatekeeper submit``) and for how a check's outcomes combine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Verdict = Literal["pass", "fail", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "inconclusive")

# 2 is usage or infrastructure (typer's own usage errors, an unreachable API, an errored evaluation).
EXIT_CODES: dict[Verdict, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
EXIT_INFRASTRUCTURE = 2


def exit_code(verdict: str | None) -> int:
    """The process exit status for a verdict; anything else (no decision) is an infrastructure error."""
    return EXIT_CODES.get(verdict, EXIT_INFRASTRUCTURE)  # type: ignore[call-overload]


def combine(outcomes: Iterable[Verdict]) -> Verdict:
    """Fail if any outcome fails; else inconclusive if any is; else pass (no outcome at all passes)."""
    seen = set(outcomes)
    if "fail" in seen:
        return "fail"
    return "inconclusive" if "inconclusive" in seen else "pass"


def need_text(more: int | None, unit: str = "examples") -> str:
    """``need ≈ 3,100 more golden examples``: two significant figures, as the estimate deserves."""
    if more is None:
        return "no sample size decides it at the observed difference"
    if more <= 0:
        return "decided at the current sample size"
    rounded = int(float(f"{more:.2g}")) if more >= 100 else more
    return f"need ≈ {rounded:,} more {unit}"
