"""Reading a langdb file in place (``langdb/FORMAT.md``).

``LangDBFile.open`` memory-maps a file and checks, in time independent of its size, all that
the header and section table promise (FORMAT.md section 8): after that, every section the
format requires is present, has an allowed element type and the right number of entries,
and lies inside the file. ``verify()`` reads every byte: checksums, padding, reserved
fields and every invariant of section 4.

Whatever the bytes say, reading stays inside the file and every failure is a
``LangDBError`` subclass naming the file and the problem: lengths read from the file are
checked against the file's size before they size anything, and an index that points
outside its section raises ``CorruptLangDB`` rather than ``IndexError``.

The invariant checks at the end of this module are shared with the writer
(``keyglide.builder.write``), so that it never writes a file ``verify()`` would refuse.
"""

from __future__ import annotations

import bisect
import json
import mmap
import os
import zlib
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from keyglide import compat as _compat
from keyglide import text
from keyglide._version import __version__
from keyglide.errors import (
    ChecksumMismatch,
    CorruptLangDB,
    IncompatibleLangDB,
    LangDBError,
    TruncatedLangDB,
)
from keyglide.format import (
    BOS,
    BYTE_ORDER_MARK,
    DISPLAY_KINDS,
    FIRST_WORD_ID,
    FORMAT_MAJOR,
    HEADER,
    HEADER_CRC_OFFSET,
    KNOWN_OPTIONAL_FEATURES,
    KNOWN_REQUIRED_FEATURES,
    MAGIC,
    MAX_CODEBOOK_SCORE,
    MAX_ORDER,
    MAX_SECTIONS,
    MAX_VOCAB,
    META_MAX_DEPTH,
    MIN_ORDER,
    NEURAL_KINDS,
    SCORE_NEVER,
    SECTION_ALIGN,
    SECTION_ENTRY,
    SPECIAL_TOKENS,
    TOP_LIST_LENGTH,
    UNK,
    ElemType,
    Feature,
    Header,
    Kind,
    SectionEntry,
    header_crc,
    header_size,
    section_id,
    split_section_id,
)

KNOWN_KINDS = frozenset(Kind)
KNOWN_TYPES = frozenset(ElemType)
UNSIGNED = frozenset({ElemType.U8, ElemType.U16, ElemType.U24, ElemType.U32})
CODES = frozenset({ElemType.U8, ElemType.U16})

# The element types each kind of section may have (FORMAT.md section 4).
ALLOWED_TYPES: dict[Kind, frozenset[ElemType]] = {
    Kind.META: frozenset({ElemType.U8}),
    Kind.VOCAB_OFFSETS: frozenset({ElemType.U32}),
    Kind.VOCAB_BYTES: frozenset({ElemType.U8}),
    Kind.PROB_CODEBOOK: frozenset({ElemType.I32}),
    Kind.BACKOFF_CODEBOOK: frozenset({ElemType.I32}),
    Kind.WORDS: UNSIGNED,
    Kind.PROB: CODES,
    Kind.BACKOFF: CODES,
    Kind.CHILDREN: UNSIGNED,
    Kind.TOP_NODES: UNSIGNED,
    Kind.TOP_STARTS: UNSIGNED,
    Kind.TOP_ENTRIES: UNSIGNED,
    Kind.BLOCKLIST: UNSIGNED,
    Kind.DISPLAY_IDS: UNSIGNED,
    Kind.DISPLAY_OFFSETS: frozenset({ElemType.U32}),
    Kind.DISPLAY_BYTES: frozenset({ElemType.U8}),
    Kind.NEURAL_INFO: frozenset({ElemType.U8}),
    Kind.NEURAL_ONNX: frozenset({ElemType.U8}),
}

# The keys FORMAT.md section 7 requires in the metadata.
META_KEYS = (
    "language",
    "data_version",
    "tokenizer",
    "order",
    "vocab_size",
    "ngram_counts",
    "discounts",
    "quantization",
    "pruning",
    "builder",
    "recipe",
    "inputs",
    "sources",
)

# Each code column and the codebook that gives its scores.
CODEBOOKS = ((Kind.PROB, Kind.PROB_CODEBOOK), (Kind.BACKOFF, Kind.BACKOFF_CODEBOOK))

# Reserved bytes: the end of the header, and two runs in each section table entry.
_HEADER_RESERVED = slice(HEADER_CRC_OFFSET + 4, HEADER.size)
_ENTRY_RESERVED = ((5, 8), (28, 32))

_NUMPY_TYPES = {ElemType.U8: "<u1", ElemType.U16: "<u2", ElemType.U32: "<u4", ElemType.I32: "<i4"}
_ORDERLESS_KINDS = (
    Kind.META,
    Kind.VOCAB_OFFSETS,
    Kind.VOCAB_BYTES,
    Kind.BLOCKLIST,
    *DISPLAY_KINDS,
    *NEURAL_KINDS,
)
# Sections that exist only when their feature bit is set (FORMAT.md sections 9 and 10).
FEATURE_KINDS = {
    Kind.BLOCKLIST: Feature.BLOCKLIST,
    **{kind: Feature.DISPLAY_FORMS for kind in DISPLAY_KINDS},
    **{kind: Feature.NEURAL for kind in NEURAL_KINDS},
}
_SPECIAL_BYTES = tuple(t.encode() for t in SPECIAL_TOKENS)


