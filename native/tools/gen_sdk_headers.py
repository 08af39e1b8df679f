"""Generate the kernel's headers whose numbers and lists come from the Python SDK.

Python is the specification; these headers are its copies for the kernel, never edited by hand:

native/src/format.h, from ``keyglide.format``
    The numbers of the format (langdb/FORMAT.md specifies them): the header and section-table
    layouts (field offsets computed from its ``struct`` layouts and the field names of
    ``Header`` and ``SectionEntry``), section kinds, element types, feature bits, limits and
    special ids. Only what the kernel reads.

native/src/text_tables.h, from ``keyglide.text``
    The lists of the tokenization contract (``SPACES``, ``LINE_BREAKS``, ``TERMINATORS``,
    ``PERIOD``, ``JOINERS`` with ``JOINER_FOLDS``, ``ABBREVIATIONS``) for ``text.c``: the
    class of every ASCII code point, the class of every other listed code point and the fold
    of the joiners beyond ASCII (as switches), and the abbreviations packed into integers.
    Word characters and marks come from the Unicode tables (``gen_unicode_tables.py``).

native/src/typing_tables.h, from ``keyglide.decoder`` and ``keyglide.keyboard``
    The typing decoder's numbers for ``decode.c``: every penalty, ``MAX_DECODE`` and the
    ``max_edits`` schedule, the joiners it omits cheaply, the layout limits and the
    characters ``Layout`` refuses as spaces (the contract's ``SPACES``); and the shipped layouts
    (``keyglide/layouts/NAME.json``, as ``Layout.named`` reads them) as key lists for
    ``kg_layout_builtin``. Retuning a penalty in decoder.py and running this is all the
    kernel needs.

``tests/test_constants.py`` checks that the checked-in headers are current, and that
format.h defines nothing the kernel does not use.

    python native/tools/gen_sdk_headers.py            # rewrite the headers
    python native/tools/gen_sdk_headers.py --check    # exit 1 if any is out of date
"""

from __future__ import annotations

import dataclasses
import inspect
import pathlib
import re
import struct
import sys
from collections.abc import Iterable

from codegen import ROOT, c_header, import_sdk, run

import_sdk()
from keyglide import _unicode, decoder, keyboard, text  # noqa: E402
from keyglide import format as fmt  # noqa: E402

FORMAT_H = ROOT / "native" / "src" / "format.h"
FORMAT_H_COMMENT = [
    "langdb format constants of the kernel (langdb/FORMAT.md specifies every number).",
    "Generated from sdk/keyglide/format.py by native/tools/gen_sdk_headers.py; do not edit.",
]
TEXT_TABLES_H = ROOT / "native" / "src" / "text_tables.h"
TEXT_TABLES_COMMENT = [
    "The character lists of the tokenization contract keyglide-text-1, for text.c.",
    "Generated from sdk/keyglide/text.py by native/tools/gen_sdk_headers.py; do not edit.",
]
TYPING_TABLES_H = ROOT / "native" / "src" / "typing_tables.h"
TYPING_TABLES_COMMENT = [
    "The typing decoder's constants (keyglide-typing-1) and the shipped layouts, for decode.c.",
    "Generated from sdk/keyglide/decoder.py, sdk/keyglide/keyboard.py and",
    "sdk/keyglide/layouts/ by native/tools/gen_sdk_headers.py; do not edit.",
]
WIDTH = 96  # the kernel's line length


# --- format.h ------------------------------------------------------------------------------

# Optional features the kernel validates but does not apply (kg_ignored_features reports
# them): a property of the kernel, not of the format, so it is stated here.
UNAPPLIED_FEATURES = (fmt.Feature.NEURAL,)


def fields(layout: struct.Struct, names: list[str]) -> list[tuple[str, int, int]]:
    """(name, offset, size) of each field of a little-endian ``struct`` layout, in order.
    ``names`` names the fields that are not padding; padding bytes (``x``) are "reserved"."""
    assert layout.format.startswith("<")
    result, offset, unnamed = [], 0, iter(names)
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", layout.format[1:]):
        n = int(count or 1)
        if code in "sx":  # one field of n bytes
            result.append(("reserved" if code == "x" else next(unnamed), offset, n))
            offset += n
            continue
        size = struct.calcsize("<" + code)
        for _ in range(n):
            result.append((next(unnamed), offset, size))
            offset += size
    assert offset == layout.size and next(unnamed, None) is None, layout.format
    return result


