"""The C interface's reference page (native/tools/header_docs.py, ``nox -s docs``) documents
every function, type and macro of keyglide.h, each with its comment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

NATIVE = Path(__file__).resolve().parents[1] / "native"
sys.path.insert(0, str(NATIVE / "tools"))

import header_docs  # noqa: E402


def test_every_function_of_the_header_has_a_documented_section():
    text = header_docs.HEADER.read_text(encoding="utf-8")
    functions = set(re.findall(r"KG_API [^;(]*?\b(kg_\w+)\s*\(", text))
    assert {"kg_open_path", "kg_predict", "kg_suggest", "kg_layout_init"} <= functions
    page = header_docs.page(text)
    for name in functions:
        section = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
        assert section, name
        assert f"{name}(" in section[1] and "<pre class=doc>" in section[1], name
        assert section[1].split("<pre class=doc>")[1].strip() != "</pre>", name
    assert "extern" not in page and "#ifdef" not in page
