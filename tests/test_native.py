"""The C kernel (``native/``) on its own terms: the tokenization contract byte for byte,
opening and verifying files exactly as the Python reader judges them, memory safety on
hostile files (under address and undefined-behaviour sanitizers), the standalone build and
its example, the binding's version stamp and threads sharing one handle.

Answers on valid files are compared with the reference engine in test_equivalence.py.
Files with display forms (format 1.2) are judged here too: open and verify (every check of
FORMAT.md section 10) as the reader judges them, ``kg_display`` as ``LangDBFile.display``
even on damaged files, and never out of bounds.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import build_model, random_model, written
from display_support import display_forms
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from keyglide import errors, text
from keyglide._version import __version__
from keyglide.engines import native
from keyglide.engines.reference import ReferenceEngine
from keyglide.format import (
    HEADER_CRC_OFFSET,
    SECTION_ENTRY,
    SPECIAL_TOKENS,
    ElemType,
    Kind,
    header_crc,
    section_id,
)
from keyglide.reader import LangDBFile

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"

AVAILABLE, WHY = native.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"native engine unavailable: {WHY}")

needs_toolchain = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None,
    reason="make and a C compiler are needed to build native/ standalone",
)


# --- the tokenization contract --------------------------------------------------------


def _short(token: str) -> str:
    """How the kernel reports a token: folds longer than MAX_WORD_BYTES only as too long."""
    return token if len(token.encode("utf-8")) <= text.MAX_WORD_BYTES else "<unk>"


def expected_sentences(content: str) -> list[list[str]]:
    return [[_short(t) for t in sentence] for sentence in text.sentences(content)]


def expected_cursor(content: str) -> text.Cursor:
    c = text.cursor(content)
    return text.Cursor(
        tuple(map(_short, c.context)), None if c.prefix is None else _short(c.prefix)
    )


def assert_same_reading(content: str) -> None:
    assert native.sentences(content) == expected_sentences(content)
    assert native.cursor(content) == expected_cursor(content)


def assert_same_reading_of_bytes(data: bytes) -> None:
    decoded = text.decode(data)
    assert native.sentences(data) == expected_sentences(decoded)
    assert native.cursor(data) == expected_cursor(decoded)


# Every class of the contract (every character of text.py's lists, the line breaks twice so
# that blank lines are common), plus characters whose fold changes their UTF-8 length.
INTERESTING = (
    "aZ09éÉßẞİıΣσςДяK\u212a\u023a\u0301\u0663\u00b2\u2167\u3042\u4e00\U0001d400\U00010400"
    + text.JOINERS
    + text.TERMINATORS
    + text.SPACES
    + text.LINE_BREAKS
    + ',;:"()[]@#$%&*/\\_\u2014\u00ab\u00bb\u00a7\U0001f600'
    + "\ufffd\x00\x7f\u200b\u200d\ufeff\ud800\udfff"
)

any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
# Every abbreviation of the contract, as listed and capitalized (the fold is compared), and
# other words.
words = st.sampled_from(
    [
        *sorted(text.ABBREVIATIONS),
        *sorted(word.capitalize() for word in text.ABBREVIATIONS),
        "MRS",
        "Smith",
        "don't",
        "o’clock",
        "well-known",
        "a",
        "I",
        "x",
        "rock-'n'",
        "3rd",
        "1984",
        "ΣΊΣΥΦΟΣ",
        "İstanbul",
    ]
)
gaps = st.sampled_from(
    [
        "",
        " ",
        ". ",
        ".",
        "..",
        "...",
        "!",
        "? ",
        ".\n",
        "\n",
        "\n\n",
        ".\n\n",
        " \n \n ",
        "\u2029",
        "\u2029\u2029",
        "!.",
        ". .",
        ".)",
        '." ',
        "\u3002",
        "\u2026 ",
        "-",
        "--",
        "'",
        "’",
        " - ",
        "\ufffd",
        "\ud800",
        ", ",
        "?!",
        "\uff0e ",
        ".\u00a0",
    ]
)


@given(st.text(any_character, max_size=200))
@example("Mr. Darcy said so. Then he left.")
@example("rock-'n' roll")
@example("don’")
@example("well-")
@example("a--b -c d- 'e' f''g")
@example("x" * 64 + " " + "x" * 65 + " " + "д" * 32 + " " + "д" * 33)
@example("\u023a" * 22 + " " + "\u023a" * 21)  # folds grow from 2 to 3 bytes each
@example("\u1e9e" * 22)  # folds shrink from 3 to 2 bytes each
def test_tokenizer_matches_the_contract_on_any_text(content):
    assert_same_reading(content)


@given(st.text(st.sampled_from(INTERESTING), max_size=120))
def test_tokenizer_matches_the_contract_on_every_class(content):
    assert_same_reading(content)


@given(
    st.lists(st.tuples(words, gaps), max_size=12), st.sampled_from(["", " ", ".", "'", "-", "x"])
)
def test_tokenizer_matches_the_contract_on_sentence_ends_and_abbreviations(pieces, end):
    assert_same_reading("".join(w + g for w, g in pieces) + end)


valid_fragments = st.text(
    st.sampled_from(INTERESTING.replace("\ud800", "").replace("\udfff", "")), max_size=8
).map(lambda s: s.encode("utf-8"))
invalid_fragments = st.sampled_from(
    [
        b"\x80",
        b"\xbf",
        b"\xc0\xaf",
        b"\xc1\xbf",
        b"\xc2",
        b"\xe0\x80\xaf",
        b"\xe0\x9f\xbf",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf0\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xf0\x9f\x98",
        b"\xff",
        b"\xfe",
        b"\xe2\x80",
        b"\xc3",
    ]
)


@given(st.lists(st.one_of(valid_fragments, invalid_fragments), max_size=20))
def test_tokenizer_reads_invalid_utf8_as_separators(fragments):
    assert_same_reading_of_bytes(b"".join(fragments))


@given(st.binary(max_size=200))
def test_tokenizer_matches_the_contract_on_any_bytes(data):
    assert_same_reading_of_bytes(data)


@pytest.mark.slow
def test_tokenizer_on_long_input():
    sentence = "Mr. Smith’s well-known dog, o'clock… didn't bark!  Then—nothing.\n\nNew paragraph "
    content = (sentence * 20000) + "and the en"
    assert len(content) > 1_000_000
    assert_same_reading(content)
    assert_same_reading("x" * 200_000)  # one token far longer than the fold buffer


def test_tokenize_output_buffer_is_sized_on_demand():
    content = "\u023a " * 50  # each fold is longer than its text
    assert native._tokenize(content, 0, capacity=1) == native._tokenize(content, 0)


# --- files made to order ----------------------------------------------------------------


def assemble(
    sections: dict[int, tuple[int, bytes]],
    *,
    major: int = 1,
    minor: int = 0,
    required: int = 0,
    optional: int = 0,
    last: tuple[int, ...] = (),
) -> bytearray:
    """A langdb with exactly these sections (id -> (elem_type, bytes)), laid out and
    checksummed as the format says: whatever the sections mean. The sections are laid out
    in id order, except the ids in ``last``, which end the file in that order (the table
    stays sorted by id, as it must)."""
    count = len(sections)
    offset = 64 + 32 * count
    entries, body = {}, b""
    for sid in [*(s for s in sorted(sections) if s not in last), *last]:
        elem_type, data = sections[sid]
        pad = -offset % 8
        body += bytes(pad)
        offset += pad
        entries[sid] = SECTION_ENTRY.pack(sid, elem_type, offset, len(data), zlib.crc32(data))
        body += data
        offset += len(data)
    table = b"".join(entries[sid] for sid in sorted(entries))
    head = struct.pack(
        "<8sHHIQQQIII12x",
        b"KGLANGDB",
        major,
        minor,
        64 + 32 * count,
        required,
        optional,
        offset,
        count,
        0x444C474B,
        0,
    )
    out = bytearray(head + table + body)
    struct.pack_into("<I", out, HEADER_CRC_OFFSET, header_crc(bytes(out[: 64 + 32 * count])))
    return out


def sections_of(data: bytes) -> dict[int, tuple[int, bytes]]:
    count = struct.unpack_from("<I", data, 40)[0]
    result = {}
    for i in range(count):
        sid, elem_type, offset, length, _ = SECTION_ENTRY.unpack_from(data, 64 + 32 * i)
        result[sid] = (elem_type, bytes(data[offset : offset + length]))
    return result


def fix_checksums(data: bytearray) -> None:
    """Recompute every CRC a mutation broke, so that the checks behind them are reached."""
    count = struct.unpack_from("<I", data, 40)[0]
    header_size = struct.unpack_from("<I", data, 12)[0]
    for i in range(min(count, 1024)):
        at = 64 + 32 * i
        if at + 32 > len(data):
            break
        _, _, offset, length, _ = SECTION_ENTRY.unpack_from(data, at)
        if offset + length <= len(data):
            struct.pack_into("<I", data, at + 24, zlib.crc32(data[offset : offset + length]))
    if 64 <= header_size <= len(data):
        struct.pack_into("<I", data, HEADER_CRC_OFFSET, header_crc(bytes(data[:header_size])))


def outcome(action) -> str:
    try:
        action()
    except errors.LangDBError as e:
        return type(e).__name__
    return "ok"


def python_open(data: bytes) -> str:
    return outcome(lambda: LangDBFile.from_buffer(bytes(data)).close())


def native_open(data: bytes) -> str:
    return outcome(lambda: native.NativeEngine.from_buffer(bytes(data)).close())


def python_verify(data: bytes) -> str:
    def run():
        with LangDBFile.from_buffer(bytes(data)) as f:
            f.verify()

    return outcome(run)


def native_verify(data: bytes) -> str:
    def run():
        engine = native.NativeEngine.from_buffer(bytes(data))
        try:
            engine.verify()
        finally:
            engine.close()

    return outcome(run)


@pytest.fixture(scope="module")
def base_file() -> bytes:
    vocab = [
        *SPECIAL_TOKENS,
        *sorted({f"w{i:02d}" for i in range(30)} | {"don't", "é", "дом"}, key=str.encode),
    ]
    return written(random_model(seed=3, vocab=vocab, order=4, max_per_order=300))


DISPLAY_KINDS = (Kind.DISPLAY_IDS, Kind.DISPLAY_OFFSETS, Kind.DISPLAY_BYTES)
DISPLAY_IDS = section_id(Kind.DISPLAY_IDS)
DISPLAY_OFFSETS = section_id(Kind.DISPLAY_OFFSETS)
DISPLAY_BYTES = section_id(Kind.DISPLAY_BYTES)


# The words of display_file and the forms it shows them with (format 1.2): case, joiners,
# and characters whose fold is shorter or longer than they are (KELVIN SIGN, capital sharp
# s, DOTTED CAPITAL I), besides random forms of the w.. words.
DISPLAY_FORMS = {
    "don't": "Don’t",
    "é": "É",
    "дом": "Дом",
    "i": "I",
    "kiss": "\u212aISS",
    "london": "London",
    "straße": "STRA\u1e9eE",
    "istanbul": "\u0130stanbul",
    "well-known": "Well\u2011Known",
    "σοφία": "ΣΟΦΊΑ",
}


def display_model(seed: int = 3, order: int = 4, blocklist: bool = True):
    """base_file's model with more words, display forms (and a blocklist): format 1.2."""
    words = {f"w{i:02d}" for i in range(30)} | set(DISPLAY_FORMS) | {"paris", "1984"}
    vocab = [*SPECIAL_TOKENS, *sorted(words, key=str.encode)]
    model = random_model(seed=seed, vocab=vocab, order=order, max_per_order=300)
    forms = display_forms(vocab, random.Random(seed), 0.5)
    forms.update({vocab.index(w): f for w, f in DISPLAY_FORMS.items()})
    model = dataclasses.replace(model, display_forms=forms)
    if blocklist:
        model = dataclasses.replace(model, blocklist=np.array([vocab.index("paris")]))
    return model