def comments(cls: type) -> dict[str, str]:
    """The comment after each member of an enum in format.py's source."""
    found = re.findall(r"^\s+(\w+) = [^#\n]*#\s*(.*)$", inspect.getsource(cls), re.M)
    return dict(found)


def define(name: str, value: object, comment: str = "") -> str:
    return group([(name, value, comment)])


def group(defines: list[tuple[str, object, str]]) -> str:
    """#define lines with their comments: after them and aligned when every line fits in
    WIDTH, else each above its line."""
    lines = [
        (line if len(line) <= WIDTH else f"#define {name} \\\n    {value}", comment)
        for name, value, comment in defines
        for line in [f"#define {name} {value}"]
    ]
    width = max(len(line) for line, _ in lines)
    if all(width + len(comment) + 7 <= WIDTH for _, comment in lines):
        return "\n".join(
            f"{line:<{width}} /* {comment} */" if comment else line for line, comment in lines
        )
    return "\n".join(f"/* {comment} */\n{line}" if comment else line for line, comment in lines)


def mask(value: int, prefix: str = "KG_FEATURE_") -> str:
    """A mask of feature bits as the names of its bits, or'ed."""
    names = [f"{prefix}{f.name}" for f in fmt.Feature if value & f]
    assert sum(int(f) for f in fmt.Feature if value & f) == value, value
    return names[0] if len(names) == 1 else "(" + " | ".join(names) + ")"


def bit(value: int) -> str:
    """A power of two as a shift."""
    assert value > 0 and value & (value - 1) == 0, value
    return f"(1u << {value.bit_length() - 1})"


def header_offsets() -> list[str]:
    names = ["magic", *(f.name for f in dataclasses.fields(fmt.Header))]
    at = {name: (offset, size) for name, offset, size in fields(fmt.HEADER, names)}
    assert at["header_crc32"][0] == fmt.HEADER_CRC_OFFSET
    assert at["magic"] == (0, len(fmt.MAGIC))
    macros = {
        "major": "KG_FMT_OFF_MAJOR",
        "minor": "KG_FMT_OFF_MINOR",
        "header_size": "KG_FMT_OFF_HEADER_SIZE",
        "required_features": "KG_FMT_OFF_REQUIRED",
        "optional_features": "KG_FMT_OFF_OPTIONAL",
        "file_size": "KG_FMT_OFF_FILE_SIZE",
        "section_count": "KG_FMT_OFF_SECTION_COUNT",
        "byte_order_mark": "KG_FMT_OFF_BOM",
        "reserved": "KG_FMT_OFF_RESERVED",
    }
    lines = [define(macro, at[name][0]) for name, macro in macros.items()]
    return lines + [define("KG_FMT_RESERVED_SIZE", at["reserved"][1])]


def entry_offsets() -> list[str]:
    names = [f.name for f in dataclasses.fields(fmt.SectionEntry)]
    lines, reserved = [], 0
    macros = {
        "id": "KG_FMT_ENT_ID",
        "elem_type": "KG_FMT_ENT_TYPE",
        "offset": "KG_FMT_ENT_OFFSET",
        "length": "KG_FMT_ENT_LENGTH",
        "crc32": "KG_FMT_ENT_CRC",
    }
    for name, offset, size in fields(fmt.SECTION_ENTRY, names):
        if name == "reserved":
            reserved += 1
            lines.append(define(f"KG_FMT_ENT_RESERVED{reserved}", offset, f"{size} bytes"))
        else:
            lines.append(define(macros[name], offset))
    return lines


