"""The C kernel (``native/``) on its own terms: the tokenization contract byte for byte,
opening and verifying files exactly as the Python reader judges them, memory safety on
hostile files (under address and undefined-behaviour sanitizers), the standalone build and
its example, the binding's version stamp and threads sharing one handle.

Answers on valid files are compared with the reference engine in test_equivalence.py.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from conftest import random_model, written
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


# Every class of the contract, plus characters whose fold changes their UTF-8 length.
INTERESTING = (
    "aZ09éÉßẞİıΣσςДяK\u212a\u023a\u0301\u0663\u00b2\u2167\u3042\u4e00\U0001d400\U00010400"
    "'\u2019-\u2010\u2011"
    ".!?\u2026\u203c\u203d\u2047\u2048\u2049\u3002\uff01\uff1f\uff0e\u061f\u0964\u0965"
    " \t\n\n\r\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    ',;:"()[]@#$%&*/\\_\u2014\u00ab\u00bb\u00a7\U0001f600\ufffd\x00\x7f\u200b\u200d\ufeff\ud800\udfff'
)

any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
words = st.sampled_from(
    [
        "mr",
        "Mr",
        "MRS",
        "ms",
        "messrs",
        "dr",
        "St",
        "jr",
        "sr",
        "prof",
        "rev",
        "capt",
        "col",
        "gen",
        "lt",
        "sgt",
        "hon",
        "mme",
        "mlle",
        "vs",
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
) -> bytearray:
    """A langdb with exactly these sections (id -> (elem_type, bytes)), laid out and
    checksummed as the format says: whatever the sections mean."""
    count = len(sections)
    offset = 64 + 32 * count
    table, body = b"", b""
    for sid in sorted(sections):
        elem_type, data = sections[sid]
        pad = -offset % 8
        body += bytes(pad)
        offset += pad
        table += SECTION_ENTRY.pack(sid, elem_type, offset, len(data), zlib.crc32(data))
        body += data
        offset += len(data)
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


def test_every_header_and_table_byte(base_file):
    """Each byte of the header and section table changed (CRC recomputed or not): the
    kernel's open gives the reader's outcome, error class included."""
    header_size = struct.unpack_from("<I", base_file, 12)[0]
    for position in range(header_size):
        for value in {base_file[position] ^ 1, base_file[position] ^ 0x80, 0, 0xFF}:
            data = bytearray(base_file)
            data[position] = value
            assert native_open(data) == python_open(data), (position, value)
            fix_checksums(data)
            assert native_open(data) == python_open(data), (position, value, "fixed")


def test_truncated_and_extended_files(base_file):
    for size in [*range(0, 80), *range(80, len(base_file), 37), len(base_file) - 1]:
        data = base_file[:size]
        assert native_open(data) == python_open(data), size
    for extra in (1, 7, 8, 100):
        data = base_file + bytes(extra)
        assert native_open(data) == python_open(data) == "CorruptLangDB"


@given(st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_mutated_files_are_judged_as_the_reader_judges_them(base_file, data):
    """Random byte changes anywhere, with or without the CRCs recomputed: open and verify
    agree with the reader; where both accept every byte, both engines answer alike."""
    mutated = bytearray(base_file)
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
    engine = native.NativeEngine.from_buffer(mutated)
    try:
        texts = ["", "w0", "w01 w02 ", "don'", "é дом w1", "Hello. w03 w04 w05 "]
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


def test_data_damage_is_caught_by_verify(base_file):
    """Every section's bytes changed one at a time (CRC recomputed): verify refuses exactly
    when the reader's verify refuses."""
    for sid, (elem_type, content) in sections_of(base_file).items():
        if not content:
            continue
        for position in sorted({0, len(content) // 2, len(content) - 1}):
            for delta in (1, 255, 128):
                changed = bytearray(content)
                changed[position] = (changed[position] + delta) % 256
                sections = sections_of(base_file)
                sections[sid] = (elem_type, bytes(changed))
                data = bytes(assemble(sections))
                assert native_open(data) == python_open(data), (hex(sid), position, delta)
                if native_open(data) == "ok":
                    assert native_verify(data) == python_verify(data), (hex(sid), position, delta)


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
        (1, 0, 1 << 1, 0, "IncompatibleLangDB"),
        (1, 0, 0, 1 << 40, "ok"),
        # BLOCKLIST (bit 0) is known: set without its section, the file is corrupt.
        (1, 1, 1, 0, "CorruptLangDB"),
        (1, 1, 0, 1, "CorruptLangDB"),
    ]:
        data = bytes(assemble(base, major=major, minor=minor, required=required, optional=optional))
        assert native_open(data) == python_open(data) == expected
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
    engine.close()


# --- memory safety on hostile files, under sanitizers ------------------------------------


def hostile_files(seed_files: list[bytes], count: int, seed: int) -> list[bytes]:
    import random

    rng = random.Random(seed)
    result = []
    for i in range(count):
        base = seed_files[i % len(seed_files)]
        data = bytearray(base)
        entries = list(sections_of(base).items())
        choice = rng.random()
        if choice < 0.6:  # data damage behind valid checksums: what open cannot see
            sid, (elem_type, content) = rng.choice(entries)
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
            data = assemble(sections)
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


def test_hostile_files_never_read_out_of_bounds(tmp_path, sanitized_harness):
    import random

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
        seeds.append(
            written(
                random_model(
                    seed=s, vocab=vocab, order=2 + s % 4, max_per_order=400, prob_width=1 + s % 2
                )
            )
        )
    files = []
    for i, data in enumerate(seeds + hostile_files(seeds, 600, seed=5)):
        path = tmp_path / f"{i:04d}.langdb"
        path.write_bytes(data)
        files.append(path)
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        "UBSAN_OPTIONS": "print_stacktrace=1",
    }
    run = subprocess.run(
        [str(sanitized_harness), *map(str, files)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr[
        -3000:
    ]
    statuses = {
        0: "ok",
        3: "CorruptLangDB",
        4: "TruncatedLangDB",
        5: "ChecksumMismatch",
        6: "IncompatibleLangDB",
    }
    for path, line in zip(files, run.stdout.splitlines(), strict=True):
        opened, verified = line.split()
        data = path.read_bytes()
        assert statuses[int(opened)] == python_open(data), path.name
        if verified != "-":
            assert statuses[int(verified)] == python_verify(data), path.name


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


def test_example_prints_what_the_engine_answers(standalone, tmp_path, base_file):
    path = tmp_path / "x.langdb"
    path.write_bytes(base_file)
    with LangDBFile.open(path) as f:
        reference = ReferenceEngine(f)
        for words_, k in [
            (["w01", "w02", ""], 3),
            (["don'"], 5),
            (["é", "дом"], 10),
            (["Hello.", "w0"], 256),
            ([], 3),
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


def test_the_readme_program_builds_and_answers(standalone, tmp_path, base_file):
    """The README's program, linked with the static and with the shared library, prints the
    reference engine's answers twice: opened from a path, then from memory."""
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
    path.write_bytes(base_file)
    with LangDBFile.open(path) as f:
        reference = ReferenceEngine(f)
        for query in ["w01 w02 ", "don'", "é дом w1", ""]:
            expected = "".join(f"{s.word}\t{s.score}\n" for s in reference.predict(query, 5))
            for kind, binary in binaries.items():
                run = subprocess.run([binary, path, query], capture_output=True, check=True)
                assert run.stdout.decode("utf-8") == expected * 2, (kind, query)
    bad = subprocess.run(
        [binaries["static"], tmp_path / "missing.langdb", "x"], capture_output=True
    )
    assert bad.returncode == 1 and b"missing.langdb" in bad.stderr


# --- the binding ------------------------------------------------------------------------


def test_version_stamp():
    """The version is written once, in sdk/keyglide/_version.py: the header's KG_VERSION_*
    (which build_ffi.py also refuses to build against if they differ), the compiled kernel's
    version string and number all equal it."""
    assert native.kernel_version() == __version__
    header = (NATIVE / "include" / "keyglide.h").read_text()
    parts = [
        re.search(rf"^#define KG_VERSION_{p} (\d+)\s*$", header, re.M).group(1)
        for p in ("MAJOR", "MINOR", "PATCH")
    ]
    assert ".".join(parts) == __version__
    major, minor, patch = map(int, __version__.split("."))
    assert native.lib.kg_version_number() == major * 10000 + minor * 100 + patch
    assert native.lib.KG_VERSION_NUMBER == native.lib.kg_version_number()


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
