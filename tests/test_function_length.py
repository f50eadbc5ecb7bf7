"""No function over 40 lines outside the trainers (the style guide asks for about 30).

Every module of the packages below is parsed with `ast` (nothing is imported); a function's length is
its span from `def` to its last line, docstring included. The trainers' training loops are exempt:
they read best whole. `python tests/test_function_length.py` prints the count and the longest ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gatekeeper", "dashboards", "evalsets", "reports", "benchmarks")
LIMIT = 40


def long_functions(roots: list[Path] | None = None, limit: int = LIMIT) -> list[tuple[int, str]]:
    """(lines, where) of every function longer than ``limit`` lines, longest first."""
    found = []
    for root in roots or [ROOT / package for package in PACKAGES]:
        for path in sorted(root.rglob("*.py")):
            if "trainers" in path.relative_to(root).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > limit:
                        found.append((lines, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def test_no_function_over_the_limit() -> None:
    offenders = long_functions()
    assert not offenders, f"{len(offenders)} functions over {LIMIT} lines: " + "; ".join(
        f"{where} ({lines})" for lines, where in offenders
    )


def test_the_check_counts_from_def_to_the_last_line(tmp_path: Path) -> None:
    def function(name: str, lines: int) -> str:
        return f"def {name}():\n" + "\n".join(f"    x{i} = {i}" for i in range(lines - 1)) + "\n"

    (tmp_path / "trainers").mkdir()
    (tmp_path / "m.py").write_text(function("fits", LIMIT) + "\n\nasync " + function("long", LIMIT + 1))
    (tmp_path / "trainers" / "loop.py").write_text(function("exempt", 3 * LIMIT))
    assert [(lines, where.rsplit(" ", 1)[1]) for lines, where in long_functions([tmp_path])] == [
        (LIMIT + 1, "long")
    ]


if __name__ == "__main__":
    offenders = long_functions()
    print(f"functions over {LIMIT} lines outside trainers/: {len(offenders)}")
    for lines, where in offenders[:10]:
        print(f"  {lines:>4}  {where}")
