"""Writing a ``QuantizedModel`` as a langdb file (``langdb/FORMAT.md``).

The writer only lays bytes out: every number it writes is in the model, except the top
lists, the checksums and the structural metadata (order, vocabulary size, n-gram counts,
tokenizer), which it derives. It first checks the model against the same invariants
``LangDBFile.verify()`` checks, so that it never writes a file a reader would refuse.

The output is deterministic (the same model gives the same bytes) and appears atomically:
the bytes go to a temporary file in the destination directory, header last, and are
renamed over the destination only once they are on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import stat
import zlib
from typing import Any, NamedTuple

import numpy as np

from keyglide import text
from keyglide.errors import BuildError
from keyglide.format import (
    BYTE_ORDER_MARK,
    DISPLAY_KINDS,
    FEATURES_SINCE_MINOR,
    FORMAT_MAJOR,
    MAX_ORDER,
    MIN_ORDER,
    NEURAL_KINDS,
    ElemType,
    Feature,
    Header,
    Kind,
    SectionEntry,
    align,
    header_crc,
    header_size,
    section_id,
)
from keyglide.model import Order, QuantizedModel
from keyglide.reader import (
    blocklist_problem,
    children_order_problem,
    children_problem,
    codebook_problem,
    display_form_problem,
    display_ids_problem,
    meta_problem,
    node_top_lists,
    section_ids,
    start_score_problem,
    unigram_top_list,
    vocab_problem,
    word_ids_problem,
)

_LITTLE_ENDIAN = {ElemType.U8: "<u1", ElemType.U16: "<u2", ElemType.U32: "<u4", ElemType.I32: "<i4"}


class Section(NamedTuple):
    id: int
    elem_type: ElemType
    data: np.ndarray  # the section's bytes, as a contiguous uint8 array


def write_langdb(path: str | os.PathLike, model: QuantizedModel) -> str:
    """Write ``model`` to ``path`` atomically; return the file's sha256 (hex).

    Raises ``BuildError`` if the model breaks an invariant of the format.
    """
    validate_model(model)
    meta = complete_meta(model)
    return _write_atomically(os.fspath(path), encode_sections(model, meta), _features(model))


def format_version(model: QuantizedModel) -> str:
    """The format version (``major.minor``) ``write_langdb`` writes ``model`` in."""
    return f"{FORMAT_MAJOR}.{_features(model)[0]}"


def _features(model: QuantizedModel) -> tuple[int, int, int]:
    """(minor, required_features, optional_features): the oldest minor version that holds
    the features the model uses, so a file that uses none is format 1.0, byte for byte."""
    minor = required = optional = 0
    if model.blocklist is not None:
        if model.blocklist_required:
            required |= Feature.BLOCKLIST
        else:
            optional |= Feature.BLOCKLIST
    if model.display_forms is not None:
        optional |= Feature.DISPLAY_FORMS
    if model.neural is not None:
        optional |= Feature.NEURAL
    for feature, since in FEATURES_SINCE_MINOR.items():
        if (required | optional) & feature:
            minor = max(minor, since)
    return minor, int(required), int(optional)


# --- validation ---------------------------------------------------------------------------


def validate_model(model: QuantizedModel) -> None:
    """Raise ``BuildError`` unless ``model`` can be written as a valid langdb."""
    vocab = _encoded_vocab(model.vocab)
    _require(vocab_problem(vocab), "vocabulary")
    if not MIN_ORDER <= model.order <= MAX_ORDER:
        raise BuildError(
            f"a model of order {model.order}; the format holds {MIN_ORDER}..{MAX_ORDER}"
        )
    counts = [order.count for order in model.orders]
    if not np.array_equal(_integers(model.orders[0].words, "order 1 words"), np.arange(len(vocab))):
        raise BuildError("the words of order 1 must be the word ids 0..V-1")
    for n, order in enumerate(model.orders, start=1):
        _validate_order(model, n, order, counts)
    unigram_scores = _scores(model.orders[0].prob_codes, model.orders[0].prob_codebook)
    _require(start_score_problem(unigram_scores), "order 1")
    if model.blocklist is not None:
        blocked = _integers(model.blocklist, "blocklist")
        _require(blocklist_problem(blocked, len(vocab)), "blocklist")
    if model.display_forms is not None:
        ids = np.array(sorted(model.display_forms), dtype=np.int64)
        _require(display_ids_problem(ids, np.zeros(0), len(vocab)), "display forms")
        for i in ids.tolist():
            form = model.display_forms[i].encode("utf-8", errors="surrogatepass")
            _require(display_form_problem(form, vocab[i]), f"display form of word {i}")


def _validate_order(model: QuantizedModel, n: int, order: Order, counts: list[int]) -> None:
    highest = n == model.order
    where = f"order {n}"
    words = _integers(order.words, f"{where} words")
    _validate_codes(order.prob_codes, order.prob_codebook, order.count, f"{where} probability")
    if highest:
        if order.backoff_codes is not None or order.children is not None:
            raise BuildError(f"{where} is the highest order: it has no backoffs or children")
    else:
        if order.backoff_codes is None or order.backoff_codebook is None or order.children is None:
            raise BuildError(f"{where} needs backoff codes, a backoff codebook and children")
        _validate_codes(
            order.backoff_codes, order.backoff_codebook, order.count, f"{where} backoff"
        )
        children = _integers(order.children, f"{where} children")
        _require(children_problem(children, order.count, counts[n]), where)
    if n >= 2:
        parents = _integers(model.orders[n - 2].children, f"order {n - 1} children")
        _require(
            word_ids_problem(words, len(model.vocab)) or children_order_problem(words, parents),
            where,
        )


def _validate_codes(codes: np.ndarray, codebook: np.ndarray, count: int, what: str) -> None:
    codes = np.asarray(codes)
    if codes.dtype not in (np.uint8, np.uint16) or codes.shape != (count,):
        raise BuildError(
            f"{what} codes must be {count} uint8 or uint16 values, not {codes.shape} {codes.dtype}"
        )
    _require(
        codebook_problem(_integers(codebook, f"{what} codebook"), codes.itemsize),
        f"{what} codebook",
    )


def _encoded_vocab(vocab: list[str]) -> list[bytes]:
    try:
        return [word.encode("utf-8") for word in vocab]
    except (AttributeError, UnicodeEncodeError) as e:
        raise BuildError(f"every word must be a str encodable as UTF-8 ({e})") from None


def _integers(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise BuildError(f"{what} must be a one-dimensional integer array")
    return array.astype(np.int64)


def _require(problem: str | None, where: str) -> None:
    if problem:
        raise BuildError(f"{where}: {problem}")


def complete_meta(model: QuantizedModel) -> dict[str, Any]:
    """The model's metadata with the facts the writer derives from the model itself."""
    meta = dict(model.meta)
    derived = {
        "tokenizer": text.TOKENIZER_ID,
        "order": model.order,
        "vocab_size": len(model.vocab),
        "ngram_counts": [order.count for order in model.orders],
    }
    for key, value in derived.items():
        meta.setdefault(key, value)
    _require(meta_problem(meta, model.order, len(model.vocab), derived["ngram_counts"]), "META")
    return meta


