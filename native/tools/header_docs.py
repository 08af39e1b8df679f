"""The C interface's reference, as one HTML page made from ``native/include/keyglide.h``.

The header is the documentation of the C interface (one comment block per function, type
and constant); this page lays it out for reading in a browser: a table of contents of the
``kg_*`` names, then each section and each declaration with the comment that precedes it,
in the header's order. Nothing is added or reworded.

    python native/tools/header_docs.py OUT.html      (nox -s docs writes .nox/docs/c.html)
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

HEADER = Path(__file__).resolve().parents[1] / "include" / "keyglide.h"

# A comment, then the code up to the next comment (or the end).
BLOCK = re.compile(r"/\*(?P<comment>.*?)\*/(?P<code>(?:(?!/\*).)*)", re.S)
NAME = re.compile(r"\b(kg_[a-z_0-9]+|KG_[A-Z_0-9]+)\b")


def blocks(text: str) -> list[tuple[str, str]]:
    """(comment, code) pairs in the header's order; the comment's leading ``*`` removed."""
    out = []
    for match in BLOCK.finditer(text):
        lines = [re.sub(r"^\s*\*? ?", "", line) for line in match["comment"].splitlines()]
        comment = "\n".join(lines).strip().strip("-").strip()
        code = "\n".join(
            line for line in match["code"].strip().splitlines() if not _scaffolding(line)
        ).strip()
        out.append((comment, code))
    return out


def _scaffolding(line: str) -> bool:
    """Include guards and the C++ ``extern "C"`` wrapper: not part of any declaration."""
    return line.startswith(("#if", "#endif", "#else", "#include")) or line.strip() in (
        "}",
        'extern "C" {',
    )


def declared(code: str) -> list[str]:
    """The kg_/KG_ names a block of code declares (functions, types, macros)."""
    names = []
    for line in code.splitlines():
        for pattern in (r"^#define (KG_[A-Z_0-9]+)", r"\b(kg_[a-z_0-9]+)\s*\(", r"\}\s*(kg_\w+);",
                        r"^typedef [^;(]*\b(kg_\w+);"):  # fmt: skip
            names += re.findall(pattern, line)
    return list(dict.fromkeys(names))


def page(text: str) -> str:
    parts, index = [], []
    for comment, code in blocks(text):
        names = declared(code)
        anchor = names[0] if names else ""
        index += [(n, anchor) for n in names]
        parts.append(
            f'<section id="{anchor}">'
            + (f"<pre class=code>{html.escape(code)}</pre>" if code else "")
            + f"<pre class=doc>{html.escape(comment)}</pre></section>"
        )
    toc = " ".join(f'<a href="#{a}">{html.escape(n)}</a>' for n, a in index)
    style = (
        "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "pre{white-space:pre-wrap}pre.code{background:#f3f4f6;padding:.6rem;font-weight:600}"
        "pre.doc{margin:0 0 2rem 1rem}nav a{margin-right:.6rem;font-family:monospace}"
    )
    return (
        "<!doctype html><meta charset=utf-8><title>keyglide.h: the C interface</title>"
        f"<style>{style}</style><h1>keyglide.h: the C interface</h1>"
        f"<nav>{toc}</nav>{''.join(parts)}"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    Path(argv[0]).write_text(page(HEADER.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