@pytest.fixture(scope="module")
def display_file() -> bytes:
    return written(display_model())


@pytest.fixture(scope="module", params=["1.0", "1.2"], ids=lambda v: f"format{v}")
def seed_file(request, base_file, display_file) -> bytes:
    """A valid file of each kind the mutation tests start from."""
    return base_file if request.param == "1.0" else display_file


def spelling(action) -> str:
    """What a spelling call gives: the string, or the class of the error it raises."""
    try:
        return action()
    except errors.LangDBError as e:
        return type(e).__name__


def assert_same_display(data: bytes) -> None:
    """kg_display and kg_word of every id as LangDBFile.display and word, errors included:
    the kernel reads DISPLAY_IDS as the reader's bisect_left does, so the two agree even on
    a damaged, unverified file."""
    engine = native.NativeEngine.from_buffer(data)
    try:
        with LangDBFile.from_buffer(data) as f:
            for i in range(f.vocab_size):
                assert spelling(lambda: engine.display(i)) == spelling(lambda: f.display(i)), i  # noqa: B023
                assert spelling(lambda: engine.word(i)) == spelling(lambda: f.word(i)), i  # noqa: B023
    finally:
        engine.close()


def test_open_and_verify_accept_a_valid_file(base_file):
    assert native_open(base_file) == python_open(base_file) == "ok"
    assert native_verify(base_file) == "ok"
    engine = native.NativeEngine.from_buffer(base_file)
    with LangDBFile.from_buffer(base_file) as f:
        assert engine.order == f.order
        assert engine.vocab_size == f.vocab_size
        assert engine.counts == f.counts
        assert engine.format_version == (1, 0)
        assert engine.ignored_features == 0
        assert engine.metadata == sections_of(base_file)[section_id(Kind.META)][1]
        for i in range(f.vocab_size):
            assert engine.word(i) == f.word(i)
            if i >= 3:
                assert engine.lookup(f.word(i)) == i
    assert engine.lookup("not a word") is None
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(ValueError):
        engine.predict("a ", 3)