# --- encoding -------------------------------------------------------------------------------


def encode_sections(model: QuantizedModel, meta: dict[str, Any]) -> list[Section]:
    """Every section of FORMAT.md section 4, in increasing id order."""
    sections: dict[int, tuple[ElemType, np.ndarray]] = {
        section_id(Kind.META): (ElemType.U8, _meta_bytes(meta)),
        **_vocabulary(model.vocab),
    }
    scores = [_scores(order.prob_codes, order.prob_codebook) for order in model.orders]
    sections[section_id(Kind.TOP_ENTRIES, 0)] = _unsigned(unigram_top_list(scores[0]))
    for n, order in enumerate(model.orders, start=1):
        sections[section_id(Kind.PROB_CODEBOOK, n)] = _codebook(order.prob_codebook)
        sections[section_id(Kind.PROB, n)] = _codes(order.prob_codes)
        if n >= 2:
            sections[section_id(Kind.WORDS, n)] = _unsigned(order.words)
        if n < model.order:
            following = model.orders[n]
            sections[section_id(Kind.BACKOFF_CODEBOOK, n)] = _codebook(order.backoff_codebook)
            sections[section_id(Kind.BACKOFF, n)] = _codes(order.backoff_codes)
            sections[section_id(Kind.CHILDREN, n)] = _unsigned(order.children)
            top = node_top_lists(np.asarray(order.children), np.asarray(following.words), scores[n])
            for kind, values in zip(
                (Kind.TOP_NODES, Kind.TOP_STARTS, Kind.TOP_ENTRIES), top, strict=True
            ):
                sections[section_id(kind, n)] = _unsigned(values)
    expected = section_ids(model.order)
    if model.blocklist is not None:
        sections[section_id(Kind.BLOCKLIST)] = _unsigned(_integers(model.blocklist, "blocklist"))
        expected = sorted([*expected, section_id(Kind.BLOCKLIST)])
    if model.display_forms is not None:
        sections.update(_display_forms(model.display_forms))
        expected = sorted([*expected, *(section_id(k) for k in DISPLAY_KINDS)])
    if model.neural is not None:
        info, onnx = model.neural
        sections[section_id(Kind.NEURAL_INFO)] = (ElemType.U8, _meta_bytes(info))
        sections[section_id(Kind.NEURAL_ONNX)] = (ElemType.U8, np.frombuffer(onnx, np.uint8))
        expected = sorted([*expected, *(section_id(k) for k in NEURAL_KINDS)])
    assert sorted(sections) == expected
    return [Section(sid, *sections[sid]) for sid in sorted(sections)]