def section_orders(kind: Kind, order: int) -> range:
    """The orders at which a model of ``order`` has a section of ``kind``."""
    every, below = range(1, order + 1), range(1, order)
    return {
        Kind.META: range(0, 1),
        Kind.VOCAB_OFFSETS: range(0, 1),
        Kind.VOCAB_BYTES: range(0, 1),
        Kind.PROB_CODEBOOK: every,
        Kind.BACKOFF_CODEBOOK: below,
        Kind.WORDS: range(2, order + 1),
        Kind.PROB: every,
        Kind.BACKOFF: below,
        Kind.CHILDREN: below,
        Kind.TOP_NODES: below,
        Kind.TOP_STARTS: below,
        Kind.TOP_ENTRIES: range(0, order),
        Kind.BLOCKLIST: range(0, 1),
        Kind.DISPLAY_IDS: range(0, 1),
        Kind.DISPLAY_OFFSETS: range(0, 1),
        Kind.DISPLAY_BYTES: range(0, 1),
        Kind.NEURAL_INFO: range(0, 1),
        Kind.NEURAL_ONNX: range(0, 1),
    }[kind]


def section_ids(order: int) -> list[int]:
    """The ids of every section of a format 1.0 model of ``order``, increasing."""
    return sorted(
        section_id(k, n) for k in Kind if k not in FEATURE_KINDS for n in section_orders(k, order)
    )


def section_name(sid: int) -> str:
    kind, order = split_section_id(sid)
    if kind not in KNOWN_KINDS:
        return f"section {sid:#x}"
    name = Kind(kind).name
    return name if kind in _ORDERLESS_KINDS and order == 0 else f"{name}_{order}"


class Column:
    """A section read as an array of integers: ``len``, ``column[i]``, ``column.slice(a, b)``.

    Elements are read where they lie. u24 has no numpy type, so it is read as rows of three
    bytes. Slices are copies: unsigned columns as uint32, i32 columns as int64, so that sums
    of scores cannot overflow and no caller keeps the mapping alive. An index outside the
    column can only come from a damaged file, so it raises ``CorruptLangDB``.
    """

    def __init__(self, where: str, elem_type: ElemType, data: memoryview | bytes) -> None:
        self.where = where
        self.elem_type = ElemType(elem_type)
        raw = np.frombuffer(data, dtype=np.uint8)
        if self.elem_type is ElemType.U24:
            self._array: np.ndarray | None = raw.reshape(-1, 3)
        else:
            self._array = raw.view(_NUMPY_TYPES[self.elem_type])
        self._length = len(self._array)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> int:
        array = self._live()
        if not 0 <= i < self._length:
            raise CorruptLangDB(f"{self.where}: entry {i} is outside its {self._length} entries")
        if self.elem_type is ElemType.U24:
            low, mid, high = array[i]
            return int(low) | int(mid) << 8 | int(high) << 16
        return int(array[i])

    def __iter__(self) -> Iterator[int]:
        # Without this, iteration would run __getitem__ until it raised CorruptLangDB.
        return iter(self.slice(0, self._length).tolist())

    def slice(self, start: int, stop: int) -> np.ndarray:
        array = self._live()
        if not 0 <= start <= stop <= self._length:
            raise CorruptLangDB(
                f"{self.where}: entries [{start}, {stop}) are not inside its {self._length} entries"
            )
        rows = array[start:stop]
        if self.elem_type is ElemType.U24:
            rows = rows.astype(np.uint32)
            return rows[:, 0] | rows[:, 1] << 8 | rows[:, 2] << 16
        return rows.astype(np.int64 if self.elem_type is ElemType.I32 else np.uint32)

    def release(self) -> None:
        """Drop the view of the file, so that the mapping can be closed."""
        self._array = None

    def _live(self) -> np.ndarray:
        if self._array is None:
            raise ValueError(f"{self.where}: the langdb is closed")
        return self._array


