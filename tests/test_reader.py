"""The reader: structure checks on open, verify(), typed errors only, columns, vocabulary.

Damaged files are made two ways: by flipping or cutting bytes of a written file, and by
assembling sections with a small independent assembler below (``assemble``), which lets a
test tell any lie with valid checksums so that the check behind the checksum is exercised.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import zlib

import keyglide
import numpy as np
import pytest
from conftest import models, random_model, written
from hypothesis import given
from hypothesis import strategies as st
from keyglide.engines.reference import ReferenceEngine
from keyglide.errors import (
    ChecksumMismatch,
    CorruptLangDB,
    LangDBError,
    TruncatedLangDB,
    UnsupportedVersion,
)
from keyglide.format import (
    BYTE_ORDER_MARK,
    HEADER,
    META_MAX_DEPTH,
    SECTION_ENTRY,
    SPECIAL_TOKENS,
    UNK,
    ElemType,
    Header,
    Kind,
    header_crc,
    section_id,
)
from keyglide.reader import Column, LangDBFile, is_json_integer, json_depth, meta_problem

TINY_VOCAB = [*SPECIAL_TOKENS, "a", "b", "don't", "ß", "д"]


@pytest.fixture(scope="module")
def tiny() -> bytes:
    """A small valid file: every section present, a few hundred bytes of data."""
    return written(random_model(seed=1, vocab=TINY_VOCAB, order=3))


@pytest.fixture(scope="module")
def medium() -> bytes:
    """A file with top lists at every order and u16 codes."""
    vocab = [*SPECIAL_TOKENS, *sorted(f"w{i:02d}" for i in range(30))]
    return written(random_model(seed=5, vocab=vocab, order=3, prob_width=2, max_per_order=300))


# --- an independent assembler ---------------------------------------------------------------


def sections_of(data: bytes) -> list[tuple[int, int, bytes]]:
    """(id, elem_type, bytes) of every section, in table order."""
    count = struct.unpack_from("<I", data, 40)[0]
    result = []
    for i in range(count):
        sid, elem_type, offset, length, _ = SECTION_ENTRY.unpack_from(data, 64 + 32 * i)
        result.append((sid, elem_type, data[offset : offset + length]))
    return result


def assemble(sections, major=1, minor=0, required=0, optional=0) -> bytes:
    """A file with these sections, packed in the given order, every checksum right."""
    table_end = 64 + 32 * len(sections)
    body, entries = b"", b""
    for sid, elem_type, data in sections:
        body += bytes(-(table_end + len(body)) % 8)
        offset = table_end + len(body)
        body += data
        entries += struct.pack("<IB3xQQI4x", sid, elem_type, offset, len(data), zlib.crc32(data))
    header = struct.pack(
        "<8sHHIQQQIII12x",
        b"KGLANGDB",
        major,
        minor,
        table_end,
        required,
        optional,
        table_end + len(body),
        len(sections),
        BYTE_ORDER_MARK,
        0,
    )
    crc = zlib.crc32(header + entries)
    return header[:48] + struct.pack("<I", crc) + header[52:] + entries + body


def replaced(
    data: bytes, kind: Kind, order: int, new: bytes, elem_type: int | None = None
) -> bytes:
    """The file with one section's bytes (and maybe type) replaced, reassembled."""
    sid = section_id(kind, order)
    return assemble(
        [
            (s, elem_type if s == sid and elem_type else t, new if s == sid else d)
            for s, t, d in sections_of(data)
        ]
    )


def section(data: bytes, kind: Kind, order: int = 0) -> bytes:
    return next(d for s, _, d in sections_of(data) if s == section_id(kind, order))


def with_header(data: bytes, **fields) -> bytes:
    """The file with header fields changed and the header checksum made right again."""
    header = dataclasses.replace(Header(*HEADER.unpack_from(data)[1:]), **fields)
    return resealed(header.pack() + data[64:])


