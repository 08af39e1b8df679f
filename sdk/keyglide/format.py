"""langdb format constants, the header and the section table (``langdb/FORMAT.md``).

Everything about the byte layout that more than one module needs lives here: the writer
(``keyglide.builder.write``), the reader (``keyglide.reader``) and the kernel, whose
``native/src/format.h`` is generated from this module (``native/tools/gen_sdk_headers.py``;
``tests/test_constants.py`` checks that the checked-in header is current). Keep this module
in step with FORMAT.md.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"KGLANGDB"
FORMAT_MAJOR = 1
FORMAT_MINOR = 3
# Read as a little-endian u32 this is 0x444C474B; a reader that sees anything else has a
# byte-order or layout problem, not a bad file.
BYTE_ORDER_MARK = 0x444C474B

# Scores are log10 probabilities in fixed point: score = round(log10(p) * SCORE_SCALE).
SCORE_SCALE = 10000
# The stored score of a word a model can never predict (ARPA's -99 for <s>).
SCORE_NEVER = -99 * SCORE_SCALE

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
UNK, BOS, EOS = 0, 1, 2
FIRST_WORD_ID = 3

# The orders a langdb may have: 2 (bigrams) to 5.
MIN_ORDER = 2
MAX_ORDER = 5
# The most entries in the section table, and the most words (special tokens included) in the
# vocabulary: word ids fit in 24 bits.
MAX_SECTIONS = 1024
MAX_VOCAB = 1 << 24
# The largest magnitude of a codebook score (checked by verify()): a score adds at most
# MAX_ORDER of them (one probability, up to MAX_ORDER - 1 backoffs), and so always fits in
# 32 bits, the width every reader reports a suggestion's score in.
MAX_CODEBOOK_SCORE = (2**31 - 1) // MAX_ORDER
SECTION_ALIGN = 8

HEADER = struct.Struct("<8sHHIQQQIII12x")  # 64 bytes
SECTION_ENTRY = struct.Struct("<IB3xQQI4x")  # 32 bytes
HEADER_CRC_OFFSET = 48  # of the u32 header_crc32; see FORMAT.md
HEADER_CRC = struct.Struct("<I")
assert HEADER.size == 64 and SECTION_ENTRY.size == 32


class ElemType(IntEnum):
    """How a section's bytes are read: fixed-width little-endian elements."""

    U8 = 1
    U16 = 2
    U24 = 3
    U32 = 4
    I32 = 5

    @property
    def width(self) -> int:
        return {1: 1, 2: 2, 3: 3, 4: 4, 5: 4}[self.value]

    @classmethod
    def unsigned_for(cls, max_value: int) -> ElemType:
        """The narrowest unsigned type that holds ``max_value``."""
        for t in (cls.U8, cls.U16, cls.U24, cls.U32):
            if max_value < 1 << (8 * t.width):
                return t
        raise OverflowError(f"{max_value} does not fit in 32 bits")


class Kind(IntEnum):
    """Section kinds. A section id is ``kind << 8 | order``."""

    META = 0x01  # order 0; UTF-8 JSON
    VOCAB_OFFSETS = 0x02  # order 0; u32, V + 1 entries
    VOCAB_BYTES = 0x03  # order 0; u8, the words' UTF-8 bytes
    PROB_CODEBOOK = 0x10  # orders 1..N; i32, 2**(8 * width of PROB_n) entries
    BACKOFF_CODEBOOK = 0x11  # orders 1..N-1; i32, likewise for BACKOFF_n
    WORDS = 0x20  # orders 2..N; word id of each entry
    PROB = 0x21  # orders 1..N; probability code of each entry
    BACKOFF = 0x22  # orders 1..N-1; backoff code of each entry
    CHILDREN = 0x23  # orders 1..N-1; count + 1 entries: first child at order n + 1
    TOP_NODES = 0x30  # orders 1..N-1; sorted node ids that have a top list
    TOP_STARTS = 0x31  # orders 1..N-1; len(TOP_NODES) + 1 offsets into TOP_ENTRIES
    TOP_ENTRIES = 0x32  # orders 0..N-1; child entry indices, best first
    BLOCKLIST = 0x40  # order 0, format 1.1 (feature BLOCKLIST); word ids never suggested
    DISPLAY_IDS = 0x41  # order 0, format 1.2 (feature DISPLAY_FORMS); ids with a display form
    DISPLAY_OFFSETS = 0x42  # order 0, format 1.2; u32, len(DISPLAY_IDS) + 1 entries
    DISPLAY_BYTES = 0x43  # order 0, format 1.2; u8, the display forms' UTF-8 bytes
    NEURAL_INFO = 0x50  # order 0, format 1.3 (feature NEURAL); u8, JSON: how to run the graph
    NEURAL_ONNX = 0x51  # order 0, format 1.3; u8, the reranker's ONNX model