def test_a_file_with_display_forms(display_file):
    """Format 1.2: the kernel knows DISPLAY_FORMS (nothing ignored), spells suggestions
    with the display forms, and keeps looking words up by their folded spelling."""
    assert native_open(display_file) == python_open(display_file) == "ok"
    assert native_verify(display_file) == python_verify(display_file) == "ok"
    engine = native.NativeEngine.from_buffer(display_file)
    try:
        with LangDBFile.from_buffer(display_file) as f:
            assert engine.format_version == (1, 2)
            assert engine.ignored_features == 0
            assert native.lib.kg_optional_features(engine._db) == 3  # BLOCKLIST, DISPLAY_FORMS
            for word, form in DISPLAY_FORMS.items():
                i = engine.lookup(word)
                assert engine.display(i) == f.display(i) == form
                assert engine.word(i) == word
                assert engine.lookup(form) is None  # display forms are not looked up
            assert [engine.display(i) for i in range(3)] == list(SPECIAL_TOKENS)
            shown = {s.word for s in engine.predict("", 256)}
            assert set(DISPLAY_FORMS.values()) <= shown
            assert not {w for w in DISPLAY_FORMS if w != "1984"} & shown
            assert engine.predict("lon", 3)[0].word == "London"
            assert engine.predict("LON", 3) == engine.predict("lon", 3)
            assert engine.predict("I ", 5) == engine.predict("i ", 5)
    finally:
        engine.close()


def test_kg_display_arguments(display_file, base_file):
    ptr, size = native.ffi.new("char **"), native.ffi.new("size_t *")
    for data in (display_file, base_file):
        engine = native.NativeEngine.from_buffer(data)
        try:
            db, lib = engine._db, native.lib
            v = lib.kg_vocab_size(db)
            assert lib.kg_display(db, v, ptr, size) == lib.KG_E_INVALID_ARGUMENT
            assert lib.kg_display(db, 2**32 - 1, ptr, size) == lib.KG_E_INVALID_ARGUMENT
            assert lib.kg_display(native.ffi.NULL, 3, ptr, size) == lib.KG_E_INVALID_ARGUMENT
            assert lib.kg_display(db, 3, native.ffi.NULL, size) == lib.KG_E_INVALID_ARGUMENT
            assert lib.kg_display(db, 3, ptr, native.ffi.NULL) == lib.KG_E_INVALID_ARGUMENT
            assert lib.kg_display(db, v - 1, ptr, size) == lib.KG_OK
            with pytest.raises(ValueError):
                engine.display(v)
            if data is base_file:  # no display forms: exactly kg_word
                assert [engine.display(i) for i in range(v)] == [engine.word(i) for i in range(v)]
        finally:
            engine.close()


@pytest.mark.slow
def test_every_header_and_table_byte(seed_file):
    """Each byte of the header and section table changed (CRC recomputed or not): the
    kernel's open gives the reader's outcome, error class included."""
    header_size = struct.unpack_from("<I", seed_file, 12)[0]
    for position in range(header_size):
        for value in {seed_file[position] ^ 1, seed_file[position] ^ 0x80, 0, 0xFF}:
            data = bytearray(seed_file)
            data[position] = value
            assert native_open(data) == python_open(data), (position, value)
            fix_checksums(data)
            assert native_open(data) == python_open(data), (position, value, "fixed")


def test_truncated_and_extended_files(seed_file):
    for size in [*range(0, 80), *range(80, len(seed_file), 37), len(seed_file) - 1]:
        data = seed_file[:size]
        assert native_open(data) == python_open(data), size
    for extra in (1, 7, 8, 100):
        data = seed_file + bytes(extra)
        assert native_open(data) == python_open(data) == "CorruptLangDB"