def format_h() -> str:
    magic = fmt.MAGIC.decode("ascii")
    assert magic.isalnum()
    bom = struct.pack("<I", fmt.BYTE_ORDER_MARK).decode("ascii")
    kinds, features = comments(fmt.Kind), comments(fmt.Feature)
    body = [
        define("KG_FMT_MAGIC", f'"{magic}"'),
        define("KG_FMT_MAGIC_SIZE", len(fmt.MAGIC)),
        define("KG_FMT_MAJOR", fmt.FORMAT_MAJOR),
        f'/* The bytes "{bom}" read as a little-endian u32. */',
        define("KG_FMT_BYTE_ORDER_MARK", f"0x{fmt.BYTE_ORDER_MARK:08X}u"),
        "",
        define("KG_FMT_HEADER_SIZE", fmt.HEADER.size),
        define("KG_FMT_ENTRY_SIZE", fmt.SECTION_ENTRY.size),
        define("KG_FMT_MAX_SECTIONS", fmt.MAX_SECTIONS),
        define("KG_FMT_HEADER_CRC_OFFSET", fmt.HEADER_CRC_OFFSET),
        define("KG_FMT_SECTION_ALIGN", fmt.SECTION_ALIGN),
        "",
        "/* Header field offsets (FORMAT.md section 2). */",
        *header_offsets(),
        "",
        "/* Section entry field offsets (FORMAT.md section 3). */",
        *entry_offsets(),
        "",
        "/* Element types. */",
        *(define(f"KG_ELEM_{t.name}", int(t)) for t in fmt.ElemType),
        "",
        "/* Section kinds; a section id is kind << 8 | order. */",
        group([(f"KG_KIND_{k.name}", f"0x{int(k):02X}", kinds.get(k.name, "")) for k in fmt.Kind]),
        "",
        define("KG_FMT_MIN_ORDER", fmt.MIN_ORDER),
        define("KG_FMT_MAX_ORDER", fmt.MAX_ORDER),
        define("KG_FMT_MAX_VOCAB", bit(fmt.MAX_VOCAB)),
        "",
        "/* Feature bits (FORMAT.md sections 9 to 11). */",
        group(
            [(f"KG_FEATURE_{f.name}", bit(int(f)), features.get(f.name, "")) for f in fmt.Feature]
        ),
        "",
        "/* Feature bits known to this reader. A known feature missing from the required mask",
        " * (NEURAL) is only ever optional: a file that requires it is refused. */",
        define("KG_FMT_KNOWN_REQUIRED_FEATURES", mask(fmt.KNOWN_REQUIRED_FEATURES)),
        define("KG_FMT_KNOWN_OPTIONAL_FEATURES", mask(fmt.KNOWN_OPTIONAL_FEATURES)),
        "/* Known optional features the kernel validates but does not apply: its answers are",
        " * those of a reader that ignores them, and kg_ignored_features reports them. */",
        define("KG_FMT_UNAPPLIED_FEATURES", mask(sum(int(f) for f in UNAPPLIED_FEATURES))),
        "",
        "/* The stored score of a word a model can never predict (ARPA's -99 for <s>). */",
        define("KG_SCORE_NEVER", f"({fmt.SCORE_NEVER})"),
        "",
        "/* Special word ids. */",
        define("KG_ID_UNK", f"{fmt.UNK}u"),
        define("KG_ID_BOS", f"{fmt.BOS}u"),
        define("KG_ID_EOS", f"{fmt.EOS}u"),
        define("KG_FIRST_WORD_ID", f"{fmt.FIRST_WORD_ID}u"),
        "",
        "/* Nodes with more children than this have a top list of this many entries. */",
        define("KG_TOP_LIST_LENGTH", fmt.TOP_LIST_LENGTH),
        "",
        "/* The tokenizer of sdk/keyglide/text.py, as META names it. */",
        define("KG_TOKENIZER_ID", f'"{text.TOKENIZER_ID}"'),
    ]
    return c_header("KG_FORMAT_H", FORMAT_H_COMMENT, body)


# --- text_tables.h -------------------------------------------------------------------------

# The class bits, in the order the header defines them, with what each is.
CLASSES = {
    "C_WORD": "a word character (general category L, M or N)",
    "C_SPACE": "SPACES (White_Space)",
    "C_BREAK": "LINE_BREAKS (also spaces)",
    "C_TERM": "TERMINATORS",
    "C_DOT": "PERIOD, the one terminator an abbreviation may be followed by",
    "C_JOINER": "JOINERS",
    "C_MARK": "category M: continues a token, never starts one (with C_WORD)",
}
BIT = {name: 1 << i for i, name in enumerate(CLASSES)}