def _meta_bytes(meta: dict[str, Any]) -> np.ndarray:
    try:
        encoded = json.dumps(
            meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise BuildError(f"the metadata is not plain JSON data ({e})") from None
    return np.frombuffer(encoded, dtype=np.uint8)


def _vocabulary(vocab: list[str]) -> dict[int, tuple[ElemType, np.ndarray]]:
    offsets, data = _strings([word.encode("utf-8") for word in vocab])
    return {section_id(Kind.VOCAB_OFFSETS): offsets, section_id(Kind.VOCAB_BYTES): data}


def _display_forms(forms: dict[int, str]) -> dict[int, tuple[ElemType, np.ndarray]]:
    ids = sorted(forms)
    offsets, data = _strings([forms[i].encode("utf-8") for i in ids])
    return {
        section_id(Kind.DISPLAY_IDS): _unsigned(np.array(ids, dtype=np.int64)),
        section_id(Kind.DISPLAY_OFFSETS): offsets,
        section_id(Kind.DISPLAY_BYTES): data,
    }


def _strings(
    encoded: list[bytes],
) -> tuple[tuple[ElemType, np.ndarray], tuple[ElemType, np.ndarray]]:
    """An offsets section (u32, one more entry than strings) and the bytes it indexes."""
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return (ElemType.U32, _encode(offsets, ElemType.U32)), (ElemType.U8, data)


def _scores(codes: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    return np.asarray(codebook, dtype=np.int64)[np.asarray(codes)]


def _codebook(codebook: np.ndarray) -> tuple[ElemType, np.ndarray]:
    return ElemType.I32, _encode(codebook, ElemType.I32)


def _codes(codes: np.ndarray) -> tuple[ElemType, np.ndarray]:
    elem_type = ElemType.U8 if np.asarray(codes).itemsize == 1 else ElemType.U16
    return elem_type, _encode(codes, elem_type)


def _unsigned(values: np.ndarray) -> tuple[ElemType, np.ndarray]:
    """Ids and indices in the narrowest unsigned type that holds the largest of them."""
    values = np.asarray(values)
    elem_type = ElemType.unsigned_for(int(values.max()) if len(values) else 0)
    return elem_type, _encode(values, elem_type)


def _encode(values: np.ndarray, elem_type: ElemType) -> np.ndarray:
    """The little-endian bytes of ``values`` as ``elem_type``."""
    values = np.asarray(values)
    if elem_type is ElemType.U24:
        # The low three bytes of each little-endian u32.
        four = values.astype("<u4").view(np.uint8).reshape(-1, 4)
        return np.ascontiguousarray(four[:, :3]).reshape(-1)
    return np.ascontiguousarray(values.astype(_LITTLE_ENDIAN[elem_type])).view(np.uint8)


# --- layout and writing -------------------------------------------------------------------


def _layout(
    sections: list[Section], features: tuple[int, int, int] = (0, 0, 0)
) -> tuple[bytes, list[tuple[int, np.ndarray]]]:
    """The header and section table, and each section's padding and bytes, in file order."""
    first = header_size(len(sections))
    entries, chunks, end = [], [], first
    for section in sections:
        offset = align(end)
        crc = zlib.crc32(memoryview(section.data))
        entries.append(SectionEntry(section.id, section.elem_type, offset, len(section.data), crc))
        chunks.append((offset - end, section.data))
        end = offset + len(section.data)
    header = Header(
        major=FORMAT_MAJOR,
        minor=features[0],
        header_size=first,
        required_features=features[1],
        optional_features=features[2],
        file_size=end,
        section_count=len(sections),
        byte_order_mark=BYTE_ORDER_MARK,
        header_crc32=0,
    )
    table = b"".join(entry.pack() for entry in entries)
    crc = header_crc(header.pack() + table)
    return dataclasses.replace(header, header_crc32=crc).pack() + table, chunks


def output_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be an output, or None: it exists and is not a regular file (a
    device, a FIFO, a socket or a directory, or a symbolic link to one). A langdb is
    renamed into place, which would replace such a node with a regular file; it is never
    written anywhere else instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # absent (or unreachable: writing says why)
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ]
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    link = " (through a symbolic link)" if os.path.islink(path) else ""
    return (
        f"{os.fsdecode(path)} exists and is {kind}{link}: an output must be a new or a regular file"
    )


def _write_atomically(
    path: str, sections: list[Section], features: tuple[int, int, int] = (0, 0, 0)
) -> str:
    problem = output_problem(path)
    if problem is not None:
        raise BuildError(f"cannot write the langdb: {problem}")
    head, chunks = _layout(sections, features)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never write into a file someone else created; 0o666 lets the umask decide.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            # A crash before the header is written leaves a zero magic, never a valid header
            # over incomplete sections.
            out.write(bytes(len(head)))
            for padding, data in chunks:
                out.write(bytes(padding))
                out.write(memoryview(data))
            out.seek(0)
            out.write(head)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)
    return _sha256(head, chunks)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a directory to sync it,
    and its rename is made durable by the file system's own journal)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(head: bytes, chunks: list[tuple[int, np.ndarray]]) -> str:
    digest = hashlib.sha256(head)
    for padding, data in chunks:
        digest.update(bytes(padding))
        digest.update(memoryview(data))
    return digest.hexdigest()