# The sections of the DISPLAY_FORMS feature (format 1.2) and of the NEURAL feature (format
# 1.3), all of order 0.
DISPLAY_KINDS = (Kind.DISPLAY_IDS, Kind.DISPLAY_OFFSETS, Kind.DISPLAY_BYTES)
NEURAL_KINDS = (Kind.NEURAL_INFO, Kind.NEURAL_ONNX)


def section_id(kind: Kind, order: int = 0) -> int:
    return int(kind) << 8 | order


def split_section_id(sid: int) -> tuple[int, int]:
    return sid >> 8, sid & 0xFF


# The deepest nesting of arrays and objects META may have (FORMAT.md section 7): the object
# itself is depth 1. Builders write 5 or 6; the limit is far below any parser's recursion
# limit, so every reader judges a deeper META alike (corrupt, at open).
META_MAX_DEPTH = 64

# The longest top list stored for one context. Top lists only make the kernel fast; a
# reader that needs more entries than a list holds scans the context's children.
TOP_LIST_LENGTH = 16


class Feature(IntEnum):
    """Feature bits (their mask values), shared by the required and optional masks."""

    BLOCKLIST = 1 << 0  # format 1.1: the BLOCKLIST section, words never suggested
    DISPLAY_FORMS = 1 << 1  # format 1.2: the DISPLAY_* sections, how words are shown
    NEURAL = 1 << 2  # format 1.3: the NEURAL_* sections, a reranker run by an ONNX runtime


# The features of each format minor version: a file is written as the oldest minor version
# that holds every feature it uses (format 1.0 when it uses none).
FEATURES_SINCE_MINOR = {Feature.BLOCKLIST: 1, Feature.DISPLAY_FORMS: 2, Feature.NEURAL: 3}

# NEURAL is only ever optional: a file that requires it is refused (FORMAT.md section 11).
KNOWN_REQUIRED_FEATURES = int(Feature.BLOCKLIST | Feature.DISPLAY_FORMS)
KNOWN_OPTIONAL_FEATURES = int(Feature.BLOCKLIST | Feature.DISPLAY_FORMS | Feature.NEURAL)


@dataclass(frozen=True)
class Header:
    major: int
    minor: int
    header_size: int
    required_features: int
    optional_features: int
    file_size: int
    section_count: int
    byte_order_mark: int
    header_crc32: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            self.major,
            self.minor,
            self.header_size,
            self.required_features,
            self.optional_features,
            self.file_size,
            self.section_count,
            self.byte_order_mark,
            self.header_crc32,
        )


@dataclass(frozen=True)
class SectionEntry:
    id: int
    elem_type: int
    offset: int
    length: int
    crc32: int

    def pack(self) -> bytes:
        return SECTION_ENTRY.pack(self.id, self.elem_type, self.offset, self.length, self.crc32)


def header_size(section_count: int) -> int:
    return HEADER.size + SECTION_ENTRY.size * section_count


def header_crc(header_and_table: bytes) -> int:
    """CRC-32 of the header and section table, with the header_crc32 field read as zero."""
    data = bytearray(header_and_table)
    data[HEADER_CRC_OFFSET : HEADER_CRC_OFFSET + 4] = b"\0\0\0\0"
    return zlib.crc32(data)


def align(offset: int) -> int:
    return -(-offset // SECTION_ALIGN) * SECTION_ALIGN