def in_ranges(cp: int, ranges) -> bool:
    return any(a <= cp <= b for a, b in ranges)


def listed_class(cp: int) -> int:
    """The class bits the contract's lists give a code point (0 if it is in none)."""
    ch = chr(cp)
    bits = 0
    for chars, name in (
        (text.SPACES, "C_SPACE"),
        (text.LINE_BREAKS, "C_BREAK"),
        (text.TERMINATORS, "C_TERM"),
        (text.PERIOD, "C_DOT"),
        (text.JOINERS, "C_JOINER"),
    ):
        if ch in chars:
            bits |= BIT[name]
    return bits


def class_of(cp: int) -> int:
    """The class bits of a code point, as text.c classifies it."""
    if in_ranges(cp, _unicode.WORD_RANGES):
        assert listed_class(cp) == 0, f"U+{cp:04X} is listed and a word character"
        return BIT["C_WORD"] | (BIT["C_MARK"] if in_ranges(cp, _unicode.MARK_RANGES) else 0)
    return listed_class(cp)


def class_expression(bits: int) -> str:
    return " | ".join(name for name in CLASSES if bits & BIT[name])


def char_literal(cp: int) -> str:
    named = {0x09: "'\\t'", 0x0A: "'\\n'", 0x0D: "'\\r'", 0x27: "'\\''", 0x5C: "'\\\\'"}
    if cp in named:
        return named[cp]
    return f"'{chr(cp)}'" if 0x20 <= cp < 0x7F else f"0x{cp:02X}"


def wrapped(items: Iterable[str], indent: str, separator: str = " ") -> list[str]:
    """Items joined by ``separator`` into lines of at most WIDTH columns."""
    lines, line = [], ""
    for item in items:
        candidate = f"{line}{separator}{item}" if line else item
        if line and len(indent) + len(candidate) > WIDTH:
            lines.append(indent + line.rstrip())
            candidate = item
        line = candidate
    return [*lines, indent + line] if line else lines


def ascii_table() -> list[str]:
    entries = [f"[{char_literal(cp)}] = {class_expression(class_of(cp))}," for cp in range(128)]
    entries = [e for cp, e in zip(range(128), entries, strict=True) if class_of(cp)]
    return [
        "/* Classes of the ASCII code points, the common case. */",
        "static const unsigned char ascii_class[128] = {",
        *wrapped(entries, "    "),
        "};",
    ]


def switch(name: str, doc: str, ret: str, cases: dict[str, list[int]], default: str) -> list[str]:
    """A static function of a code point that returns cases' key for its code points."""
    lines = [f"/* {doc} */", f"static {ret} {name}(uint32_t cp)", "{", "    switch (cp) {"]
    for result, cps in cases.items():
        lines += wrapped((f"case 0x{cp:04X}:" for cp in sorted(cps)), "    ")
        lines.append(f"        return {result};")
    lines += ["    default:", f"        return {default};", "    }", "}"]
    return lines


def listed_switch() -> list[str]:
    listed = sorted(
        {ord(c) for c in text.SPACES + text.TERMINATORS + text.JOINERS} - set(range(128))
    )
    cases: dict[str, list[int]] = {}
    for cp in listed:
        cases.setdefault(class_expression(class_of(cp)), []).append(cp)
    return switch(
        "listed_class",
        "The class of a code point beyond ASCII that the lists hold, or 0.",
        "unsigned",
        cases,
        "0",
    )


def joiner_fold_switch() -> list[str]:
    cases: dict[str, list[int]] = {}
    for joiner, folded in text.JOINER_FOLDS.items():
        assert joiner in text.JOINERS and ord(joiner) >= 128 and len(folded) == 1
        cases.setdefault(f"0x{ord(folded):02X}", []).append(ord(joiner))
    return switch(
        "joiner_fold",
        "The fold of a joiner beyond ASCII (JOINER_FOLDS), or 0 for any other code point.",
        "uint32_t",
        cases,
        "0",
    )


