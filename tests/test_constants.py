"""Every constant the Python SDK and the C kernel share has one source.

Python is the specification: ``native/src/format.h`` is generated from ``keyglide.format``,
``native/src/text_tables.h`` from ``keyglide.text``, ``native/src/typing_tables.h`` from
``keyglide.decoder`` and ``keyglide.keyboard`` (and the shipped layouts), and the Unicode and
CRC tables by their own generators (``native/tools/``); here each checked-in file must be
what its generator writes now. The few numbers of the public header ``keyglide.h`` that
Python needs without the compiled kernel (the reference engine) are written on both sides,
and compared here. None of these tests needs the compiled extension.
"""

from __future__ import annotations

import importlib
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from keyglide import decoder, engines, format, keyboard, text
from keyglide.neural import rerank

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"
TOOLS = NATIVE / "tools"
GENERATORS = ["gen_sdk_headers", "gen_crc32_table", "gen_unicode_tables"]


def generator(name: str):
    sys.path.insert(0, str(TOOLS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(TOOLS))


def defines(path: Path) -> dict[str, str]:
    """The object-like macros of a C file, name to value (continuation lines joined)."""
    source = path.read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.findall(r"^#define (\w+)(?:[ \t]+([^\n]*?))?[ \t]*(?:/\*.*)?$", source, re.M)
    return {name: re.sub(r"\s+", " ", value) for name, value in found}


def integer(value: str) -> int:
    """A C integer constant expression of the simple forms the headers use."""
    expression = re.sub(r"(?<=[0-9A-Fa-f])[uU]\b", "", value)
    assert re.fullmatch(r"[0-9A-Fa-fxX()<| \-]+", expression), value
    return int(eval(expression))  # noqa: S307 - digits, shifts and ors only (checked above)


@pytest.mark.parametrize("name", GENERATORS)
def test_generated_files_are_current(name):
    """A generated file edited by hand, or a Python source changed without running the
    generator, fails here: run ``python native/tools/<generator>.py``."""
    if name == "gen_unicode_tables" and unicodedata.unidata_version != "14.0.0":
        pytest.skip(
            f"the Unicode tables need Python's Unicode 14.0.0, not {unicodedata.unidata_version}"
        )
    module = generator(name)
    files = module.outputs()
    assert files and all(path.is_relative_to(ROOT) for path in files)
    assert generator("codegen").stale(files) == []


def test_the_check_option_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    codegen = generator("codegen")
    current, stale = tmp_path / "current.h", tmp_path / "stale.h"
    current.write_text("x\n")
    stale.write_text("y\n")
    monkeypatch.setattr(codegen, "ROOT", tmp_path)
    files = {current: "x\n", stale: "z\n"}
    assert codegen.run(lambda: files, ["--check"]) == 1
    assert "stale.h is out of date" in capsys.readouterr().err
    assert stale.read_text() == "y\n"  # --check writes nothing
    assert codegen.run(lambda: files, []) == 0
    assert codegen.run(lambda: files, ["--check"]) == 0


def test_format_h_follows_format_py(monkeypatch):
    """The generator reads format.py: a changed constant changes the header."""
    gen = generator("gen_sdk_headers")
    monkeypatch.setattr(format, "MAX_SECTIONS", 2048)
    assert "#define KG_FMT_MAX_SECTIONS 2048" in gen.format_h()


def test_format_h_values():
    """The values of format.h, read back, are format.py's (a check of the generator)."""
    values = defines(NATIVE / "src" / "format.h")
    expected = {
        "KG_FMT_MAGIC_SIZE": len(format.MAGIC),
        "KG_FMT_MAJOR": format.FORMAT_MAJOR,
        "KG_FMT_BYTE_ORDER_MARK": format.BYTE_ORDER_MARK,
        "KG_FMT_HEADER_SIZE": format.HEADER.size,
        "KG_FMT_ENTRY_SIZE": format.SECTION_ENTRY.size,
        "KG_FMT_MAX_SECTIONS": format.MAX_SECTIONS,
        "KG_FMT_HEADER_CRC_OFFSET": format.HEADER_CRC_OFFSET,
        "KG_FMT_SECTION_ALIGN": format.SECTION_ALIGN,
        "KG_FMT_MIN_ORDER": format.MIN_ORDER,
        "KG_FMT_MAX_ORDER": format.MAX_ORDER,
        "KG_FMT_MAX_VOCAB": format.MAX_VOCAB,
        "KG_SCORE_NEVER": format.SCORE_NEVER,
        "KG_ID_UNK": format.UNK,
        "KG_ID_BOS": format.BOS,
        "KG_ID_EOS": format.EOS,
        "KG_FIRST_WORD_ID": format.FIRST_WORD_ID,
        "KG_TOP_LIST_LENGTH": format.TOP_LIST_LENGTH,
        **{f"KG_ELEM_{t.name}": int(t) for t in format.ElemType},
        **{f"KG_KIND_{k.name}": int(k) for k in format.Kind},
        **{f"KG_FEATURE_{f.name}": int(f) for f in format.Feature},
    }
    assert {name: integer(values[name]) for name in expected} == expected
    assert values["KG_FMT_MAGIC"] == f'"{format.MAGIC.decode()}"'
    assert values["KG_TOKENIZER_ID"] == f'"{text.TOKENIZER_ID}"'
    # The field offsets, against the struct layouts the reader unpacks with.
    header = format.Header(1, 2, 3, 4, 5, 6, 7, 8, 9).pack()
    for name, value in [
        ("MAJOR", 1), ("MINOR", 2), ("HEADER_SIZE", 3), ("REQUIRED", 4), ("OPTIONAL", 5),
        ("FILE_SIZE", 6), ("SECTION_COUNT", 7), ("BOM", 8),
    ]:  # fmt: skip
        offset = integer(values[f"KG_FMT_OFF_{name}"])
        assert header[offset] == value and not any(header[offset + 1 : offset + 2]), name
    assert header[format.HEADER_CRC_OFFSET] == 9
    reserved = integer(values["KG_FMT_OFF_RESERVED"])
    assert reserved + integer(values["KG_FMT_RESERVED_SIZE"]) == format.HEADER.size
    entry = format.SectionEntry(1, 2, 3, 4, 5).pack()
    for name, value in [("ID", 1), ("TYPE", 2), ("OFFSET", 3), ("LENGTH", 4), ("CRC", 5)]:
        assert entry[integer(values[f"KG_FMT_ENT_{name}"])] == value, name
    for name in ("KG_FMT_ENT_RESERVED1", "KG_FMT_ENT_RESERVED2"):
        assert entry[integer(values[name])] == 0


def test_every_format_h_macro_is_used():
    """format.h holds what the kernel reads and nothing else."""
    sources = [p for p in (NATIVE / "src").iterdir() if p.suffix in (".c", ".h")]
    used = " ".join(p.read_text(encoding="utf-8") for p in sources if p.name not in ("format.h",))
    format_h = NATIVE / "src" / "format.h"
    names = [n for n in defines(format_h) if n != "KG_FORMAT_H"]
    # A macro defined from others counts as using them.
    used += " ".join(defines(format_h).values())
    assert [n for n in names if not re.search(rf"\b{n}\b", used)] == []


def test_text_tables_follow_text_py(monkeypatch):
    """The generator reads text.py's lists: a changed list changes the header."""
    gen = generator("gen_sdk_headers")
    monkeypatch.setattr(text, "ABBREVIATIONS", text.ABBREVIATIONS | {"etc"})
    monkeypatch.setattr(text, "TERMINATORS", text.TERMINATORS + "\u203c\u2e2e")
    header = gen.text_tables_h()
    assert "UINT64_C(0x637465), /* etc */" in header
    assert "case 0x2E2E:" in header


def switch_cases(header: str, function: str) -> dict[int, str]:
    """What the generated switch ``function`` returns for each code point it lists."""
    body = header[header.index(f"{function}(uint32_t cp)") :]
    body = body[: body.index("default:")]
    result = {}
    for cases, value in re.findall(r"((?:case 0x[0-9A-F]+:\s*)+)return ([^;]+);", body):
        for cp in re.findall(r"0x([0-9A-F]+)", cases):
            result[int(cp, 16)] = value
    return result


def test_text_tables_classify_as_text_py():
    """Each class of the generated header holds exactly the code points of text.py's list,
    the joiners fold as JOINER_FOLDS says and the abbreviations are ABBREVIATIONS."""
    header = (NATIVE / "src" / "text_tables.h").read_text(encoding="utf-8")
    classes: dict[int, set[str]] = {}
    ascii_table = header[header.index("ascii_class[128]") : header.index("};")]
    for key, value in re.findall(r"\[([^\]]+)\] = ([A-Z_ |]+),", ascii_table):
        cp = int(key, 16) if key.startswith("0x") else ord(eval(key))  # noqa: S307 - a char literal
        classes[cp] = set(value.split(" | "))
    for cp, value in switch_cases(header, "listed_class").items():
        classes[cp] = set(value.split(" | "))
    lists = {
        "C_SPACE": text.SPACES,
        "C_BREAK": text.LINE_BREAKS,
        "C_TERM": text.TERMINATORS,
        "C_DOT": text.PERIOD,
        "C_JOINER": text.JOINERS,
    }
    for name, chars in lists.items():
        assert {cp for cp, names in classes.items() if name in names} == {ord(c) for c in chars}
    words = {cp for cp, names in classes.items() if "C_WORD" in names}
    assert words == {cp for cp in range(128) if chr(cp).isalnum()}
    folds = switch_cases(header, "joiner_fold")
    assert {chr(cp): chr(int(value, 16)) for cp, value in folds.items()} == text.JOINER_FOLDS
    packed = re.findall(r"UINT64_C\(0x([0-9A-F]+)\), /\* (\S+) \*/", header)
    words_packed = {int(v, 16).to_bytes(8, "little").rstrip(b"\0").decode() for v, _ in packed}
    assert words_packed == set(text.ABBREVIATIONS)
    longest = max(len(word.encode()) for word in text.ABBREVIATIONS)
    assert f"#define KG_ABBREVIATION_MAX_BYTES {longest}\n" in header


def test_typing_tables_follow_decoder_py(monkeypatch):
    """The generator reads decoder.py and keyboard.py: a retuned penalty, schedule or limit
    changes the header, and nothing else is needed for the kernel to follow."""
    gen = generator("gen_sdk_headers")
    monkeypatch.setattr(decoder, "OMIT", 31234)
    monkeypatch.setattr(decoder, "max_edits", lambda m: 0 if m <= 2 else 1)
    monkeypatch.setattr(keyboard, "MAX_COORDINATE", 2048.0)
    header = gen.typing_tables_h()
    assert "#define KG_TYPING_OMIT 31234" in header
    assert "#define KG_TYPING_MAX_EDITS 1\n" in header
    assert "#define KG_TYPING_MAX_COORDINATE 2048.0\n" in header
    monkeypatch.setattr(decoder, "SPATIAL_CAP", 10**9)  # a penalty could overflow int32
    with pytest.raises(AssertionError):
        gen.typing_tables_h()


def test_typing_tables_values():
    """The values of typing_tables.h, read back, are decoder.py's and keyboard.py's."""
    header = (NATIVE / "src" / "typing_tables.h").read_text(encoding="utf-8")
    values = defines(NATIVE / "src" / "typing_tables.h")
    names = [
        "SPATIAL_WEIGHT", "SPATIAL_CAP", "SUBSTITUTION_LIMIT", "ACCENT", "OMIT", "INSERT",
        "DOUBLE", "TRANSPOSE", "JOINER", "UNKNOWN", "MAX_DECODE",
    ]  # fmt: skip
    assert {n: integer(values[f"KG_TYPING_{n}"]) for n in names} == {
        n: getattr(decoder, n) for n in names
    }
    schedule = [decoder.max_edits(m) for m in range(decoder.MAX_DECODE + 1)]
    table = header[header.index("max_edits[KG_TYPING_MAX_DECODE + 1] = {") :]
    table = table[table.index("{") + 1 : table.index("}")]
    assert [int(v) for v in table.replace(",", " ").split()] == schedule
    assert integer(values["KG_TYPING_MAX_EDITS"]) == max(schedule)
    assert integer(values["KG_TYPING_GRID"]) == keyboard.GRID
    assert integer(values["KG_TYPING_MAX_KEYS"]) == keyboard.MAX_KEYS
    assert integer(values["KG_TYPING_MAX_KEY_CHARS"]) == keyboard.MAX_KEY_CHARS
    assert float(values["KG_TYPING_MAX_COORDINATE"]) == keyboard.MAX_COORDINATE
    assert float(values["KG_TYPING_MAX_KEY_SIZE"]) == keyboard.MAX_KEY_SIZE
    joiners = header[header.index("typing_joiners[] = {") :]
    joiners = joiners[joiners.index("{") + 1 : joiners.index("}")]
    assert {chr(int(v, 16)) for v in joiners.split(", ")} == decoder._JOINERS
    assert {chr(cp) for cp in switch_cases(header, "layout_space")} == set(text.SPACES)
    for name in keyboard.NAMED_LAYOUTS:
        assert f'{{"{name}", layout_{name}, {len(keyboard.Layout.named(name).keys)}}},' in header


# --- keyglide.h: limits written on both sides ---------------------------------------------


def test_header_limits_equal_python():
    """The reference engine checks arguments against these without the kernel."""
    values = defines(NATIVE / "include" / "keyglide.h")
    assert integer(values["KG_MAX_K"]) == engines.MAX_K
    assert integer(values["KG_MAX_CONTEXT"]) == engines.MAX_CONTEXT
    assert integer(values["KG_MAX_WORD_BYTES"]) == text.MAX_WORD_BYTES
    assert integer(values["KG_WORD_UNK"]) == format.UNK
    assert integer(values["KG_WORD_BOS"]) == format.BOS
    assert integer(values["KG_WORD_EOS"]) == format.EOS
    # The typing decoder's (keyboard.py, decoder.py).
    assert integer(values["KG_LAYOUT_GRID"]) == keyboard.GRID
    assert integer(values["KG_MAX_KEYS"]) == keyboard.MAX_KEYS
    assert integer(values["KG_MAX_KEY_CHARS"]) == keyboard.MAX_KEY_CHARS
    assert integer(values["KG_MAX_DECODE"]) == decoder.MAX_DECODE
    assert integer(values["KG_DEFAULT_THRESHOLD"]) == decoder.DEFAULT_THRESHOLD
    # The shortlist a reranker reads is one engine call.
    assert rerank.MAX_SHORTLIST <= engines.MAX_K


def test_header_states_the_score_scale():
    header = (NATIVE / "include" / "keyglide.h").read_text(encoding="utf-8")
    assert f"score = round(log10(p) * {format.SCORE_SCALE})" in header
    assert len(re.findall(rf"divide by {format.SCORE_SCALE}\b", header)) == 1


def test_kernel_json_depth_equals_meta_max_depth():
    """json.c bounds META's nesting by the format's META_MAX_DEPTH."""
    assert integer(defines(NATIVE / "src" / "json.c")["KG_JSON_MAX_DEPTH"]) == format.META_MAX_DEPTH


def test_old_imports_of_reader_limits_still_work():
    from keyglide import reader

    assert (reader.MIN_ORDER, reader.MAX_SECTIONS, reader.MAX_VOCAB) == (
        format.MIN_ORDER,
        format.MAX_SECTIONS,
        format.MAX_VOCAB,
    )