def with_entry(data: bytes, index: int, **fields) -> bytes:
    at = 64 + 32 * index
    sid, elem_type, offset, length, crc = SECTION_ENTRY.unpack_from(data, at)
    values = {"id": sid, "elem_type": elem_type, "offset": offset, "length": length, "crc": crc}
    values.update(fields)
    entry = SECTION_ENTRY.pack(*values.values())
    return resealed(data[:at] + entry + data[at + 32 :])


def resealed(data: bytes) -> bytes:
    size = struct.unpack_from("<I", data, 12)[0]
    crc = header_crc(data[:size])
    return data[:48] + struct.pack("<I", crc) + data[52:]


def opens(data: bytes) -> LangDBFile:
    return LangDBFile.from_buffer(data, name="test.langdb")


def test_the_assembler_reproduces_the_writer(tiny, medium):
    # Two independent layouts of FORMAT.md agree byte for byte.
    assert assemble(sections_of(tiny)) == tiny
    assert assemble(sections_of(medium)) == medium


# --- truncation and size ---------------------------------------------------------------------


def test_every_truncation_is_truncated(tiny):
    for length in range(len(tiny)):
        with pytest.raises(TruncatedLangDB):
            opens(tiny[:length])


@pytest.mark.parametrize("length", [0, 5, 63, 100, -1])
def test_truncated_files_on_disk(tmp_path, tiny, length):
    path = tmp_path / "cut.langdb"
    path.write_bytes(tiny[:length])
    with pytest.raises(TruncatedLangDB, match="cut.langdb"):
        LangDBFile.open(path)


def test_trailing_bytes_are_corrupt_not_truncated(tiny):
    with pytest.raises(CorruptLangDB) as error:
        opens(tiny + b"\0")
    assert not isinstance(error.value, TruncatedLangDB)


def test_a_file_that_is_not_a_langdb():
    with pytest.raises(CorruptLangDB, match="bad magic"):
        opens(b"PK\x03\x04" + bytes(200))


def test_an_unfinished_build_has_a_zero_magic(tiny):
    with pytest.raises(CorruptLangDB, match="did not finish"):
        opens(bytes(64) + tiny[64:])


# --- checksums and bit flips -----------------------------------------------------------------


def test_the_valid_files_verify(tiny, medium):
    opens(tiny).verify()
    opens(medium).verify()


@given(st.data())
def test_verify_detects_every_single_byte_flip(medium, data):
    position = data.draw(st.integers(0, len(medium) - 1))
    mask = data.draw(st.integers(1, 255))
    flipped = bytearray(medium)
    flipped[position] ^= mask
    with pytest.raises(LangDBError):
        opens(bytes(flipped)).verify()


def test_verify_detects_a_flip_at_every_structural_position(tiny):
    # Every byte but the insides of the codebooks: 5 KB of scores guarded only by their
    # checksums, which the test above samples.
    codebooks = [
        range(offset + 8, offset + length - 8)
        for sid, _, offset, length, _ in map(
            lambda i: _entry(tiny, i), range(len(sections_of(tiny)))
        )
        if sid >> 8 in (Kind.PROB_CODEBOOK, Kind.BACKOFF_CODEBOOK)
    ]
    for position in range(len(tiny)):
        if any(position in r for r in codebooks):
            continue
        flipped = bytearray(tiny)
        flipped[position] ^= 1 << position % 8
        with pytest.raises(LangDBError):
            opens(bytes(flipped)).verify()


def test_header_checksum(tiny):
    data = tiny[:48] + struct.pack("<I", 12345) + tiny[52:]
    with pytest.raises(ChecksumMismatch, match="header"):
        opens(data)


def test_meta_checksum_is_checked_on_open(tiny):
    meta = sections_of(tiny)[0]
    data = with_entry(tiny, 0, crc=zlib.crc32(meta[2]) ^ 1)
    with pytest.raises(ChecksumMismatch, match="META"):
        opens(data)