def abbreviations() -> list[str]:
    packed = []
    for word in sorted(text.ABBREVIATIONS, key=str.encode):
        data = word.encode("utf-8")
        assert 0 < len(data) <= 8 and text.fold(word) == word, word
        packed.append((int.from_bytes(data, "little"), word))
    longest = max(len(word.encode("utf-8")) for word in text.ABBREVIATIONS)
    return [
        "/* ABBREVIATIONS, each packed into an integer (byte i at bits 8i), so that the test is a",
        " * few integer comparisons and costs nothing per token. None is longer than",
        " * KG_ABBREVIATION_MAX_BYTES. */",
        f"#define KG_ABBREVIATION_MAX_BYTES {longest}",
        "static const uint64_t abbreviations[] = {",
        *(f"    UINT64_C(0x{value:X}), /* {word} */" for value, word in packed),
        "};",
    ]


def text_tables_h() -> str:
    classes = [f"{f'#define {name} {BIT[name]}u':<20} /* {doc} */" for name, doc in CLASSES.items()]
    body = [
        "#include <stdint.h>",
        "",
        "/* Character classes of the contract. */",
        *classes,
        "#define C_STARTS(c) (((c) & (C_WORD | C_MARK)) == C_WORD)",
        "",
        *ascii_table(),
        "",
        *listed_switch(),
        "",
        *joiner_fold_switch(),
        "",
        *abbreviations(),
    ]
    return c_header("KG_TEXT_TABLES_H", TEXT_TABLES_COMMENT, body)


# --- typing_tables.h -----------------------------------------------------------------------

# The penalties of decoder.py, in the order its source defines them, with what each is.
PENALTIES = {
    "SPATIAL_WEIGHT": "a touch one key width (or height) from its key's centre",
    "SPATIAL_CAP": "the most a touch costs",
    "SUBSTITUTION_LIMIT": "the most spatial cost a substitution may have",
    "ACCENT": "the key's own character typed for an alternate",
    "OMIT": "a character of the word omitted (one edit)",
    "INSERT": "a keystroke the word does not have (one edit)",
    "DOUBLE": "an omitted or inserted repetition (one edit)",
    "TRANSPOSE": "two adjacent characters swapped (one edit), plus their touches",
    "JOINER": "an apostrophe or hyphen omitted (no edit)",
    "UNKNOWN": "how far below lm(<unk>) a typed word the vocabulary lacks scores",
}
INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1


def typing_bounds() -> int:
    """Checks that the decoder's numbers keep the kernel's arithmetic exact, and returns the
    bound of every alignment's penalty (decode.c keeps penalties in int32 cells).

    A penalty pays for each of at most MAX_DECODE keystrokes a match (at most SPATIAL_CAP +
    ACCENT) or its share of an edit, for each edit at most the dearest one (a transposition
    with two capped touches), and JOINER for each joiner omitted (at most one a byte of a
    word). A spatial cost's products stay in int64 for any point and key of the grid."""
    costs = {name: getattr(decoder, name) for name in PENALTIES}
    assert all(isinstance(v, int) and v >= 0 for v in costs.values()), costs
    edits = max(decoder.max_edits(m) for m in range(decoder.MAX_DECODE + 1))
    dearest = max(
        decoder.OMIT, decoder.INSERT, decoder.DOUBLE, decoder.TRANSPOSE + 2 * decoder.SPATIAL_CAP
    )
    bound = (
        decoder.MAX_DECODE * (decoder.SPATIAL_CAP + decoder.ACCENT)
        + edits * dearest
        + text.MAX_WORD_BYTES * decoder.JOINER
    )
    # A cell plus the dearest step, and the sentinel INT32_MAX above every cell.
    assert bound + dearest + decoder.SPATIAL_CAP < INT32_MAX, bound
    span = int(2 * keyboard.MAX_COORDINATE * keyboard.GRID) + 2  # a grid difference
    assert 2 * decoder.SPATIAL_WEIGHT * span * span < INT64_MAX
    return bound


def c_string(data: bytes) -> str:
    """A C string literal of UTF-8 bytes: ASCII as itself, other bytes as octal escapes
    (which, unlike hex escapes, never swallow the digits after them)."""
    out = []
    for b in data:
        c = chr(b)
        if c in '"\\?':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_double(value: float) -> str:
    """A double literal that reads back as exactly ``value``."""
    literal = repr(float(value))
    assert float(literal) == value and "inf" not in literal and "nan" not in literal
    return literal