class LangDBFile:
    """An open langdb file: header, sections as ``Column``s, vocabulary and metadata.

    Attributes after opening: ``name`` (the path, or ``<buffer>``), ``header``, ``entries``
    (the section table), ``order`` (N), ``vocab_size`` (V), ``counts`` (count_1..count_N),
    ``meta`` and ``ignored_features`` (optional feature bits this reader does not know: set
    when the file is opened degraded).
    """

    def __init__(self, data: bytes | memoryview | mmap.mmap, name: str) -> None:
        self.name = name
        self._mapping = data if isinstance(data, mmap.mmap) else None
        self._data = memoryview(data).cast("B")
        self._columns: dict[int, Column] = {}
        self.closed = False
        try:
            self._read_header()
            self._read_table()
            self._read_structure()
            self._read_meta()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike) -> LangDBFile:
        """Map the file at ``path`` read-only and check its structure."""
        name = os.fsdecode(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # An empty file cannot be mapped; it is read as no bytes (and refused).
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return cls(data, name)

    @classmethod
    def from_buffer(
        cls, data: bytes | bytearray | memoryview, name: str = "<buffer>"
    ) -> LangDBFile:
        """Read a langdb held in memory; ``data`` must not change while it is open."""
        return cls(data, name)

    def __enter__(self) -> LangDBFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def buffer(self) -> memoryview:
        """The whole file's bytes (the mapping itself): engines read it in place."""
        return self._data

    def close(self) -> None:
        """Release the file. Idempotent; columns and vocabulary are unusable afterwards."""
        if self.closed:
            return
        self.closed = True
        for column in self._columns.values():
            column.release()
        self._columns.clear()
        self._vocab_bytes = b""
        try:
            self._data.release()
            if self._mapping is not None:
                self._mapping.close()
        except BufferError:
            pass  # a caller still holds a view; the mapping closes when it is collected

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"order {self.order}, {self.vocab_size} words"
        return f"<LangDBFile {self.name!r} {state}>"

    # --- opening: O(1) in the file size --------------------------------------------------

    def _fail(self, error: type[LangDBError], problem: str) -> LangDBError:
        return error(f"{self.name}: {problem}")

    def _read_header(self) -> None:
        size = len(self._data)
        start = bytes(self._data[: len(MAGIC)])
        if start != MAGIC[: len(start)]:
            if start == bytes(len(MAGIC)):
                raise self._fail(CorruptLangDB, "zero magic: the build writing it did not finish")
            raise self._fail(CorruptLangDB, "not a langdb file (bad magic)")
        if size < HEADER.size:
            raise self._fail(
                TruncatedLangDB,
                f"the file is {size} bytes, shorter than the {HEADER.size}-byte header",
            )
        fields = HEADER.unpack_from(self._data, 0)
        self.header = Header(*fields[1:])
        h = self.header
        if h.byte_order_mark != BYTE_ORDER_MARK:
            raise self._fail(CorruptLangDB, f"bad byte-order mark {h.byte_order_mark:#010x}")
        if h.major != FORMAT_MAJOR:
            raise self._incompatible(
                f"the file has langdb format {h.major}.{h.minor}; this SDK (keyglide "
                f"{__version__}) reads format {FORMAT_MAJOR}.x"
            )
        if h.section_count > MAX_SECTIONS:
            raise self._fail(
                CorruptLangDB, f"{h.section_count} sections, more than the {MAX_SECTIONS} allowed"
            )
        if h.header_size != header_size(h.section_count):
            raise self._fail(
                CorruptLangDB,
                f"header_size {h.header_size} does not match {h.section_count} sections",
            )
        if size < h.header_size:
            raise self._fail(
                TruncatedLangDB,
                f"the file is {size} bytes, shorter than its {h.header_size}-byte section table",
            )
        if header_crc(self._data[: h.header_size]) != h.header_crc32:
            raise self._fail(ChecksumMismatch, "the header checksum does not match")
        if size < h.file_size:
            raise self._fail(
                TruncatedLangDB, f"the file is {size} bytes but its header says {h.file_size}"
            )
        if size > h.file_size:
            raise self._fail(
                CorruptLangDB, f"the file is {size} bytes but its header says {h.file_size}"
            )
        unknown = h.required_features & ~KNOWN_REQUIRED_FEATURES
        if unknown:
            raise self._incompatible(
                f"the file (format {h.major}.{h.minor}) requires features {unknown:#x} that "
                f"this SDK (keyglide {__version__}, format {FORMAT_MAJOR}.x) does not know"
            )
        self.ignored_features = h.optional_features & ~KNOWN_OPTIONAL_FEATURES
        # The verdict of the compatibility matrix: status, ignored features by name, row.
        self.compat_outcome = _compat.negotiate(h, name=self.name)

    def _incompatible(self, problem: str) -> LangDBError:
        """``IncompatibleLangDB`` with the compatibility matrix's account of the file (its
        format and features, this SDK and the first release that reads it)."""
        try:
            outcome = _compat.negotiate(self.header, name=self.name)
        except _compat.MatrixError:
            return IncompatibleLangDB(f"{self.name}: {problem}")
        message = outcome.message if not outcome.readable else f"{self.name}: {problem}"
        return IncompatibleLangDB(message, outcome)

    def _read_table(self) -> None:
        entries = []
        for i in range(self.header.section_count):
            sid, elem_type, offset, length, crc = SECTION_ENTRY.unpack_from(
                self._data, HEADER.size + i * SECTION_ENTRY.size
            )
            entry = SectionEntry(sid, elem_type, offset, length, crc)
            self._check_entry(entry, entries[-1] if entries else None)
            entries.append(entry)
        self.entries: tuple[SectionEntry, ...] = tuple(entries)
        self._check_no_overlap()

    def _check_entry(self, entry: SectionEntry, previous: SectionEntry | None) -> None:
        name = section_name(entry.id)
        if previous is not None and entry.id <= previous.id:
            raise self._fail(CorruptLangDB, f"the section table is not sorted by id at {name}")
        if entry.elem_type not in KNOWN_TYPES:
            raise self._fail(CorruptLangDB, f"{name} has unknown element type {entry.elem_type}")
        if entry.offset % SECTION_ALIGN or entry.offset < self.header.header_size:
            raise self._fail(CorruptLangDB, f"{name} has a misplaced offset {entry.offset}")
        if entry.length % ElemType(entry.elem_type).width:
            raise self._fail(
                CorruptLangDB,
                f"{name} is {entry.length} bytes, not a whole number of "
                f"{ElemType(entry.elem_type).name.lower()} elements",
            )
        if entry.offset + entry.length > self.header.file_size:
            raise self._fail(
                TruncatedLangDB,
                f"{name} runs past the end of the file ({entry.offset} + {entry.length} > "
                f"{self.header.file_size})",
            )

    def _check_no_overlap(self) -> None:
        end, last = self.header.header_size, None
        for entry in sorted(self.entries, key=lambda e: (e.offset, e.length)):
            if entry.offset < end:
                raise self._fail(
                    CorruptLangDB, f"{section_name(entry.id)} overlaps {section_name(last.id)}"
                )
            end, last = entry.offset + entry.length, entry

    def _read_structure(self) -> None:
        """Required sections, their types and entry counts: FORMAT.md section 4."""
        by_id = {e.id: e for e in self.entries}
        prob_orders = sorted(split_section_id(s)[1] for s in by_id if s >> 8 == Kind.PROB)
        self.order = len(prob_orders)
        if prob_orders != list(range(1, self.order + 1)) or not (
            MIN_ORDER <= self.order <= MAX_ORDER
        ):
            raise self._fail(
                CorruptLangDB,
                f"PROB sections of orders {prob_orders}: the orders must be 1..N, N in "
                f"{MIN_ORDER}..{MAX_ORDER}",
            )
        features = self.header.required_features | self.header.optional_features
        expected = set(section_ids(self.order))
        optional = {section_id(k) for k, bit in FEATURE_KINDS.items() if not features & bit}
        expected |= {section_id(k) for k, bit in FEATURE_KINDS.items() if features & bit}
        for entry in self.entries:
            kind = entry.id >> 8
            if kind not in KNOWN_KINDS:
                continue  # a section from a later minor version: skipped
            if entry.id in optional:
                raise self._fail(
                    CorruptLangDB,
                    f"{section_name(entry.id)} is present but its feature bit is not set",
                )
            if entry.id not in expected:
                raise self._fail(
                    CorruptLangDB,
                    f"{section_name(entry.id)} does not belong in an order-{self.order} model",
                )
            if entry.elem_type not in ALLOWED_TYPES[Kind(kind)]:
                raise self._fail(
                    CorruptLangDB,
                    f"{section_name(entry.id)} has element type "
                    f"{ElemType(entry.elem_type).name.lower()}, which it may not have",
                )
            self._columns[entry.id] = Column(
                f"{self.name}: {section_name(entry.id)}",
                ElemType(entry.elem_type),
                self._data[entry.offset : entry.offset + entry.length],
            )
        missing = sorted(expected - by_id.keys())
        if missing:
            names = ", ".join(section_name(s) for s in missing)
            raise self._fail(CorruptLangDB, f"required sections are missing: {names}")
        self._check_vocabulary_counts()
        self._check_trie_counts()
        self._check_codebook_lengths()
        self._check_top_list_counts()
        self._check_display_counts()

    def _count_error(self, kind: Kind, order: int, expected: int) -> LangDBError:
        actual = len(self.column(kind, order))
        name = section_name(section_id(kind, order))
        return self._fail(CorruptLangDB, f"{name} has {actual} entries, not {expected}")

    def _check_vocabulary_counts(self) -> None:
        offsets = self.column(Kind.VOCAB_OFFSETS)
        self.vocab_size = len(offsets) - 1
        if not len(SPECIAL_TOKENS) <= self.vocab_size <= MAX_VOCAB:
            raise self._fail(
                CorruptLangDB,
                f"a vocabulary of {self.vocab_size} words (it must hold the "
                f"{len(SPECIAL_TOKENS)} special tokens and at most {MAX_VOCAB} words)",
            )
        if offsets[0] != 0:
            raise self._fail(CorruptLangDB, "VOCAB_OFFSETS does not start at 0")
        if offsets[self.vocab_size] != len(self.column(Kind.VOCAB_BYTES)):
            raise self._count_error(Kind.VOCAB_BYTES, 0, offsets[self.vocab_size])
        self._vocab_offsets = offsets
        bytes_entry = self._entry(Kind.VOCAB_BYTES)
        self._vocab_bytes = self._data[bytes_entry.offset : bytes_entry.offset + bytes_entry.length]

    def _check_trie_counts(self) -> None:
        counts = [self.vocab_size]
        counts += [len(self.column(Kind.WORDS, n)) for n in range(2, self.order + 1)]
        self.counts: tuple[int, ...] = tuple(counts)
        for n, count in enumerate(counts, start=1):
            if len(self.column(Kind.PROB, n)) != count:
                raise self._count_error(Kind.PROB, n, count)
            if n == self.order:
                continue
            if len(self.column(Kind.BACKOFF, n)) != count:
                raise self._count_error(Kind.BACKOFF, n, count)
            children = self.column(Kind.CHILDREN, n)
            if len(children) != count + 1:
                raise self._count_error(Kind.CHILDREN, n, count + 1)
            if children[0] != 0 or children[count] != counts[n]:
                raise self._fail(CorruptLangDB, f"CHILDREN_{n} does not run from 0 to {counts[n]}")

    def _check_codebook_lengths(self) -> None:
        for codes_kind, book_kind in CODEBOOKS:
            for n in section_orders(codes_kind, self.order):
                length = 1 << 8 * self.column(codes_kind, n).elem_type.width
                if len(self.column(book_kind, n)) != length:
                    raise self._count_error(book_kind, n, length)

    def _check_top_list_counts(self) -> None:
        if len(self.column(Kind.TOP_ENTRIES, 0)) != self.vocab_size:
            raise self._count_error(Kind.TOP_ENTRIES, 0, self.vocab_size)
        for n in range(1, self.order):
            nodes = len(self.column(Kind.TOP_NODES, n))
            starts = self.column(Kind.TOP_STARTS, n)
            if len(starts) != nodes + 1:
                raise self._count_error(Kind.TOP_STARTS, n, nodes + 1)
            if starts[0] != 0:
                raise self._fail(CorruptLangDB, f"TOP_STARTS_{n} does not start at 0")
            if len(self.column(Kind.TOP_ENTRIES, n)) != starts[nodes]:
                raise self._count_error(Kind.TOP_ENTRIES, n, starts[nodes])

    def _check_display_counts(self) -> None:
        if section_id(Kind.DISPLAY_IDS) not in self._columns:
            return
        forms = len(self.column(Kind.DISPLAY_IDS))
        offsets = self.column(Kind.DISPLAY_OFFSETS)
        if len(offsets) != forms + 1:
            raise self._count_error(Kind.DISPLAY_OFFSETS, 0, forms + 1)
        if offsets[0] != 0:
            raise self._fail(CorruptLangDB, "DISPLAY_OFFSETS does not start at 0")
        if offsets[forms] != len(self.column(Kind.DISPLAY_BYTES)):
            raise self._count_error(Kind.DISPLAY_BYTES, 0, offsets[forms])

    def _read_meta(self) -> None:
        entry = self._entry(Kind.META)
        raw = bytes(self._data[entry.offset : entry.offset + entry.length])
        if zlib.crc32(raw) != entry.crc32:
            raise self._fail(ChecksumMismatch, "the META checksum does not match")
        too_deep = f"META is nested more than {META_MAX_DEPTH} arrays and objects deep"
        try:
            meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except RecursionError:  # far deeper than the limit, wherever the parser gave up
            raise self._fail(CorruptLangDB, too_deep) from None
        except (UnicodeDecodeError, ValueError) as e:
            raise self._fail(CorruptLangDB, f"META is not UTF-8 JSON ({e})") from None
        if not isinstance(meta, dict):
            raise self._fail(CorruptLangDB, "META is not a JSON object")
        if json_depth(meta) > META_MAX_DEPTH:
            raise self._fail(CorruptLangDB, too_deep)
        self.meta: dict[str, Any] = meta

    def _entry(self, kind: Kind, order: int = 0) -> SectionEntry:
        sid = section_id(kind, order)
        return next(e for e in self.entries if e.id == sid)

    @property
    def blocklist(self) -> np.ndarray:
        """The blocked word ids (sorted; empty when the file has no blocklist)."""
        if section_id(Kind.BLOCKLIST) not in self._columns:
            return np.zeros(0, dtype=np.uint32)
        return self._whole(Kind.BLOCKLIST)

    @property
    def has_display_forms(self) -> bool:
        """Whether the file holds display forms (format 1.2)."""
        return section_id(Kind.DISPLAY_IDS) in self._columns

    def display(self, i: int) -> str:
        """How word ``i`` is shown: its display form (FORMAT.md section 10) if it has one,
        else its folded spelling."""
        if not self.has_display_forms:
            return self.word(i)
        ids = self.column(Kind.DISPLAY_IDS)
        j = bisect.bisect_left(ids, i)
        if j == len(ids) or ids[j] != i:
            return self.word(i)
        offsets, data = self.column(Kind.DISPLAY_OFFSETS), self.column(Kind.DISPLAY_BYTES)
        start, stop = offsets[j], offsets[j + 1]
        if not start <= stop <= len(data):
            raise self._fail(
                CorruptLangDB, f"the display form of word {i} lies outside DISPLAY_BYTES"
            )
        try:
            return data.slice(start, stop).astype(np.uint8).tobytes().decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(CorruptLangDB, f"the display form of word {i} is not UTF-8") from None

    @property
    def neural(self) -> tuple[bytes, bytes] | None:
        """The NEURAL_INFO and NEURAL_ONNX bytes (format 1.3), or None. What they hold is
        checked by ``keyglide.neural`` before the graph is run, not here."""
        if section_id(Kind.NEURAL_INFO) not in self._columns:
            return None
        info, onnx = (self._entry(kind) for kind in NEURAL_KINDS)
        return (
            bytes(self._data[info.offset : info.offset + info.length]),
            bytes(self._data[onnx.offset : onnx.offset + onnx.length]),
        )

    def display_forms(self) -> dict[int, bytes]:
        """Every display form as stored: word id -> UTF-8 bytes (empty without the feature)."""
        if not self.has_display_forms:
            return {}
        offsets = self._whole(Kind.DISPLAY_OFFSETS).tolist()
        if any(b < a for a, b in pairwise(offsets)):
            raise self._fail(CorruptLangDB, "DISPLAY_OFFSETS decreases")
        data = self._whole(Kind.DISPLAY_BYTES).astype(np.uint8).tobytes()
        ids = self._whole(Kind.DISPLAY_IDS).tolist()
        return {i: data[a:b] for i, (a, b) in zip(ids, pairwise(offsets), strict=True)}

    # --- access ----------------------------------------------------------------------

    def column(self, kind: Kind, order: int = 0) -> Column:
        """The section ``kind`` of ``order`` of this model."""
        if self.closed:
            raise ValueError(f"{self.name}: the langdb is closed")
        try:
            return self._columns[section_id(kind, order)]
        except KeyError:
            raise KeyError(
                f"an order-{self.order} langdb has no {section_name(section_id(kind, order))}"
            ) from None

    def word_bytes(self, i: int) -> bytes:
        """The UTF-8 bytes of word ``i``."""
        start, stop = self._vocab_offsets[i], self._vocab_offsets[i + 1]
        if not start <= stop <= len(self._vocab_bytes):
            raise self._fail(CorruptLangDB, f"word {i} lies outside VOCAB_BYTES")
        return bytes(self._vocab_bytes[start:stop])

    def all_word_bytes(self) -> list[bytes]:
        """The UTF-8 bytes of every word, in id order (one pass over the vocabulary)."""
        offsets = self._vocab_offsets.slice(0, self.vocab_size + 1).tolist()
        if any(b < a for a, b in pairwise(offsets)):
            raise self._fail(CorruptLangDB, "VOCAB_OFFSETS decreases")
        data = bytes(self._vocab_bytes)
        return [data[a:b] for a, b in pairwise(offsets)]

    def word(self, i: int) -> str:
        try:
            return self.word_bytes(i).decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(CorruptLangDB, f"word {i} is not valid UTF-8") from None

    def lookup(self, word: str) -> int:
        """The id of a (folded) word, or ``UNK``. Special tokens are never looked up."""
        try:
            key = word.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: never a word
            return UNK
        if not 0 < len(key) <= text.MAX_WORD_BYTES:
            return UNK
        i = bisect.bisect_left(range(self.vocab_size), key, FIRST_WORD_ID, key=self.word_bytes)
        return i if i < self.vocab_size and self.word_bytes(i) == key else UNK

    def prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """The ids ``[lo, hi)`` of the words that start with ``prefix`` (ids >= 3)."""
        ids = range(self.vocab_size)
        lo = bisect.bisect_left(ids, prefix, FIRST_WORD_ID, key=self.word_bytes)
        hi = bisect.bisect_right(ids, prefix, lo, key=lambda i: self.word_bytes(i)[: len(prefix)])
        return lo, hi

    def describe(self) -> dict[str, Any]:
        """Header, section table and metadata as plain data (for ``keyglide inspect``)."""
        h = self.header
        return {
            "header": {
                "major": h.major,
                "minor": h.minor,
                "header_size": h.header_size,
                "required_features": h.required_features,
                "optional_features": h.optional_features,
                "ignored_features": self.ignored_features,
                "file_size": h.file_size,
                "section_count": h.section_count,
            },
            "sections": [_describe_entry(e) for e in self.entries],
            "metadata": self.meta,
        }

    # --- verify: O(file size) ----------------------------------------------------------

    def verify(self) -> None:
        """Check every byte: checksums, padding, reserved fields and every invariant."""
        if self.closed:
            raise ValueError(f"{self.name}: the langdb is closed")
        self._verify_reserved_and_padding()
        self._verify_checksums()
        problem = (
            self._vocab_problem()
            or meta_problem(self.meta, self.order, self.vocab_size, self.counts)
            or self._trie_problem()
            or self._top_list_problem()
            or self._blocklist_problem()
            or self._display_problem()
        )
        if problem:
            raise self._fail(CorruptLangDB, problem)

    def _verify_reserved_and_padding(self) -> None:
        if any(self._data[_HEADER_RESERVED]):
            raise self._fail(CorruptLangDB, "reserved header bytes are not zero")
        for i, entry in enumerate(self.entries):
            at = HEADER.size + i * SECTION_ENTRY.size
            if any(any(self._data[at + a : at + b]) for a, b in _ENTRY_RESERVED):
                raise self._fail(
                    CorruptLangDB,
                    f"reserved bytes of {section_name(entry.id)}'s entry are not zero",
                )
        end = self.header.header_size
        for entry in sorted(self.entries, key=lambda e: (e.offset, e.length)):
            if entry.offset - end >= SECTION_ALIGN or any(self._data[end : entry.offset]):
                raise self._fail(
                    CorruptLangDB,
                    f"the padding before {section_name(entry.id)} is not 0-7 zero bytes",
                )
            end = entry.offset + entry.length
        if end != self.header.file_size:
            raise self._fail(CorruptLangDB, "there are bytes after the last section")

    def _verify_checksums(self) -> None:
        for entry in self.entries:
            if zlib.crc32(self._data[entry.offset : entry.offset + entry.length]) != entry.crc32:
                raise self._fail(
                    ChecksumMismatch, f"the checksum of {section_name(entry.id)} does not match"
                )

    def _vocab_problem(self) -> str | None:
        return vocab_problem(self.all_word_bytes())

    def _trie_problem(self) -> str | None:
        for codes_kind, book_kind in CODEBOOKS:
            for n in section_orders(codes_kind, self.order):
                width = self.column(codes_kind, n).elem_type.width
                problem = codebook_problem(self._whole(book_kind, n), width)
                if problem:
                    return f"{section_name(section_id(book_kind, n))}: {problem}"
        for n in range(2, self.order + 1):
            words = self._whole(Kind.WORDS, n)
            children = self._whole(Kind.CHILDREN, n - 1)
            problem = (
                word_ids_problem(words, self.vocab_size)
                or children_problem(children, self.counts[n - 2], self.counts[n - 1])
                or children_order_problem(words, children)
            )
            if problem:
                return f"order {n}: {problem}"
        return start_score_problem(self.scores(Kind.PROB, 1))

    def _top_list_problem(self) -> str | None:
        if not np.array_equal(
            self._whole(Kind.TOP_ENTRIES, 0), unigram_top_list(self.scores(Kind.PROB, 1))
        ):
            return "TOP_ENTRIES_0 is not every word id by score"
        for n in range(1, self.order):
            expected = node_top_lists(
                self._whole(Kind.CHILDREN, n),
                self._whole(Kind.WORDS, n + 1),
                self.scores(Kind.PROB, n + 1),
            )
            kinds = (Kind.TOP_NODES, Kind.TOP_STARTS, Kind.TOP_ENTRIES)
            for kind, values in zip(kinds, expected, strict=True):
                if not np.array_equal(self._whole(kind, n), values):
                    return f"{section_name(section_id(kind, n))} does not hold the top lists"
        return None

    def _blocklist_problem(self) -> str | None:
        problem = blocklist_problem(self.blocklist, self.vocab_size)
        return f"BLOCKLIST: {problem}" if problem else None

    def _display_problem(self) -> str | None:
        if not self.has_display_forms:
            return None
        ids = self._whole(Kind.DISPLAY_IDS)
        offsets = self._whole(Kind.DISPLAY_OFFSETS)
        problem = display_ids_problem(ids, offsets, self.vocab_size)
        if problem is None:
            words = self.all_word_bytes()
            for i, form in self.display_forms().items():
                problem = display_form_problem(form, words[i])
                if problem:
                    problem = f"word {i}: {problem}"
                    break
        return f"DISPLAY_FORMS: {problem}" if problem else None

    def _whole(self, kind: Kind, order: int = 0) -> np.ndarray:
        column = self.column(kind, order)
        return column.slice(0, len(column))

    def scores(self, kind: Kind, order: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Scores (int64) of entries ``[start, stop)`` of the PROB or BACKOFF column."""
        codes = self.column(kind, order)
        book = self._whole(dict(CODEBOOKS)[kind], order)
        return book[codes.slice(start, len(codes) if stop is None else stop)]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _describe_entry(entry: SectionEntry) -> dict[str, Any]:
    kind, order = split_section_id(entry.id)
    known = kind in KNOWN_KINDS
    elem_type = ElemType(entry.elem_type)
    return {
        "id": entry.id,
        "name": Kind(kind).name if known else f"{kind:#x}",
        "order": order,
        "type": elem_type.name.lower(),
        "entries": entry.length // elem_type.width,
        "offset": entry.offset,
        "length": entry.length,
        "crc32": entry.crc32,
    }


# --- invariants of FORMAT.md sections 4 and 7, shared with the writer -----------------------
#
# Each returns a description of the first problem it finds, or None.


def vocab_problem(words: Sequence[bytes]) -> str | None:
    """Specials at 0..2, then distinct folded tokens of 1..64 bytes in UTF-8 byte order."""
    if tuple(words[: len(_SPECIAL_BYTES)]) != _SPECIAL_BYTES:
        return "the vocabulary does not start with <unk>, <s>, </s>"
    if len(words) > MAX_VOCAB:
        return f"{len(words)} words, more than {MAX_VOCAB}"
    for i in range(FIRST_WORD_ID, len(words)):
        word = words[i]
        if len(word) > text.MAX_WORD_BYTES:
            return f"word {i} is {len(word)} bytes long, more than {text.MAX_WORD_BYTES}"
        try:
            spelling = word.decode("utf-8")
        except UnicodeDecodeError:
            return f"word {i} is not valid UTF-8"
        if text.sentences(spelling) != [[spelling]]:
            return f"word {i} ({spelling!r}) is not a folded token of {text.TOKENIZER_ID}"
        if i > FIRST_WORD_ID and word <= words[i - 1]:
            return f"word {i} ({spelling!r}) does not follow word {i - 1} in UTF-8 byte order"
    return None


def codebook_problem(codebook: np.ndarray, width: int) -> str | None:
    """2^(8 * width) non-decreasing i32 scores, each within +-MAX_CODEBOOK_SCORE."""
    if len(codebook) != 1 << 8 * width:
        return f"{len(codebook)} entries, not {1 << 8 * width}"
    if len(codebook) and (codebook.min() < -(2**31) or codebook.max() >= 2**31):
        return "a score does not fit in 32 bits"
    if np.any(np.diff(codebook) < 0):
        return "the codebook decreases"
    if len(codebook) and np.abs(codebook.astype(np.int64)).max() > MAX_CODEBOOK_SCORE:
        return (
            f"a score is beyond +-{MAX_CODEBOOK_SCORE}: {MAX_ORDER} of them may not add up "
            "within 32 bits"
        )
    return None


def word_ids_problem(words: np.ndarray, vocab_size: int) -> str | None:
    if len(words) and (words.min() < 0 or words.max() >= vocab_size):
        return f"a word id is outside the vocabulary of {vocab_size} words"
    return None


def children_problem(children: np.ndarray, count: int, next_count: int) -> str | None:
    """count + 1 non-decreasing first-child indices, from 0 to next_count."""
    if len(children) != count + 1:
        return f"{len(children)} CHILDREN entries for {count} n-grams"
    if children[0] != 0 or children[-1] != next_count:
        return f"CHILDREN does not run from 0 to {next_count}"
    if np.any(np.diff(children.astype(np.int64)) < 0):
        return "CHILDREN decreases"
    return None


def children_order_problem(words: np.ndarray, children: np.ndarray) -> str | None:
    """Each n-gram's children sorted by strictly increasing word id."""
    if len(words) < 2:
        return None
    words = words.astype(np.int64)
    rising = words[1:] > words[:-1]
    firsts = children[1:-1].astype(np.int64)
    firsts = firsts[(firsts > 0) & (firsts < len(words))]
    rising[firsts - 1] = True  # a node's first child need not follow the previous node's last
    if not rising.all():
        return f"children are not sorted by word id at entry {int(np.argmin(rising)) + 1}"
    return None


def blocklist_problem(blocked: np.ndarray, vocab_size: int) -> str | None:
    """Strictly increasing word ids, each >= 3 and < vocab_size."""
    blocked = np.asarray(blocked).astype(np.int64)
    if len(blocked) and (blocked.min() < FIRST_WORD_ID or blocked.max() >= vocab_size):
        return f"a blocked id is not a word id ({FIRST_WORD_ID}..{vocab_size - 1})"
    if np.any(np.diff(blocked) <= 0):
        return "the blocked ids are not strictly increasing"
    return None


def display_ids_problem(ids: np.ndarray, offsets: np.ndarray, vocab_size: int) -> str | None:
    """Strictly increasing word ids, each >= 3 and < vocab_size; non-decreasing offsets."""
    ids = np.asarray(ids).astype(np.int64)
    if len(ids) and (ids.min() < FIRST_WORD_ID or ids.max() >= vocab_size):
        return f"an id is not a word id ({FIRST_WORD_ID}..{vocab_size - 1})"
    if np.any(np.diff(ids) <= 0):
        return "the ids are not strictly increasing"
    if np.any(np.diff(np.asarray(offsets).astype(np.int64)) < 0):
        return "the offsets decrease"
    return None


def display_form_problem(form: bytes, word: bytes) -> str | None:
    """A display form is UTF-8, differs from its (folded) word and folds to it."""
    try:
        shown = form.decode("utf-8")
    except UnicodeDecodeError:
        return "the display form is not UTF-8"
    if form == word:
        return "the display form is the word itself"
    if text.fold(shown).encode("utf-8") != word:
        return f"the display form {shown!r} does not fold to the word"
    return None


def start_score_problem(unigram_scores: np.ndarray) -> str | None:
    if unigram_scores[BOS] != SCORE_NEVER:
        return f"<s> has probability score {unigram_scores[BOS]}, not {SCORE_NEVER}"
    return None


def json_depth(value: Any) -> int:
    """How deep arrays and objects nest in a decoded JSON value: 0 for a scalar, 1 for a
    flat array or object (FORMAT.md section 7)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, (list, tuple)):  # tuples: a writer's metadata
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in item)
    return deepest


def is_json_integer(value: Any) -> bool:
    """Whether a decoded JSON value came from an integer literal: no fraction, no exponent,
    not true or false (FORMAT.md section 7). ``3.0``, ``3e0`` and ``true`` are not."""
    return isinstance(value, int) and not isinstance(value, bool)


def meta_problem(
    meta: dict[str, Any], order: int, vocab_size: int, counts: Sequence[int]
) -> str | None:
    if json_depth(meta) > META_MAX_DEPTH:  # refused at open; here for the writer
        return f"metadata is nested more than {META_MAX_DEPTH} arrays and objects deep"
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        return f"metadata lacks {', '.join(missing)}"
    if meta["tokenizer"] != text.TOKENIZER_ID:
        return f"metadata tokenizer is {meta['tokenizer']!r}, not {text.TOKENIZER_ID!r}"
    facts = {"order": order, "vocab_size": vocab_size, "ngram_counts": list(counts)}
    for key, value in facts.items():
        stored = meta[key]
        # Counts are JSON integers: Python's == would also take 3.0, 3e0 or true for 3.
        integers = stored if isinstance(stored, list) else [stored]
        if not all(map(is_json_integer, integers)):
            return f"metadata {key} is {stored!r}, which is not made of JSON integers"
        if stored != value:
            return f"metadata {key} is {stored!r}, but the sections say {value!r}"
    for key in ("language", "data_version"):
        if not isinstance(meta[key], str):
            return f"metadata {key} is not a string"
    return None


# --- top lists (FORMAT.md 4.3), computed by the writer and checked by verify() --------------


def unigram_top_list(unigram_scores: np.ndarray) -> np.ndarray:
    """TOP_ENTRIES_0: every word id, probability score descending, then id ascending."""
    ids = np.arange(len(unigram_scores))
    return ids[np.lexsort((ids, -unigram_scores.astype(np.int64)))]


def node_top_lists(
    children: np.ndarray, child_words: np.ndarray, child_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TOP_NODES, TOP_STARTS and TOP_ENTRIES of one order.

    Every node with more than TOP_LIST_LENGTH children gets the first TOP_LIST_LENGTH of
    them (indices at the next order) by probability score descending, then word id
    ascending. All nodes are ranked at once: one lexsort of their children by (node,
    -score, word), then the first TOP_LIST_LENGTH of each node's run are kept.
    """
    sizes = np.diff(children.astype(np.int64))
    nodes = np.flatnonzero(sizes > TOP_LIST_LENGTH)
    parent = np.repeat(np.arange(len(sizes)), sizes)
    entries = np.flatnonzero(sizes[parent] > TOP_LIST_LENGTH)
    order = np.lexsort(
        (child_words[entries], -child_scores[entries].astype(np.int64), parent[entries])
    )
    ranked = entries[order]
    run_starts = np.cumsum(sizes[nodes]) - sizes[nodes]
    rank = np.arange(len(ranked)) - np.repeat(run_starts, sizes[nodes])
    starts = np.arange(len(nodes) + 1) * TOP_LIST_LENGTH
    return nodes, starts, ranked[rank < TOP_LIST_LENGTH]