def test_other_checksums_are_checked_by_verify(tiny):
    index = next(
        i for i, (s, _, _) in enumerate(sections_of(tiny)) if s == section_id(Kind.PROB, 2)
    )
    crc = zlib.crc32(sections_of(tiny)[index][2])
    file = opens(with_entry(tiny, index, crc=crc ^ 1))  # opening reads no section data
    with pytest.raises(ChecksumMismatch, match="PROB_2"):
        file.verify()


# --- lying headers -------------------------------------------------------------------------


def test_another_major_version_is_unsupported(tiny):
    with pytest.raises(UnsupportedVersion) as error:
        opens(with_header(tiny, major=2, minor=3))
    message = str(error.value)
    assert "test.langdb" in message and "2.3" in message and "1.x" in message
    assert keyglide.__version__ in message


def test_a_later_minor_version_opens(tiny):
    file = opens(with_header(tiny, minor=9))
    file.verify()
    assert file.header.minor == 9


def test_an_unknown_required_feature_is_unsupported(tiny):
    with pytest.raises(UnsupportedVersion, match="0x4"):
        opens(with_header(tiny, required_features=4))


def test_an_unknown_optional_feature_opens_degraded(tiny):
    file = opens(with_header(tiny, optional_features=1 << 40))
    file.verify()
    assert file.ignored_features == 1 << 40
    assert file.describe()["header"]["ignored_features"] == 1 << 40


LYING_HEADERS = {
    "file longer than real": ({"file_size": 10**6}, TruncatedLangDB),
    "file shorter than real": ({"file_size": 100}, CorruptLangDB),
    "byte-order mark": ({"byte_order_mark": 0x4B474C44}, CorruptLangDB),
    "header_size": ({"header_size": 96}, CorruptLangDB),
    "section_count": ({"section_count": 3}, CorruptLangDB),
    "too many sections": ({"section_count": 5000, "header_size": 64 + 32 * 5000}, CorruptLangDB),
}


@pytest.mark.parametrize("fields,error", LYING_HEADERS.values(), ids=LYING_HEADERS.keys())
def test_lying_headers(tiny, fields, error):
    with pytest.raises(error):
        opens(with_header(tiny, **fields))


def _entry(data, index):
    return SECTION_ENTRY.unpack_from(data, 64 + 32 * index)