def shipped_layouts() -> list[str]:
    lines = [
        "/* The shipped layouts (keyglide/layouts/NAME.json): each key's characters (its own, then",
        " * its alternates, UTF-8), centre and size, as kg_layout_init takes them. */",
    ]
    table = []
    for name in keyboard.NAMED_LAYOUTS:
        layout = keyboard.Layout.named(name)
        lines.append(f"static const kg_key_spec layout_{name}[] = {{")
        for key in layout.keys:
            chars = (key.char + key.alternates).encode("utf-8")
            numbers = ", ".join(c_double(v) for v in (key.x, key.y, key.width, key.height))
            line = f"    {{{c_string(chars)}, {len(chars)}, {numbers}}},"
            if len(line) > WIDTH:
                line = f"    {{{c_string(chars)}, {len(chars)},\n     {numbers}}},"
            lines.append(line)
        lines.append("};")
        table.append(f'    {{"{name}", layout_{name}, {len(layout.keys)}}},')
    return [
        *lines,
        "",
        "static const struct builtin_layout {",
        "    const char *name;",
        "    const kg_key_spec *keys;",
        "    size_t count;",
        "} builtin_layouts[] = {",
        *table,
        "};",
    ]


def typing_tables_h() -> str:
    bound = typing_bounds()
    schedule = [decoder.max_edits(m) for m in range(decoder.MAX_DECODE + 1)]
    joiners = sorted(ord(j) for j in decoder._JOINERS)
    assert all(len(j) == 1 for j in decoder._JOINERS)
    spaces = sorted(ord(c) for c in text.SPACES)
    body = [
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        '#include "keyglide.h"',
        "",
        "/* Penalties, in score units (decoder.py). */",
        group(
            [(f"KG_TYPING_{name}", getattr(decoder, name), doc) for name, doc in PENALTIES.items()]
        ),
        "",
        "/* The keystrokes aligned with edits; a longer word is matched exactly, at no penalty. */",
        define("KG_TYPING_MAX_DECODE", decoder.MAX_DECODE),
        "/* The most edits any alignment may use: the largest of max_edits(m). */",
        define("KG_TYPING_MAX_EDITS", max(schedule)),
        "/* Above every alignment's penalty (what decode.c's int32 cells hold). */",
        define("KG_TYPING_PENALTY_BOUND", bound),
        "",
        "/* max_edits(m): how many edits an alignment of m keystrokes may use. */",
        "static const unsigned char max_edits[KG_TYPING_MAX_DECODE + 1] = {",
        *wrapped((f"{v}," for v in schedule), "    "),
        "};",
        "",
        "/* Layouts (keyboard.py): the grid, and the bounds of keys and coordinates. */",
        define("KG_TYPING_GRID", keyboard.GRID),
        define("KG_TYPING_MAX_KEYS", keyboard.MAX_KEYS),
        define("KG_TYPING_MAX_KEY_CHARS", keyboard.MAX_KEY_CHARS),
        define("KG_TYPING_MAX_COORDINATE", c_double(keyboard.MAX_COORDINATE)),
        define("KG_TYPING_MAX_KEY_SIZE", c_double(keyboard.MAX_KEY_SIZE)),
        "",
        "/* The folded joiners, whose omission costs JOINER and no edit, ascending. */",
        "static const uint32_t typing_joiners[] = {"
        + ", ".join(f"0x{cp:02X}" for cp in joiners)
        + "};",
        "",
        *switch(
            "typing_joiner",
            "Whether a folded character is a joiner (one of typing_joiners).",
            "int",
            {"1": joiners},
            "0",
        ),
        "",
        *switch(
            "layout_space",
            "Whether a code point is one of the contract's SPACES (a layout refuses it).",
            "int",
            {"1": spaces},
            "0",
        ),
        "",
        *shipped_layouts(),
    ]
    return c_header("KG_TYPING_TABLES_H", TYPING_TABLES_COMMENT, body)


def outputs() -> dict[pathlib.Path, str]:
    return {
        FORMAT_H: format_h(),
        TEXT_TABLES_H: text_tables_h(),
        TYPING_TABLES_H: typing_tables_h(),
    }


if __name__ == "__main__":
    sys.exit(run(outputs))
