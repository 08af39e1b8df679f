"""What the generators in this folder share: where the repository is, how the Python package
is imported, and writing (or checking) the files they generate.

Every generator has ``outputs()``, the text of each file it writes by path, and ends with
``sys.exit(run(outputs))``: run without arguments it writes the files, with ``--check`` it
writes nothing and exits 1 if any checked-in file differs from what it would write.
``tests/test_constants.py`` runs the same comparison.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parents[2]


def import_sdk() -> None:
    """Make ``import keyglide`` find this checkout's package (not an installed copy)."""
    sdk = str(ROOT / "sdk")
    if sdk not in sys.path:
        sys.path.insert(0, sdk)


def c_header(guard: str, comment: list[str], body: list[str]) -> str:
    """A generated C header: its comment (lines of one C comment), an include guard around
    ``body``, one line each."""
    lines = [f"/* {comment[0]}", *(f" * {line}" for line in comment[1:])]
    lines[-1] += " */"
    return "\n".join([*lines, f"#ifndef {guard}", f"#define {guard}", "", *body, "", "#endif", ""])


def stale(outputs: dict[pathlib.Path, str]) -> list[pathlib.Path]:
    """The files whose checked-in text is not what the generator writes."""
    return [
        path
        for path, content in outputs.items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]


def run(outputs: Callable[[], dict[pathlib.Path, str]], argv: list[str] | None = None) -> int:
    """Write the generated files, or with ``--check`` report those that are out of date."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--check"]):
        print(f"usage: {pathlib.Path(sys.argv[0]).name} [--check]", file=sys.stderr)
        return 2
    files = outputs()
    if args == ["--check"]:
        for path in stale(files):
            print(f"{path.relative_to(ROOT)} is out of date: run {sys.argv[0]}", file=sys.stderr)
        return 1 if stale(files) else 0
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0