LYING_ENTRIES = {
    "offset past the end": (lambda d: {"offset": len(d) + 8}, TruncatedLangDB),
    "length past the end": (lambda d: {"length": (len(d) + 3) // 4 * 4}, TruncatedLangDB),
    "offset not aligned": (lambda d: {"offset": _entry(d, 5)[2] + 4}, CorruptLangDB),
    "offset inside the table": (lambda d: {"offset": 64}, CorruptLangDB),
    "overlap": (lambda d: {"offset": _entry(d, 4)[2]}, CorruptLangDB),
    "unknown element type": (lambda d: {"elem_type": 9}, CorruptLangDB),
    "disallowed element type": (lambda d: {"elem_type": ElemType.U32}, CorruptLangDB),
    "unsorted ids": (lambda d: {"id": 0x0100}, CorruptLangDB),
    "wrong entry count": (lambda d: {"length": _entry(d, 5)[3] - 4}, CorruptLangDB),
}


@pytest.mark.parametrize("change,error", LYING_ENTRIES.values(), ids=LYING_ENTRIES.keys())
def test_lying_section_entries(tiny, change, error):
    # Entry 5 is PROB_CODEBOOK_3 (i32): a section in the middle of the file.
    assert _entry(tiny, 5)[0] == section_id(Kind.PROB_CODEBOOK, 3)
    with pytest.raises(error):
        opens(with_entry(tiny, 5, **change(tiny)))


# --- required sections, types and counts (with valid checksums) -------------------------------


def test_unknown_sections_are_skipped(tiny):
    extra = [(0x7001, ElemType.U16, b"\1\0\2\0"), (0x7F00, ElemType.U8, b"future")]
    data = assemble(sorted(sections_of(tiny) + extra))
    file = opens(data)
    file.verify()
    assert ReferenceEngine(file).predict("a ", 5) == ReferenceEngine(opens(tiny)).predict("a ", 5)


def test_a_missing_section_is_named(tiny):
    data = assemble([s for s in sections_of(tiny) if s[0] != section_id(Kind.TOP_NODES, 2)])
    with pytest.raises(CorruptLangDB, match="TOP_NODES_2"):
        opens(data)


def test_a_known_section_at_a_foreign_order(tiny):
    data = assemble(sorted(sections_of(tiny) + [(section_id(Kind.BACKOFF, 3), 1, b"")]))
    with pytest.raises(CorruptLangDB, match="BACKOFF_3"):
        opens(data)


def test_the_orders_must_be_one_to_n(tiny):
    data = assemble(sorted(sections_of(tiny) + [(section_id(Kind.PROB, 5), 1, b"")]))
    with pytest.raises(CorruptLangDB, match="orders"):
        opens(data)


def test_vocab_offsets_must_be_u32(tiny):
    offsets = np.frombuffer(section(tiny, Kind.VOCAB_OFFSETS), "<u4").astype("<u2").tobytes()
    with pytest.raises(CorruptLangDB, match="VOCAB_OFFSETS"):
        opens(replaced(tiny, Kind.VOCAB_OFFSETS, 0, offsets, ElemType.U16))


def test_any_unsigned_type_reads_for_ids(tiny):
    # A wider type than the writer's choice is still a valid file.
    words = np.frombuffer(section(tiny, Kind.WORDS, 2), "<u1").astype("<u4").tobytes()
    file = opens(replaced(tiny, Kind.WORDS, 2, words, ElemType.U32))
    file.verify()
    assert ReferenceEngine(file).predict("b ", 9) == ReferenceEngine(opens(tiny)).predict("b ", 9)


def test_codebook_length_follows_the_code_width(tiny):
    book = section(tiny, Kind.PROB_CODEBOOK, 2)
    with pytest.raises(CorruptLangDB, match="PROB_CODEBOOK_2"):
        opens(replaced(tiny, Kind.PROB_CODEBOOK, 2, book[:-4]))


@pytest.mark.parametrize(
    "meta",
    [
        b"not json",
        b"[1, 2]",
        b"\xff\xfe{}",
        b'{"a": NaN}',
        b"[" * 100_000,
        b'{"a": 1' + b"0" * 5000 + b"}",
    ],
    ids=["garbage", "array", "not utf-8", "NaN", "deep", "huge int"],
)
def test_meta_must_be_a_json_object(tiny, meta):
    with pytest.raises(CorruptLangDB, match="META"):
        opens(replaced(tiny, Kind.META, 0, meta))


def test_meta_must_agree_with_the_sections(tiny):
    meta = json.loads(section(tiny, Kind.META))
    meta["ngram_counts"][1] += 1
    file = opens(replaced(tiny, Kind.META, 0, json.dumps(meta).encode()))
    with pytest.raises(CorruptLangDB, match="ngram_counts"):
        file.verify()


def _meta_spelled(tiny: bytes, key: str, spelled: str) -> bytes:
    """tiny with META's ``key`` written as the raw JSON text ``spelled``."""
    meta = json.loads(section(tiny, Kind.META))
    meta[key] = "\0VALUE"
    return replaced(
        tiny, Kind.META, 0, json.dumps(meta).replace('"\\u0000VALUE"', spelled).encode()
    )


@pytest.mark.parametrize("depth", [META_MAX_DEPTH - 1, META_MAX_DEPTH])
def test_meta_may_nest_as_deep_as_the_limit(tiny, depth):
    """The META object itself is depth 1: a value nested depth - 1 deep makes it depth."""
    opens(_meta_spelled(tiny, "deep", "[" * (depth - 1) + "]" * (depth - 1))).verify()


@pytest.mark.parametrize("depth", [META_MAX_DEPTH + 1, 600, 980])
def test_meta_nested_deeper_than_the_limit_is_corrupt(tiny, depth):
    """Refused at open however a JSON parser's recursion limit falls (FORMAT.md section 7)."""
    data = _meta_spelled(tiny, "deep", '{"a":' * (depth - 1) + "0" + "}" * (depth - 1))
    with pytest.raises(CorruptLangDB, match=f"META is nested more than {META_MAX_DEPTH}"):
        opens(data)


@pytest.mark.parametrize(
    "key,spelled",
    [
        ("order", "3.0"),
        ("order", "3e0"),
        ("order", "30e-1"),
        ("order", "3.0000000000000001"),
        ("vocab_size", "8.0"),
        ("vocab_size", "0.8e1"),
        ("ngram_counts", "[8, 1e1, 10]"),
        ("ngram_counts", "[8.0, 10, 10]"),
        ("ngram_counts", "[true, 10, 10]"),
    ],
)
def test_meta_counts_must_be_json_integers(tiny, key, spelled):
    """A number Python's == takes for the count is still not an integer literal."""
    counts = json.loads(section(tiny, Kind.META))["ngram_counts"]
    spelled = spelled.replace("[8, 1e1, 10]", f"[{counts[0]}, {counts[1]}e0, {counts[2]}]")
    spelled = spelled.replace("[8.0, 10, 10]", f"[{counts[0]}.0, {counts[1]}, {counts[2]}]")
    file = opens(_meta_spelled(tiny, key, spelled))
    with pytest.raises(CorruptLangDB, match=f"metadata {key} .* not made of JSON integers"):
        file.verify()


def test_meta_booleans_are_not_counts(tiny):
    """true == 1 in Python: a count of 1 must still be spelled 1."""
    meta = json.loads(section(tiny, Kind.META))
    facts = {"order": 2, "vocab_size": 3, "ngram_counts": [3, 1]}
    assert meta_problem({**meta, **facts}, 2, 3, [3, 1]) is None
    spelled = {**meta, **facts, "ngram_counts": [3, True]}
    assert "not made of JSON integers" in meta_problem(spelled, 2, 3, [3, 1])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return 0
    return 1 + max(map(_depth, value), default=0)


@given(json_values)
def test_json_depth_counts_nested_arrays_and_objects(value):
    assert json_depth(json.loads(json.dumps(value))) == _depth(value)


@given(json_values.filter(lambda v: not isinstance(v, (list, dict))))
def test_json_integers_are_exactly_the_integer_literals(value):
    text = json.dumps(value)
    literal = re.fullmatch(r"-?(0|[1-9][0-9]*)", text) is not None
    assert is_json_integer(json.loads(text)) == literal


# --- invariants checked by verify (valid checksums) -----------------------------------------


def _u8_edit(kind, order, index, value):
    """Set one byte of a section; ``value`` may be a function of the old byte."""

    def edit(data):
        raw = bytearray(section(data, kind, order))
        raw[index] = value(raw[index]) if callable(value) else value
        return replaced(data, kind, order, bytes(raw))

    return edit


def _swap_words(data):
    # "a" and "b" are both one byte: swapping them keeps every offset.
    raw = section(data, Kind.VOCAB_BYTES).replace(b"ab", b"ba", 1)
    return replaced(data, Kind.VOCAB_BYTES, 0, raw)


def _padding(data):
    # The first gap between two sections (there is one after VOCAB_BYTES's 23 bytes).
    entries = [SECTION_ENTRY.unpack_from(data, 64 + 32 * i) for i in range(len(sections_of(data)))]
    gaps = [a[2] + a[3] for a, b in zip(entries, entries[1:], strict=False) if a[2] + a[3] < b[2]]
    raw = bytearray(data)
    raw[gaps[0]] = 1
    return bytes(raw)


def _reserved(data):
    return resealed(data[:60] + b"\1" + data[61:])


INVARIANTS = {
    "vocabulary order": (_swap_words, "order"),
    "special spelling": (_u8_edit(Kind.VOCAB_BYTES, 0, 1, ord("U")), "<unk>"),
    "word not UTF-8": (_u8_edit(Kind.VOCAB_BYTES, 0, 14, 0xFF), "UTF-8"),
    "word id out of range": (_u8_edit(Kind.WORDS, 2, 0, 200), "outside"),
    "children decreasing": (_u8_edit(Kind.CHILDREN, 1, 1, 200), "CHILDREN"),
    "children unsorted": (_u8_edit(Kind.WORDS, 3, 1, 0), "sorted"),  # node 0's children 0, 5
    "codebook decreasing": (_u8_edit(Kind.PROB_CODEBOOK, 2, 3, 0x7F), "decreases"),
    # The last score (an unused code) made about 2^30: five such scores overflow 32 bits.
    "codebook score too high": (_u8_edit(Kind.PROB_CODEBOOK, 2, 1023, 0x3F), "beyond"),
    "<s> score": (_u8_edit(Kind.PROB, 1, 1, 3), "<s>"),
    "top list": (_u8_edit(Kind.TOP_ENTRIES, 0, 0, lambda b: (b + 1) % 8), "TOP_ENTRIES_0"),
    "padding": (_padding, "padding"),
    "reserved": (_reserved, "reserved"),
}


@pytest.mark.parametrize("damage,problem", INVARIANTS.values(), ids=INVARIANTS.keys())
def test_verify_checks_every_invariant(tiny, damage, problem):
    file = opens(damage(tiny))  # none of this is visible in O(1)
    with pytest.raises(CorruptLangDB, match=problem):
        file.verify()


# --- nothing but LangDBError escapes -----------------------------------------------------------


def _use(data: bytes) -> None:
    """Everything a caller may do with a file, without verify() first."""
    file = opens(data)
    engine = ReferenceEngine(file)
    for typed in ("", "a ", "a b ", "don", "a b. д", "zz ß a"):
        engine.predict(typed, 5)
        engine.score_sum(typed)
    file.lookup("b")
    file.prefix_range(b"d")
    file.describe()
    file.verify()


def _only_typed_errors(data: bytes) -> None:
    try:
        _use(data)
    except LangDBError:
        pass


@given(st.data())
def test_damaged_section_data_with_valid_checksums(tiny, data):
    """Random bytes changed inside sections, every checksum then made right."""
    sections = sections_of(tiny)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(sections) - 1))
        sid, elem_type, raw = sections[i]
        if not raw:
            continue
        raw = bytearray(raw)
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        sections[i] = (sid, elem_type, bytes(raw))
    _only_typed_errors(assemble(sections))