@given(st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_mutated_files_are_judged_as_the_reader_judges_them(seed_file, data):
    """Random byte changes anywhere, with or without the CRCs recomputed: open and verify
    agree with the reader; where both accept every byte, both engines answer alike. Every
    id is spelled alike by kg_display and the reader's display() whatever the damage."""
    mutated = bytearray(seed_file)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        fix_checksums(mutated)
    mutated = bytes(mutated)
    opened = native_open(mutated)
    assert opened == python_open(mutated)
    if opened != "ok":
        return
    verified = native_verify(mutated)
    assert verified == python_verify(mutated)
    assert_same_display(mutated)
    engine = native.NativeEngine.from_buffer(mutated)
    try:
        texts = ["", "w0", "w01 w02 ", "don'", "é дом w1", "Hello. w03 w04 w05 ", "I ", "Lon"]
        if verified == "ok":
            with LangDBFile.from_buffer(mutated) as f:
                reference = ReferenceEngine(f)
                for t in texts:
                    assert engine.predict(t, 5) == reference.predict(t, 5)
                    assert engine.score_sum(t) == reference.score_sum(t)
        else:  # a damaged file: any answer or a CorruptLangDB, never a crash
            for t in texts:
                for k in (1, 3, 256):
                    outcome(lambda: engine.predict(t, k))  # noqa: B023
                outcome(lambda: engine.score_sum(t))  # noqa: B023
    finally:
        engine.close()


def header_fields(data: bytes) -> dict[str, int]:
    """The version and feature fields of a file's header, as assemble() takes them."""
    _, major, minor, _, required, optional = struct.unpack_from("<8sHHIQQ", data, 0)
    return {"major": major, "minor": minor, "required": required, "optional": optional}


def test_data_damage_is_caught_by_verify(seed_file):
    """Every section's bytes changed one at a time (CRC recomputed): verify refuses exactly
    when the reader's verify refuses."""
    fields = header_fields(seed_file)
    for sid, (elem_type, content) in sections_of(seed_file).items():
        if not content:
            continue
        positions = {0, len(content) // 2, len(content) - 1}
        if sid >> 8 in DISPLAY_KINDS:
            positions |= set(range(0, len(content), max(1, len(content) // 24)))
        for position in sorted(positions):
            for delta in (1, 255, 128, 32):
                changed = bytearray(content)
                changed[position] = (changed[position] + delta) % 256
                sections = sections_of(seed_file)
                sections[sid] = (elem_type, bytes(changed))
                data = bytes(assemble(sections, **fields))
                where = (hex(sid), position, delta)
                assert native_open(data) == python_open(data), where
                if native_open(data) == "ok":
                    assert native_verify(data) == python_verify(data), where
                    if sid >> 8 in DISPLAY_KINDS:
                        assert_same_display(data)


def replace_section(base: bytes, sid: int, elem_type: int, content: bytes) -> bytes:
    sections = sections_of(base)
    sections[sid] = (elem_type, content)
    return bytes(assemble(sections))


META_TEXTS = [
    b"{}",
    b" {} ",
    b"\t{\n}\r\n",
    b"[]",
    b"null",
    b"1",
    b'"x"',
    b"",
    b" ",
    b"{",
    b"}",
    b'{"a":1,}',
    b'{"a":1 "b":2}',
    b'{"a"}',
    b"{'a':1}",
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b'{"a":-}',
    b'{"a":01}',
    b'{"a":1.}',
    b'{"a":.5}',
    b'{"a":1e}',
    b'{"a":1e+}',
    b'{"a":-0.0e-0}',
    b'{"a":1E5}',
    b'{"a":true,"a":false}',
    b'{"a":nul}',
    b'{"a":"\x01"}',
    b'{"a":"\x7f"}',
    b'{"a":"\\u00e9\\ud800\\udc00\\ud800"}',
    b'{"a":"\\x"}',
    b'{"a":"\\u12"}',
    b'{"a":"\\u12G4"}',
    b"\xef\xbb\xbf{}",
    b'{"a":"\xff"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"\xc3\xa9":1}',
    b'{"a":[1,2,[3,{"b":null}]]}',
    b'{"a":[1,]}',
    b'{"a":[,1]}',
    b"{}{}",
    b"{} x",
    b'{"a":1}\x00',
    b"\x00{}",
    b'{"a" : [ ] , "b" : { } }',
    b'{"a":' + b"9" * 4300 + b"}",
    b'{"a":-' + b"9" * 4300 + b"}",
    b'{"a":' + b"9" * 4301 + b"}",
    b'{"a":' + b"9" * 5000 + b".5}",
    b'{"a":' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"a":' + b"[" * 600 + b"]" * 600 + b"}",
    b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
]


@pytest.mark.parametrize("meta", META_TEXTS, ids=range(len(META_TEXTS)))
def test_meta_json_is_judged_as_the_reader_judges_it(base_file, meta):
    data = replace_section(base_file, section_id(Kind.META), ElemType.U8, meta)
    # Nesting between the kernel's limit (512) and Python's recursion limit is the one
    # place the two may differ; no metadata comes near it.
    if meta.count(b"[") == 600:
        assert native_open(data) == "CorruptLangDB"
        return
    assert native_open(data) == python_open(data)


META_VALUES = [
    {},
    {"order": 4.0},
    {"order": True},
    {"order": "4"},
    {"vocab_size": 1e1},
    {"ngram_counts": None},
    {"tokenizer": "keyglide-text-2"},
    {"tokenizer": "keyglide\u002dtext-1"},
    {"language": 1},
    {"data_version": None},
    {"sources": None},
    {"order": 4, "ngram_counts": []},
]


@pytest.mark.parametrize("change", META_VALUES, ids=range(len(META_VALUES)))
def test_metadata_facts_are_verified_as_the_reader_verifies_them(base_file, change):
    import json

    meta = json.loads(sections_of(base_file)[section_id(Kind.META)][1])
    meta.update(change)
    for variant in (
        json.dumps(meta),
        json.dumps(meta, ensure_ascii=True).replace('"order"', '"\\u006frder"'),
    ):
        data = replace_section(base_file, section_id(Kind.META), ElemType.U8, variant.encode())
        assert native_open(data) == python_open(data) == "ok"
        assert native_verify(data) == python_verify(data)
    for key in list(meta):
        partial = {k: v for k, v in meta.items() if k != key}
        data = replace_section(
            base_file, section_id(Kind.META), ElemType.U8, json.dumps(partial).encode()
        )
        assert native_verify(data) == python_verify(data) == "CorruptLangDB"


def test_section_sets_are_judged_as_the_reader_judges_them(base_file):
    base = sections_of(base_file)
    variants = []
    for sid in base:  # each section missing
        variants.append({k: v for k, v in base.items() if k != sid})
    for sid, (_, content) in base.items():  # each section with every element type
        for other in range(0, 7):
            variants.append({**base, sid: (other, content)})
    variants.append({**base, 0x7F00: (ElemType.U8, b"unknown kind: skipped")})
    variants.append({**base, 0x0101: (ElemType.U8, b"known kind, no such order")})
    variants.append({**base, section_id(Kind.WORDS, 1): (ElemType.U8, b"")})
    variants.append({**base, section_id(Kind.PROB, 5): base[section_id(Kind.PROB, 4)]})
    variants.append({**base, section_id(Kind.PROB, 0): base[section_id(Kind.PROB, 1)]})
    variants.append({**base, 0x7F00: (ElemType.U8, b"")})
    for sections in variants:
        data = bytes(assemble(sections))
        assert native_open(data) == python_open(data), sorted(sections)
    # Versions and features.
    for major, minor, required, optional, expected in [
        (1, 7, 0, 0, "ok"),
        (2, 0, 0, 0, "IncompatibleLangDB"),
        (0, 0, 0, 0, "IncompatibleLangDB"),
        (1, 0, 1 << 2, 0, "IncompatibleLangDB"),
        (1, 0, 1 << 63, 0, "IncompatibleLangDB"),
        (1, 0, 0, 1 << 40, "ok"),
        # BLOCKLIST (bit 0) is known: set without its section, the file is corrupt.
        (1, 1, 1, 0, "CorruptLangDB"),
        (1, 1, 0, 1, "CorruptLangDB"),
        # So is DISPLAY_FORMS (bit 1), in either mask.
        (1, 2, 2, 0, "CorruptLangDB"),
        (1, 2, 0, 2, "CorruptLangDB"),
        (1, 2, 2, 2, "CorruptLangDB"),
        # NEURAL (bit 2) is only ever optional: required, it is refused; optional without
        # its sections, corrupt.
        (1, 3, 4, 0, "IncompatibleLangDB"),
        (1, 3, 0, 4, "CorruptLangDB"),
    ]:
        data = bytes(assemble(base, major=major, minor=minor, required=required, optional=optional))
        assert native_open(data) == python_open(data) == expected
    neural = {
        **base,
        section_id(Kind.NEURAL_INFO): (ElemType.U8, b"{}"),
        section_id(Kind.NEURAL_ONNX): (ElemType.U8, b"\x08\x08"),
    }
    # Both readers check the sections' presence and types, never their content (that is the
    # reranker's business, FORMAT.md section 11); the kernel reports the bit as ignored.
    for required, optional, expected in [
        (0, 0, "CorruptLangDB"),
        (0, 4, "ok"),
        (4, 0, "IncompatibleLangDB"),
    ]:
        data = bytes(assemble(neural, minor=3, required=required, optional=optional))
        assert native_open(data) == python_open(data) == expected
    bad_type = {**neural, section_id(Kind.NEURAL_ONNX): (ElemType.U16, b"\x08\x08")}
    data = bytes(assemble(bad_type, minor=3, optional=4))
    assert native_open(data) == python_open(data) == "CorruptLangDB"
    engine = native.NativeEngine.from_buffer(bytes(assemble(neural, minor=3, optional=4)))
    assert engine.ignored_features == 4
    engine.close()
    blocklist = {**base, section_id(Kind.BLOCKLIST): (ElemType.U8, bytes([3]))}
    for required, optional, expected in [(0, 0, "CorruptLangDB"), (1, 0, "ok"), (0, 1, "ok")]:
        data = bytes(assemble(blocklist, minor=1, required=required, optional=optional))
        assert native_open(data) == python_open(data) == expected
    blocklist[section_id(Kind.BLOCKLIST)] = (ElemType.I32, bytes(4))
    data = bytes(assemble(blocklist, minor=1, optional=1))
    assert native_open(data) == python_open(data) == "CorruptLangDB"
    degraded = native.NativeEngine.from_buffer(bytes(assemble(base, optional=1 << 40)))
    assert degraded.ignored_features == 1 << 40
    degraded.close()


def display_sections(forms: dict[int, bytes], id_type: int = ElemType.U8) -> dict:
    """DISPLAY_IDS/OFFSETS/BYTES holding ``forms`` (id -> UTF-8 bytes) in id order."""
    ids = sorted(forms)
    offsets = [0]
    for i in ids:
        offsets.append(offsets[-1] + len(forms[i]))
    width = {ElemType.U8: 1, ElemType.U16: 2, ElemType.U24: 3, ElemType.U32: 4}[id_type]
    return {
        DISPLAY_IDS: (id_type, b"".join(i.to_bytes(width, "little") for i in ids)),
        DISPLAY_OFFSETS: (ElemType.U32, b"".join(struct.pack("<I", o) for o in offsets)),
        DISPLAY_BYTES: (ElemType.U8, b"".join(forms[i] for i in ids)),
    }


def test_display_section_sets_are_judged_as_the_reader_judges_them(base_file):
    """Format 1.2 at open: the three sections with the DISPLAY_FORMS bit in either mask, at
    order 0, with their types and consistent counts; none of them without the bit."""
    base = sections_of(base_file)
    with LangDBFile.from_buffer(base_file) as f:
        word = f.vocab_size - 1
        form = f.word(word).upper().encode()
    good = {**base, **display_sections({word: form})}
    empty = {**base, **display_sections({})}
    cases = []  # (sections, required, optional, expected)
    for sections in (good, empty):
        cases += [(sections, 0, 2, "ok"), (sections, 2, 0, "ok"), (sections, 2, 2, "ok")]
        cases += [(sections, 3, 0, "CorruptLangDB"), (sections, 0, 0, "CorruptLangDB")]
        cases += [(sections, 0, 1 << 5, "CorruptLangDB")]
    for sid in (DISPLAY_IDS, DISPLAY_OFFSETS, DISPLAY_BYTES):
        without = {k: v for k, v in good.items() if k != sid}
        cases += [(without, 0, 2, "CorruptLangDB"), (without, 0, 0, "CorruptLangDB")]
        only = {**base, sid: good[sid]}
        cases += [(only, 0, 0, "CorruptLangDB"), (only, 0, 2, "CorruptLangDB")]
        # At another order: a known kind where it does not belong.
        moved = {k: v for k, v in good.items() if k != sid}
        moved[sid | 1] = good[sid]
        cases += [
            (moved, 0, 2, "CorruptLangDB"),
            ({**good, sid | 1: good[sid]}, 0, 2, "CorruptLangDB"),
        ]
        for other in range(0, 7):  # every element type
            cases.append(({**good, sid: (other, good[sid][1])}, 0, 2, None))
    for id_type in (ElemType.U16, ElemType.U24, ElemType.U32):
        cases.append(({**base, **display_sections({word: form}, id_type)}, 0, 2, "ok"))
    offsets = good[DISPLAY_OFFSETS][1]
    for bad_offsets in (
        offsets[:-4],  # one entry short
        offsets + offsets[-4:],  # one entry too many
        struct.pack("<II", 1, len(form)),  # not starting at 0
        struct.pack("<II", 0, len(form) - 1),  # not ending at len(DISPLAY_BYTES)
        struct.pack("<II", 0, len(form) + 1),
        b"",
    ):
        cases.append(
            ({**good, DISPLAY_OFFSETS: (ElemType.U32, bad_offsets)}, 0, 2, "CorruptLangDB")
        )
    cases.append(({**good, DISPLAY_BYTES: (ElemType.U8, form + b"x")}, 0, 2, "CorruptLangDB"))
    cases.append(({**good, DISPLAY_IDS: (ElemType.U8, b"")}, 0, 2, "CorruptLangDB"))
    for sections, required, optional, expected in cases:
        data = bytes(assemble(sections, minor=2, required=required, optional=optional))
        judged = python_open(data)
        assert native_open(data) == judged, (sorted(sections), required, optional)
        if expected is not None:
            assert judged == expected, (sorted(sections), required, optional)
        if judged == "ok":
            assert native_verify(data) == python_verify(data)
            assert_same_display(data)


def test_display_forms_are_verified_as_the_reader_verifies_them(base_file):
    """Format 1.2 in verify(): ids strictly increasing in 3..V-1, offsets non-decreasing,
    each form strict UTF-8, not its word, and folding to it character by character."""
    vocab = [
        *SPECIAL_TOKENS,
        *sorted(
            ["i", "k", "kiss", "ss", "straße", "σ", "ς", "don't", "a-b", "é", "1984"],
            key=str.encode,
        ),
    ]
    model = random_model(seed=5, vocab=vocab, order=3)
    plain = written(model)
    base = sections_of(plain)
    ids = {w: i for i, w in enumerate(vocab)}
    V = len(vocab)

    def judge(forms: dict[int, bytes] | None = None, sections: dict | None = None) -> str:
        extra = sections if sections is not None else display_sections(forms)
        data = bytes(assemble({**base, **extra}, minor=2, optional=2))
        assert native_open(data) == python_open(data) == "ok"
        verdict = python_verify(data)
        assert native_verify(data) == verdict, (forms, sections)
        assert_same_display(data)
        return verdict

    valid = [
        {ids["i"]: b"I"},
        {ids["i"]: "\u0130".encode()},  # DOTTED CAPITAL I: its simple lowercase is i
        {ids["k"]: "\u212a".encode(), ids["kiss"]: b"KISS"},  # KELVIN SIGN folds to k
        {ids["kiss"]: "\u212aiSs".encode()},  # 3 bytes that fold to 1
        {ids["straße"]: "STRA\u1e9eE".encode()},  # capital sharp s folds to ß
        {ids["σ"]: "Σ".encode()},
        {ids["don't"]: "don\u2019t".encode(), ids["a-b"]: "A\u2010B".encode()},
        {ids["a-b"]: "a\u2011b".encode(), ids["é"]: "É".encode()},
        {ids[w]: w.upper().encode() for w in ("i", "k", "kiss", "ss", "σ", "é")},
        {},
    ]
    for forms in valid:
        assert judge(forms) == "ok", forms
    corrupt = [
        {ids["i"]: b"i"},  # the word itself
        {ids["1984"]: b"1984"},
        {ids["ς"]: "Σ".encode()},  # folds to σ, not ς
        {ids["straße"]: b"STRASSE"},  # full case folding, not simple
        {ids["ss"]: "\u1e9e".encode()},
        {ids["kiss"]: b"KIS"},  # a character less
        {ids["kiss"]: b"KISSS"},
        {ids["i"]: b"I "},
        {ids["i"]: b""},
        {ids["don't"]: b"DONT"},
        {ids["don't"]: "DON\u02bcT".encode()},  # MODIFIER LETTER APOSTROPHE is no joiner
        {ids["a-b"]: "A\u2012B".encode()},  # FIGURE DASH neither
        {ids["é"]: "E\u0301".encode()},  # decomposed: no normalization
        {ids["i"]: b"\xc9"},  # truncated sequence
        {ids["i"]: b"\xc1\x89"},  # overlong I
        {ids["i"]: b"\xe0\x81\x89"},
        {ids["i"]: b"\xed\xa0\x80"},  # a surrogate
        {ids["i"]: b"I\xff"},
        {ids["i"]: b"I\x00"},
        {ids["é"]: "É".encode()[:1]},
    ]
    for forms in corrupt:
        assert judge(forms) == "CorruptLangDB", forms
    good = {ids["i"]: b"I", ids["kiss"]: b"Kiss", ids["é"]: "É".encode()}
    ordered = display_sections(good)
    id_bytes = ordered[DISPLAY_IDS][1]
    for bad_ids in (
        bytes(reversed(id_bytes)),  # decreasing
        id_bytes[:1] * 3,  # repeated
        bytes([2]) + id_bytes[1:],  # a special id
        bytes([0]) + id_bytes[1:],
        id_bytes[:2] + bytes([V]),  # outside the vocabulary
        id_bytes[:2] + bytes([255]),
    ):
        assert judge(sections={**ordered, DISPLAY_IDS: (ElemType.U8, bad_ids)}) == "CorruptLangDB"
    forms_bytes = ordered[DISPLAY_BYTES][1]
    # Decreasing; then non-decreasing but cutting the forms elsewhere (an empty form).
    for bad_offsets in ([0, 2, 1, len(forms_bytes)], [0, 0, 5, len(forms_bytes)]):
        packed = b"".join(struct.pack("<I", o) for o in bad_offsets)
        assert (
            judge(sections={**ordered, DISPLAY_OFFSETS: (ElemType.U32, packed)}) == "CorruptLangDB"
        )


def test_zero_length_and_overlapping_sections(base_file):
    """Overlap is judged on (offset, length) order as the reader does, zero-length included."""
    data = bytearray(base_file)
    count = struct.unpack_from("<I", data, 40)[0]
    for i in range(count):
        for j in range(count):
            if i == j:
                continue
            moved = bytearray(data)
            _, _, offset_j, _, _ = SECTION_ENTRY.unpack_from(moved, 64 + 32 * j)
            struct.pack_into("<Q", moved, 64 + 32 * i + 8, offset_j)
            fix_checksums(moved)
            assert native_open(moved) == python_open(moved), (i, j)


def test_open_path(tmp_path, base_file):
    path = tmp_path / "x.langdb"
    path.write_bytes(base_file)
    engine = native.NativeEngine.from_path(str(path))
    assert engine.vocab_size > 3
    engine.close()
    (tmp_path / "empty.langdb").write_bytes(b"")
    with pytest.raises(errors.TruncatedLangDB):
        native.NativeEngine.from_path(str(tmp_path / "empty.langdb"))
    with pytest.raises(OSError):
        native.NativeEngine.from_path(str(tmp_path / "missing.langdb"))
    with pytest.raises(OSError):
        native.NativeEngine.from_path(str(tmp_path))  # not a regular file


def test_predict_arguments(base_file):
    engine = native.NativeEngine.from_buffer(base_file)
    with pytest.raises(ValueError):
        engine.predict("w0", 257)
    with pytest.raises(ValueError):
        engine.predict("w0", -1)
    assert engine.predict("w0", 0) == []
    assert len(engine.predict("", 256)) == engine.vocab_size - 3
    with pytest.raises(ValueError):
        engine.score([0], 10**6)
    for history, sentence in ((65537, 0), (0, 65537), (-1, 0)):
        with pytest.raises(ValueError):
            engine.context_ids("w0 w1", history, sentence)
    got = engine.context_ids("w0 w1 " * 40_000, 65536, 65536)  # the largest lists
    assert len(got.history) == 65536 and len(got.sentence) == 65536
    engine.close()


# --- memory safety on hostile files, under sanitizers ------------------------------------


def hostile_files(seed_files: list[bytes], count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    result = []
    for i in range(count):
        base = seed_files[i % len(seed_files)]
        data = bytearray(base)
        entries = list(sections_of(base).items())
        choice = rng.random()
        if choice < 0.6:  # data damage behind valid checksums: what open cannot see
            display = [e for e in entries if e[0] >> 8 in DISPLAY_KINDS]
            sid, (elem_type, content) = rng.choice(
                display if display and rng.random() < 0.4 else entries
            )
            if not content:
                continue
            changed = bytearray(content)
            for _ in range(rng.randint(1, 6)):
                p = rng.randrange(len(changed))
                changed[p] = rng.choice(
                    [0, 0xFF, rng.randrange(256), changed[p] ^ (1 << rng.randrange(8))]
                )
            sections = dict(entries)
            sections[sid] = (elem_type, bytes(changed))
            data = assemble(sections, **header_fields(base))
        elif choice < 0.8:
            header_size = struct.unpack_from("<I", data, 12)[0]
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(header_size)] = rng.randrange(256)
            fix_checksums(data)
        elif choice < 0.9:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        result.append(bytes(data))
    return result


@pytest.fixture(scope="module")
def sanitized_harness(tmp_path_factory) -> Path:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed for the sanitizer build")
    build = tmp_path_factory.mktemp("sanitize")
    run = subprocess.run(
        ["make", "-C", str(NATIVE), f"BUILD={build}", "sanitize"], capture_output=True, text=True
    )
    if run.returncode != 0:
        pytest.skip(f"the sanitizer build failed here (no libasan?): {run.stderr[-500:]}")
    harness = build / "harness"
    subprocess.run(
        [
            "cc",
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-std=c99",
            f"-I{NATIVE / 'include'}",
            str(NATIVE / "tests" / "harness.c"),
            str(build / "sanitize" / "libkeyglide.a"),
            "-o",
            str(harness),
        ],
        check=True,
    )
    return harness


SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}
HARNESS_STATUSES = {
    0: "ok",
    3: "CorruptLangDB",
    4: "TruncatedLangDB",
    5: "ChecksumMismatch",
    6: "IncompatibleLangDB",
}


def run_harness(harness: Path, files: list[Path]) -> list[tuple[str, str]]:
    """The sanitized harness over ``files``: asserts that no sanitizer reported anything and
    returns each file's (open, verify) outcome as the Python error class names (verify is
    "-" when the open failed)."""
    run = subprocess.run(
        [str(harness), *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, **SANITIZER_ENV},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "runtime error" not in run.stderr, run.stderr[-3000:]
    assert "AddressSanitizer" not in run.stderr, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len(lines) == len(files), run.stdout
    result = []
    for line in lines:
        opened, verified = line.split()
        judged = verified if verified == "-" else HARNESS_STATUSES[int(verified)]
        result.append((HARNESS_STATUSES[int(opened)], judged))
    return result


@pytest.mark.slow
def test_hostile_files_never_read_out_of_bounds(tmp_path, sanitized_harness):
    rng = random.Random(11)
    seeds = []
    for s in range(6):
        vocab = [
            *SPECIAL_TOKENS,
            *sorted(
                {
                    "".join(rng.choice("abeyzàéßдя09") for _ in range(rng.randint(1, 4)))
                    for _ in range(rng.randint(0, 60))
                },
                key=str.encode,
            ),
        ]
        model = random_model(
            seed=s, vocab=vocab, order=2 + s % 4, max_per_order=400, prob_width=1 + s % 2
        )
        seeds.append(written(model))
        # The same with display forms (format 1.2): damage to them must stay in bounds too.
        forms = display_forms(vocab, random.Random(s), 0.6)
        seeds.append(written(dataclasses.replace(model, display_forms=forms)))
    seeds.append(written(display_model(seed=7, order=3)))
    files = []
    for i, data in enumerate(seeds + hostile_files(seeds, 800, seed=5)):
        path = tmp_path / f"{i:04d}.langdb"
        path.write_bytes(data)
        files.append(path)
    for path, (opened, verified) in zip(files, run_harness(sanitized_harness, files), strict=True):
        data = path.read_bytes()
        assert opened == python_open(data), path.name
        if verified != "-":
            assert verified == python_verify(data), path.name
            assert_same_display(data)


def column_values(elem_type: int, content: bytes) -> list[int]:
    width = {ElemType.U8: 1, ElemType.U16: 2, ElemType.U24: 3, ElemType.U32: 4}[elem_type]
    return [int.from_bytes(content[i : i + width], "little") for i in range(0, len(content), width)]


def childless_last_word_model(seed: int, order: int):
    """A random model in which the last word (id V - 1) has no children at order 2 and the
    word before it has some: WORDS_2 ends with that word's children, in increasing order."""
    rng = random.Random(seed)
    words = sorted(
        {"".join(rng.choice("abcdeéz") for _ in range(rng.randint(1, 3))) for _ in range(20)},
        key=str.encode,
    )
    vocab = [*SPECIAL_TOKENS, *words]
    last = len(vocab) - 1
    heads = ["<s>", *vocab[3:last]]  # every word that may start an n-gram: not the last one
    targets = ["</s>", *vocab[3:]]
    scores = [-40000, -25000, -12000, -3000]
    ngrams = {f"{vocab[last - 1]} {w}": (rng.choice(scores), 0) for w in rng.sample(targets, 4)}
    for head in rng.sample(heads, len(heads) // 2):
        for w in rng.sample(targets, rng.randint(1, 5)):
            ngrams[f"{head} {w}"] = (rng.choice(scores), rng.choice(scores) // 10)
    for n in range(3, order + 1):
        shorter = [k for k in ngrams if len(k.split()) == n - 1 and k.split()[-1] != "</s>"]
        for key in rng.sample(shorter, max(1, len(shorter) // 2)):
            for w in rng.sample(targets, rng.randint(1, 3)):
                ngrams[f"{key} {w}"] = (rng.choice(scores), 0)
    return build_model(vocab, ngrams)


def children_past_the_words(model) -> bytes:
    """The model's file with the interior entry CHILDREN_1[V - 1] set to 0xFFFFFFFF and
    WORDS_2 laid out last, every CRC correct: open checks only CHILDREN_1's end points, so it
    opens; a verify that walked the children of word V - 2 to that entry before bounding it
    would read WORDS_2 past the end of the file."""
    data = written(model)
    sections = sections_of(data)
    children_id, words_id = section_id(Kind.CHILDREN, 1), section_id(Kind.WORDS, 2)
    children = column_values(*sections[children_id])
    words = column_values(*sections[words_id])
    v = len(model.vocab)
    # The preconditions of the read past the end: the children of V - 2 end WORDS_2.
    assert children[v - 2] < children[v - 1] == children[v] == len(words)
    assert words[children[v - 2] :] == sorted(set(words[children[v - 2] :]))
    children[v - 1] = 0xFFFFFFFF
    sections[children_id] = (ElemType.U32, b"".join(struct.pack("<I", c) for c in children))
    out = bytes(assemble(sections, **header_fields(data), last=(words_id,)))
    entries = [SECTION_ENTRY.unpack_from(out, 64 + 32 * i) for i in range(len(sections))]
    assert max((e[2] + e[3], e[0]) for e in entries) == (len(out), words_id)  # WORDS_2 ends it
    return out


def test_verify_bounds_every_children_entry_before_reading_words(tmp_path, sanitized_harness):
    """An interior CHILDREN_n entry past the end of WORDS_{n+1} (which open does not check)
    is refused by verify as corrupt, in both engines, without a read past the buffer: the
    sanitized harness holds each file in a heap block of exactly its size."""
    files = []
    for seed, order in enumerate([2, 3, 4, 5, 2, 3]):
        data = children_past_the_words(childless_last_word_model(seed, order))
        assert native_open(data) == python_open(data) == "ok", seed
        assert python_verify(data) == "CorruptLangDB", seed
        assert native_verify(data) == "CorruptLangDB", seed
        path = tmp_path / f"{seed}.langdb"
        path.write_bytes(data)
        files.append(path)
    assert run_harness(sanitized_harness, files) == [("ok", "CorruptLangDB")] * len(files)


FUZZ_REGRESSIONS = NATIVE / "fuzz" / "regressions"


def test_fuzz_regressions_stay_in_bounds(sanitized_harness):
    """Every input in native/fuzz/regressions/ (what the fuzz target once crashed on) runs
    through the sanitized harness without a report, judged as the reader judges it."""
    files = sorted(p for p in FUZZ_REGRESSIONS.iterdir() if p.is_file() and p.suffix != ".md")
    assert files, f"no regression inputs in {FUZZ_REGRESSIONS}"
    for path, (opened, verified) in zip(files, run_harness(sanitized_harness, files), strict=True):
        data = path.read_bytes()
        assert opened == python_open(data), path.name
        if verified != "-":
            assert verified == python_verify(data), path.name


# --- the standalone build and its example -------------------------------------------------


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Path:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed to build native/ standalone")
    build = tmp_path_factory.mktemp("native-build")
    subprocess.run(["make", "-C", str(NATIVE), f"BUILD={build}"], check=True, capture_output=True)
    return build


def test_standalone_build_outputs(standalone):
    for name in ("libkeyglide.a", "libkeyglide.so", "predict", "bench"):
        assert (standalone / name).exists(), name
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(standalone / "libkeyglide.so")],
        capture_output=True,
        text=True,
    )
    if symbols.returncode == 0:
        exported = {line.split()[-1] for line in symbols.stdout.splitlines() if " T " in line}
        declared = set(
            re.findall(
                r"KG_API [^;]*?\b(kg_\w+)\(", (NATIVE / "include" / "keyglide.h").read_text()
            )
        )
        assert exported == declared


def test_example_prints_what_the_engine_answers(standalone, tmp_path, seed_file):
    """examples/predict.c prints the reference engine's suggestions, display forms (format
    1.2) included."""
    path = tmp_path / "x.langdb"
    path.write_bytes(seed_file)
    with LangDBFile.open(path) as f:
        reference = ReferenceEngine(f)
        for words_, k in [
            (["w01", "w02", ""], 3),
            (["don'"], 5),
            (["é", "дом"], 10),
            (["Hello.", "w0"], 256),
            ([], 3),
            (["I", "lon"], 3),
            ([], 256),
        ]:
            run = subprocess.run(
                [str(standalone / "predict"), str(path), "-k", str(k), *words_],
                capture_output=True,
                check=True,
            )
            expected = "".join(
                f"{s.word}\t{s.score}\n" for s in reference.predict(" ".join(words_), k)
            )
            assert run.stdout.decode("utf-8") == expected
    bad = subprocess.run(
        [str(standalone / "predict"), str(tmp_path / "missing.langdb"), "x"], capture_output=True
    )
    assert bad.returncode == 1 and b"cannot read" in bad.stderr
    assert subprocess.run([str(standalone / "predict")], capture_output=True).returncode == 2


def readme_program() -> str:
    """The minimal program of native/README.md ("Embedding the C kernel")."""
    readme = (NATIVE / "README.md").read_text(encoding="utf-8")
    programs = [b for b in re.findall(r"```c\n(.*?)```", readme, re.S) if "embed.c" in b]
    assert len(programs) == 1, "native/README.md should hold one embed.c program"
    return programs[0]


def test_the_readme_program_builds_and_answers(standalone, tmp_path, seed_file):
    """The README's program, linked with the static and with the shared library, prints the
    reference engine's answers twice: opened from a path, then from memory (display forms
    included)."""
    source = tmp_path / "embed.c"
    source.write_text(readme_program(), encoding="utf-8")
    links = {
        "static": [str(standalone / "libkeyglide.a")],
        "shared": [f"-L{standalone}", "-lkeyglide", f"-Wl,-rpath,{standalone}"],
    }
    binaries = {}
    for kind, link in links.items():
        binaries[kind] = tmp_path / f"embed-{kind}"
        subprocess.run(
            ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
            + [f"-I{NATIVE / 'include'}", str(source), *link, "-o", str(binaries[kind])],
            check=True,
            capture_output=True,
        )
    path = tmp_path / "x.langdb"
    path.write_bytes(seed_file)
    with LangDBFile.open(path) as f:
        reference = ReferenceEngine(f)
        for query in ["w01 w02 ", "don'", "é дом w1", "", "I l"]:
            expected = "".join(f"{s.word}\t{s.score}\n" for s in reference.predict(query, 5))
            for kind, binary in binaries.items():
                run = subprocess.run([binary, path, query], capture_output=True, check=True)
                assert run.stdout.decode("utf-8") == expected * 2, (kind, query)
    bad = subprocess.run(
        [binaries["static"], tmp_path / "missing.langdb", "x"], capture_output=True
    )
    assert bad.returncode == 1 and b"missing.langdb" in bad.stderr


# --- the binding ------------------------------------------------------------------------


def header_version() -> tuple[int, int, int]:
    header = (NATIVE / "include" / "keyglide.h").read_text()
    major, minor, patch = (
        int(re.search(rf"^#define KG_VERSION_{p} (\d+)\s*$", header, re.M).group(1))
        for p in ("MAJOR", "MINOR", "PATCH")
    )
    return major, minor, patch


def test_library_version():
    """The C library's version is the header's KG_VERSION_* (its own, not the SDK's): the
    compiled kernel's string and number say it, and it never goes below 1.5.1, released."""
    major, minor, patch = header_version()
    assert native.kernel_version() == f"{major}.{minor}.{patch}"
    assert native.lib.kg_version_number() == major * 10000 + minor * 100 + patch
    assert native.lib.KG_VERSION_NUMBER == native.lib.kg_version_number()
    assert (major, minor, patch) >= (1, 5, 1)


def test_extension_is_stamped_with_the_sdk_version():
    """What ties the Python side to its kernel: the extension's stamp, checked at import."""
    assert native.ffi.string(native.lib.kg_py_build_version()).decode() == __version__
    assert native._extension_problem(native.ffi, native.lib) is None


def test_the_sdk_version_does_not_constrain_the_library_version(monkeypatch):
    """build_ffi.py builds whatever the two versions are."""
    sys.path.insert(0, str(NATIVE))
    try:
        import build_ffi
    finally:
        sys.path.remove(str(NATIVE))
    monkeypatch.setattr(build_ffi, "sdk_version", lambda: "9.8.7")
    builder = build_ffi.make_builder()
    assert builder._assigned_source[3]["define_macros"] == [("KG_PY_SDK_VERSION", '"9.8.7"')]


def ffi_with_suggestion(fields: str):
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(f"typedef struct kg_suggestion {{ {fields} }} kg_suggestion;")
    return ffi


def test_suggestion_layout_is_checked():
    """Predictions are read as pairs of 32-bit integers: a kg_suggestion laid out otherwise
    is reported, with what it has and what is read."""
    assert native.ffi.sizeof("kg_suggestion") == 8
    assert native._suggestion_layout_problem(native.ffi) is None
    for fields in (
        "int32_t score; uint32_t word_id;",  # swapped
        "uint32_t word_id; int64_t score;",  # wider
        "uint32_t word_id; uint32_t score;",  # unsigned score
        "uint32_t id; int32_t score;",  # renamed
    ):
        problem = native._suggestion_layout_problem(ffi_with_suggestion(fields))
        assert problem is not None and "kg_suggestion" in problem, fields
        assert "'word_id': (0, 'uint32_t'), 'score': (4, 'int32_t')" in problem


def test_an_extension_with_another_suggestion_layout_is_refused(monkeypatch):
    other = ffi_with_suggestion("uint32_t word_id; int64_t score;")
    problem = native._extension_problem(other, native.lib)
    assert problem is not None and "kg_suggestion of 16 bytes" in problem
    monkeypatch.setattr(native, "_PROBLEM", problem)
    assert native.available() == (False, problem)
    with pytest.raises(ImportError, match="kg_suggestion of 16 bytes"):
        native.NativeEngine.from_buffer(b"")


def test_a_stale_extension_is_refused(monkeypatch):
    monkeypatch.setattr(native, "_PROBLEM", "built for keyglide 0.0.1")
    assert native.available() == (False, "built for keyglide 0.0.1")
    with pytest.raises(ImportError, match="0.0.1"):
        native.NativeEngine.from_buffer(b"")


def test_cdef_covers_the_header():
    sys.path.insert(0, str(NATIVE))
    try:
        import build_ffi
    finally:
        sys.path.remove(str(NATIVE))
    header = (NATIVE / "include" / "keyglide.h").read_text()
    cdef = build_ffi.cdef_from_header(header)
    for name in re.findall(r"KG_API [^;]*?\b(kg_\w+)\(", header):
        assert f"{name}(" in cdef
    assert "KG_API" not in cdef and "extern" not in cdef


def test_threads_share_one_handle(base_file):
    engine = native.NativeEngine.from_buffer(base_file)
    texts = [f"w{i:02d} w{(i * 7) % 30:02d} " + ("w1" if i % 3 else "") for i in range(60)]
    serial = [(engine.predict(t, 5), engine.score_sum(t)) for t in texts]
    results: list = [None] * 8
    errors_: list = []

    def work(slot):
        try:
            results[slot] = [
                [(engine.predict(t, 5), engine.score_sum(t)) for t in texts] for _ in range(20)
            ]
        except Exception as e:  # pragma: no cover - reported below
            errors_.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors_
    for r in results:
        assert all(run == serial for run in r)
    engine.close()


def test_close_while_predicting_is_safe(base_file):
    for _ in range(20):
        engine = native.NativeEngine.from_buffer(base_file)
        stop = threading.Event()
        failures: list = []

        def hammer(engine=engine, stop=stop, failures=failures):
            while not stop.is_set():
                try:
                    engine.predict("w01 w02 ", 256)
                except ValueError:
                    return  # closed
                except Exception as e:  # pragma: no cover
                    failures.append(e)
                    return

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        engine.close()
        stop.set()
        for t in threads:
            t.join()
        assert not failures


@needs_toolchain
def test_without_mmap_open_path_reads_the_file_and_answers_the_same(tmp_path):
    """The build for platforms without mmap (Windows; here -DKG_NO_MMAP) reads the file into
    memory at kg_open_path and frees it at kg_close: the same answers as the mapped build."""
    fixtures = ROOT / "langdb" / "fixtures"
    binaries = {}
    for name, flags in (("mapped", []), ("read", ["-DKG_NO_MMAP"])):
        binaries[name] = tmp_path / f"predict-{name}"
        subprocess.run(
            ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O1", *flags,
             "-DKG_BUILDING_LIBRARY", f"-I{NATIVE / 'include'}", f"-I{NATIVE / 'src'}",
             *sorted(map(str, (NATIVE / "src").glob("*.c"))),
             str(NATIVE / "examples" / "predict.c"), "-o", str(binaries[name])],
            check=True,
            capture_output=True,
        )  # fmt: skip
    for fixture in ("1.2/display-3.langdb", "1.0/small-3.langdb", "1.0/truncated.langdb"):
        for query in ("I l", "w01 ", ""):
            answers = [
                subprocess.run([binary, fixtures / fixture, query], capture_output=True)
                for binary in binaries.values()
            ]
            assert answers[0].returncode == answers[1].returncode, (fixture, query)
            assert answers[0].stdout == answers[1].stdout, (fixture, query)
    missing = subprocess.run([binaries["read"], tmp_path / "none.langdb", "x"], capture_output=True)
    assert missing.returncode == 1