@given(st.data())
def test_damaged_table_with_a_valid_header_checksum(tiny, data):
    index = data.draw(st.integers(0, len(sections_of(tiny)) - 1))
    field = data.draw(st.sampled_from(["id", "elem_type", "offset", "length", "crc"]))
    limits = {
        "id": 2**32 - 1,
        "elem_type": 255,
        "offset": 2**64 - 1,
        "length": 2**64 - 1,
        "crc": 2**32 - 1,
    }
    value = data.draw(
        st.one_of(st.integers(0, min(600, limits[field])), st.integers(0, limits[field]))
    )
    _only_typed_errors(with_entry(tiny, index, **{field: value}))


@given(st.data())
def test_damaged_header_with_a_valid_checksum(tiny, data):
    field = data.draw(
        st.sampled_from(
            [
                "minor",
                "header_size",
                "required_features",
                "optional_features",
                "file_size",
                "section_count",
            ]
        )
    )
    bits = {"minor": 16, "header_size": 32, "section_count": 32}.get(field, 64)
    value = data.draw(st.one_of(st.integers(0, 2000), st.integers(0, 2**bits - 1)))
    _only_typed_errors(with_header(tiny, **{field: value}))


@given(st.binary(max_size=300))
def test_arbitrary_bytes(blob):
    _only_typed_errors(blob)
    _only_typed_errors(b"KGLANGDB" + blob)


# --- columns ----------------------------------------------------------------------------------

LIMITS = {
    ElemType.U8: (0, 2**8 - 1),
    ElemType.U16: (0, 2**16 - 1),
    ElemType.U24: (0, 2**24 - 1),
    ElemType.U32: (0, 2**32 - 1),
    ElemType.I32: (-(2**31), 2**31 - 1),
}


@given(st.data())
def test_columns_read_every_element_type(data):
    elem_type = data.draw(st.sampled_from(list(ElemType)))
    low, high = LIMITS[elem_type]
    values = data.draw(st.lists(st.integers(low, high), max_size=40))
    width = elem_type.width
    raw = b"".join(v.to_bytes(width, "little", signed=elem_type is ElemType.I32) for v in values)
    column = Column("test", elem_type, raw)
    assert len(column) == len(values)
    assert [column[i] for i in range(len(values))] == values
    assert list(column) == values
    a = data.draw(st.integers(0, len(values)))
    b = data.draw(st.integers(a, len(values)))
    part = column.slice(a, b)
    assert part.tolist() == values[a:b]
    assert part.dtype == (np.int64 if elem_type is ElemType.I32 else np.uint32)


def test_columns_refuse_indices_outside_them():
    column = Column("test: WORDS_2", ElemType.U16, b"\1\0\2\0")
    for bad in (-1, 2, 10**20):
        with pytest.raises(CorruptLangDB, match="WORDS_2"):
            column[bad]
    for a, b in ((0, 3), (2, 1), (-1, 1)):
        with pytest.raises(CorruptLangDB):
            column.slice(a, b)


# --- vocabulary --------------------------------------------------------------------------------


@given(models(max_words=30), st.text("abeyzàéßøдя09'-", max_size=4))
def test_lookup_and_prefix_range(model, probe):
    file = opens(written(model))
    ids = {w: i for i, w in enumerate(model.vocab) if i >= 3}
    assert file.lookup(probe) == ids.get(probe, UNK)
    lo, hi = file.prefix_range(probe.encode())
    matching = [
        i for i in range(3, len(model.vocab)) if model.vocab[i].encode().startswith(probe.encode())
    ]
    assert list(range(lo, hi)) == matching
    if not matching:
        assert lo == hi


def test_lookup_never_finds_specials_or_impossible_words(tiny):
    file = opens(tiny)
    for word in [*SPECIAL_TOKENS, "", "a" * 65, "\udc80", "A"]:
        assert file.lookup(word) == UNK
    assert file.lookup("don't") == TINY_VOCAB.index("don't")
    assert file.word(TINY_VOCAB.index("д")) == "д"
    lo, hi = file.prefix_range(b"a" * 80)  # longer than any word: matches nothing
    assert lo == hi


# --- lifecycle ---------------------------------------------------------------------------------


def test_open_maps_and_close_releases(tmp_path, medium):
    path = tmp_path / "m.langdb"
    path.write_bytes(medium)
    with LangDBFile.open(path) as file:
        assert file.name == str(path)
        assert file.column(Kind.PROB, 1)[0] >= 0
        file.verify()
    assert file.closed
    file.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        file.word(3)
    with pytest.raises(ValueError, match="closed"):
        file.verify()


def test_describe_lists_the_sections(tiny):
    summary = opens(tiny).describe()
    assert summary["header"]["major"] == 1
    names = [(s["name"], s["order"]) for s in summary["sections"]]
    assert names[:3] == [("META", 0), ("VOCAB_OFFSETS", 0), ("VOCAB_BYTES", 0)]
    assert summary["metadata"]["order"] == 3


@pytest.mark.parametrize("engine", ["reference", "native"])
def test_a_degraded_database_answers_and_says_what_it_ignored(tiny, tmp_path, engine):
    import keyglide

    path = tmp_path / "degraded.langdb"
    path.write_bytes(with_header(tiny, optional_features=1 << 40))
    plain = tmp_path / "plain.langdb"
    plain.write_bytes(tiny)
    with keyglide.open(path, engine=engine) as db, keyglide.open(plain, engine=engine) as ref:
        assert db.info["ignored_features"] == 1 << 40
        assert ref.info["ignored_features"] == 0
        assert db.predict("", k=5) == ref.predict("", k=5)
