"""Differential fuzzing: the Python reader (the specification) and the C kernel judge every
mutant of a valid langdb alike.

A mutant is judged at open, at verify(), by the spelling of every word id, and, where both
readers verify it, by its answers (predictions with their scores and display forms, score
sums). A verdict is ``ok`` or the class of the ``LangDBError`` raised; any other exception
escaping a reader is a disagreement of its own (``untyped``). Files with a reranker (format
1.3) are also opened as the SDK opens them, the numpy reference beside the reference engine
and onnxruntime beside the kernel, and compared within FORMAT.md section 11's tolerance;
those disagreements have kinds of their own (``neural-open``, ``neural-answer``).

Mutants come from a seeded generator (``mutant(seed)``), one of these kinds:

- ``byte``: bytes changed anywhere, the checksums recomputed or not;
- ``truncate``: the file cut short, or zeros appended;
- ``header``: a header field set to a value near a limit, checksums recomputed;
- ``table``: a section-table field changed, or entries swapped or duplicated, likewise;
- ``interior``: an element inside a section (not META) set to a value near a limit, its CRC
  recomputed: what open cannot see;
- ``meta``: META rewritten: nesting depth, spellings of the numbers, types, keys, grammar;
- ``neural``: NEURAL_INFO or NEURAL_ONNX of a format 1.3 file changed, CRCs recomputed.

The tests below run a few hundred mutants. For long runs: ``python tests/test_differential.py
N --seed S`` (what ``nox -s differential -- N`` runs) prints the disagreements by kind and
exits 1 on any; ``--save DIR`` keeps each disagreeing mutant's bytes.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import random
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import build_model, examples, random_model, written
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyglide.engines import native
from keyglide.engines.reference import ReferenceEngine
from keyglide.errors import LangDBError
from keyglide.format import (
    MAX_CODEBOOK_SCORE,
    META_MAX_DEPTH,
    SPECIAL_TOKENS,
    ElemType,
    Feature,
    Kind,
    header_size,
    section_id,
)
from keyglide.reader import META_KEYS, LangDBFile
from test_native import assemble, display_model, fix_checksums, header_fields, sections_of

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "langdb" / "fixtures"

AVAILABLE, WHY = native.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"native engine unavailable: {WHY}")

META = section_id(Kind.META)
NEURAL_INFO = section_id(Kind.NEURAL_INFO)
NEURAL_ONNX = section_id(Kind.NEURAL_ONNX)
WIDTHS = {t.value: t.width for t in ElemType}


# --- the files mutated -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def seed_files() -> tuple[tuple[str, bytes], ...]:
    """Valid files of every format version and feature: generated ones and frozen fixtures."""
    words = {f"w{i:02d}" for i in range(30)} | {"don't", "é", "дом", "well-known"}
    vocab = [*SPECIAL_TOKENS, *sorted(words, key=str.encode)]
    small = [*SPECIAL_TOKENS, *sorted({"a", "ab", "b", "ß", "д", "x-y"}, key=str.encode)]
    generated = {
        "order4": written(random_model(seed=3, vocab=vocab, order=4, max_per_order=300)),
        "order2-u16": written(random_model(seed=9, vocab=small, order=2, prob_width=2)),
        "order5": written(random_model(seed=4, vocab=small, order=5, max_per_order=60)),
        "display": written(display_model(seed=3, order=3)),
    }
    frozen = {
        "blocklist-required-2": "1.1/blocklist-required-2.langdb",
        "display-3": "1.2/display-3.langdb",
        "neural-3": "1.3/neural-3.langdb",
        "neural-display-2": "1.3/neural-display-2.langdb",
    }
    files = {**generated, **{k: (FIXTURES / v).read_bytes() for k, v in frozen.items()}}
    return tuple(files.items())


@functools.cache
def texts_for(data: bytes) -> tuple[str, ...]:
    """Texts to ask a file's engines: its words in context, prefixes, unknown words."""
    with LangDBFile.from_buffer(data) as f:
        words = [f.word(i) for i in range(3, f.vocab_size)]
    rng = random.Random(len(words))
    w = [rng.choice(words) for _ in range(6)]
    return (
        "",
        f"{w[0]} ",
        f"{w[1]} {w[2]} ",
        w[3][:1],
        f"Hello. {w[4]} {w[5]} {w[0]}",
        f"{w[2]} {w[1]}. {w[3]} zzz {w[4]} ",
        f"{w[5].upper()}'",
    )


# --- mutants ---------------------------------------------------------------------------------


def _near(rng: random.Random, old: int, bits: int, also: tuple[int, ...] = ()) -> int:
    """A value an off-by-one or a lie would write into a field of ``bits`` bits."""
    top = (1 << bits) - 1
    choices = [0, 1, old - 1, old + 1, old + 8, old - 8, top, top >> 1, (top >> 1) + 1]
    choices += [old * 2, old ^ (1 << rng.randrange(bits)), rng.randrange(top + 1), *also]
    return rng.choice(choices) & top


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        p = rng.randrange(len(out))
        out[p] = rng.choice([0, 0xFF, rng.randrange(256), out[p] ^ (1 << rng.randrange(8))])
    if rng.random() < 0.5:
        fix_checksums(out)
    return bytes(out)


def mutate_truncate(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.2:
        return data + bytes(rng.choice([1, 7, 8, 64]))
    cut = rng.choice([rng.randrange(len(data)), rng.randrange(64, 128), len(data) - 1])
    out = bytearray(data[:cut])
    # The header agrees (when the whole header is there): a section runs past the end.
    if rng.random() < 0.5 and len(out) >= header_size(0):
        struct.pack_into("<Q", out, 32, len(out))
        fix_checksums(out)
    return bytes(out)


# (offset, size in bytes) of the header's fields after the magic.
HEADER_FIELDS = [(8, 2), (10, 2), (12, 4), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (52, 4)]


def mutate_header(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 2)):
        at, size = rng.choice(HEADER_FIELDS)
        old = int.from_bytes(out[at : at + size], "little")
        new = _near(rng, old, 8 * size, (len(data), 4, 0x10, 1 << 63, 64, 1024, 1025))
        out[at : at + size] = new.to_bytes(size, "little")
    if rng.random() < 0.9:
        fix_checksums(out)
    return bytes(out)


# (offset, size) of a section-table entry's fields; the CRC at 24 is recomputed after.
ENTRY_FIELDS = [(0, 4), (4, 1), (5, 3), (8, 8), (16, 8), (28, 4)]


def mutate_table(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    count = struct.unpack_from("<I", data, 40)[0]
    entry = lambda i: 64 + 32 * i  # noqa: E731
    choice = rng.random()
    if choice < 0.15 and count > 1:
        i, j = rng.sample(range(count), 2)
        a, b = out[entry(i) : entry(i) + 32], out[entry(j) : entry(j) + 32]
        out[entry(i) : entry(i) + 32], out[entry(j) : entry(j) + 32] = b, a
    elif choice < 0.25 and count > 1:
        i = rng.randrange(count - 1)
        out[entry(i + 1) : entry(i + 1) + 32] = out[entry(i) : entry(i) + 32]
    else:
        i = rng.randrange(count)
        at, size = rng.choice(ENTRY_FIELDS)
        at += entry(i)
        old = int.from_bytes(out[at : at + size], "little")
        others = [struct.unpack_from("<Q", data, entry(j) + 8)[0] for j in range(count)]
        ids = [int(k) << 8 | n for k in Kind for n in range(6)]
        also = (len(data), *others[:4], rng.choice(ids), 3, 5, 6, 24, 0x100, 0x3300)
        new = _near(rng, old, 8 * size, also)
        out[at : at + size] = new.to_bytes(size, "little")
    if rng.random() < 0.9:
        fix_checksums(out)
    return bytes(out)


def mutate_interior(rng: random.Random, data: bytes) -> bytes:
    """One element of one section (not META) changed, its CRC recomputed."""
    entries = [
        entry
        for entry in map(
            functools.partial(_entry_at, data), range(struct.unpack_from("<I", data, 40)[0])
        )
        if entry[0] != META
    ]
    sid, elem_type, offset, length = rng.choice(entries)
    if not length:
        return mutate_bytes(rng, data)
    out = bytearray(data)
    width = WIDTHS.get(elem_type, 1)
    n = length // width
    with LangDBFile.from_buffer(data) as f:
        vocab, counts = f.vocab_size, f.counts
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.25:  # a raw byte, as a bit rot would
            p = offset + rng.randrange(length)
            out[p] = rng.randrange(256)
            continue
        i = rng.choice([0, n - 1, n // 2, rng.randrange(n), max(0, n - 2), min(1, n - 1)])
        at = offset + i * width
        old = int.from_bytes(out[at : at + width], "little")
        also = (vocab - 1, vocab, vocab + 1, *counts, *(c + 1 for c in counts), 3, 2)
        new = _near(rng, old, 8 * width, also)
        out[at : at + width] = new.to_bytes(width, "little")
    fix_checksums(out)
    return bytes(out)


def _entry_at(data: bytes, i: int) -> tuple[int, int, int, int]:
    """(id, elem_type, offset, length) of section-table entry ``i``."""
    sid, elem_type, offset, length = struct.unpack_from("<IB3xQQ", data, 64 + 32 * i)
    return sid, elem_type, offset, length


def _with_section(data: bytes, sid: int, content: bytes) -> bytes:
    sections = sections_of(data)
    sections[sid] = (sections[sid][0], content)
    return bytes(assemble(sections, **header_fields(data)))


def number_spellings(value: int) -> list[str]:
    """JSON spellings of a count: the integer literal, and numbers or values that are not
    integer literals although Python's == would take some of them for it."""
    return [
        str(value),
        f"{value}.0",
        f"{value}e0",
        f"{value}E+0",
        f"{value}0e-1",
        f"{value}.0000000000000001",
        f"{value}.5",
        f"{value - 1}.9999999999999999",
        f"0.{value}e{len(str(value))}",
        "true",
        "false",
        "null",
        f'"{value}"',
        f"[{value}]",
        f"-{value}",
        "-0",
        "0",
        str(value + 1),
        "1e400",
        "-1e400",
        "1" + "0" * 25,
        "9" * 4300,
        "9" * 4301,
        f"0{value}",
        f"+{value}",
        f" {value} ",
    ]


def nested(rng: random.Random, depth: int) -> str:
    """A JSON value whose arrays and objects nest exactly ``depth`` deep."""
    opened = [rng.choice("[{") for _ in range(depth)]
    inner = rng.choice(["", "1", '"x"', "null"]) if depth else "0"
    text = "".join("[" if c == "[" else '{"k":' for c in opened)
    if opened and opened[-1] == "{" and inner == "":
        inner = "0"
    return text + inner + "".join("]" if c == "[" else "}" for c in reversed(opened))


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def meta_text(rng: random.Random, meta: dict) -> bytes:
    """META rewritten: depth, spellings of the counts, types, keys or grammar."""
    meta = dict(meta)
    choice = rng.random()
    if choice < 0.25:  # nesting depth around the limit, and far beyond it
        depth = rng.choice(
            [2, META_MAX_DEPTH - 1, META_MAX_DEPTH, META_MAX_DEPTH + 1, META_MAX_DEPTH + 2]
            + [100, 511, 512, 513, 600, 980, 1000, 2000, rng.randint(1, 1200)]
        )
        key = rng.choice(["deep", *META_KEYS])
        meta[key] = "\0VALUE"
        return _dumps(meta).replace('"\\u0000VALUE"', nested(rng, depth - 1)).encode()
    if choice < 0.55:  # how the counts are spelled
        key = rng.choice(["order", "vocab_size", "ngram_counts"])
        if key == "ngram_counts" and isinstance(meta.get(key), list) and meta[key]:
            counts = [str(c) for c in meta[key]]
            i = rng.randrange(len(counts))
            counts[i] = rng.choice(number_spellings(int(meta[key][i])))
            spelled = rng.choice(
                ["[" + ",".join(counts) + "]", "[" + ",".join(counts[:-1]) + "]"]
                + ["[" + ",".join([*counts, counts[-1]]) + "]", "[]", "{}", "3"]
            )
        else:
            spelled = rng.choice(number_spellings(int(meta.get(key, 3) or 0)))
        meta[key] = "\0VALUE"
        return _dumps(meta).replace('"\\u0000VALUE"', spelled).encode()
    if choice < 0.8:  # types, keys, duplicates, escapes
        key = rng.choice([*META_KEYS, "converted_from"])
        how = rng.randrange(5)
        if how == 0:
            meta.pop(key, None)
        elif how == 1:
            meta[key] = rng.choice([None, True, 0, -1, 1.5, "x", [], {}, [1, 2], {"a": 1}])
        elif how == 2:
            meta["tokenizer"] = rng.choice(["keyglide-text-2", "keyglide-text-1 ", "", 1])
        text = _dumps(meta)
        if how == 3:  # the same key again, last: Python's dict keeps the last value
            value = rng.choice(["null", "3", '"keyglide-text-1"', "[]", '"en"'])
            text = text[:-1] + f',"{key}":{value}' + "}"
        if how == 4:  # a key spelled with an escape
            text = text.replace(f'"{key}":', '"\\u00' + f"{ord(key[0]):02x}" + key[1:] + '":', 1)
        return text.encode()
    raw = bytearray(_dumps(meta).encode())  # the grammar
    pieces = [
        *(c.encode() for c in '{}[]",:0123456789.eE+- tfnul\\/'),
        b"\x00",
        b"\x1f",
        b"\x7f",
        "é".encode(),
        b"\xff",
        b"\xed\xa0\x80",
        b"\xef\xbb\xbf",
        b"NaN",
        b"Infinity",
        b"\\u00e9",
        b"\\ud800",
        b"\\x",
    ]
    for _ in range(rng.randint(1, 3)):
        p = rng.randrange(len(raw) + 1)
        how = rng.randrange(3)
        if how == 0 and p < len(raw):
            del raw[p]
        elif how == 1:
            raw[p:p] = rng.choice(pieces)
        else:
            raw[p : p + 1] = rng.choice(pieces)
    return bytes(raw)


def mutate_meta(rng: random.Random, data: bytes) -> bytes:
    meta = json.loads(sections_of(data)[META][1])
    return _with_section(data, META, meta_text(rng, meta))


def mutate_neural(rng: random.Random, data: bytes) -> bytes:
    """NEURAL_INFO's JSON or NEURAL_ONNX's bytes changed, CRCs recomputed."""
    sections = sections_of(data)
    if NEURAL_INFO not in sections:
        return mutate_interior(rng, data)
    if rng.random() < 0.4:
        info = json.loads(sections[NEURAL_INFO][1])
        key = rng.choice([*info, "interface", "shortlist", "weight", "context_words"])
        old = info.get(key)
        values = [None, True, -1, 0, 1, 1.5, "x", [], {}, 256, 257, 2**31, 1e308]
        if isinstance(old, int) and not isinstance(old, bool):
            values += [old - 1, old + 1, float(old), old * 2]
        if isinstance(old, str):
            values += [old + "x", old.upper(), "keyglide-rerank-2", "99.0", "1.0"]
        how = rng.randrange(4)
        if how == 0:
            info.pop(key, None)
            text = _dumps(info)
        else:
            info[key] = "\0VALUE"
            spelled = rng.choice([_dumps(rng.choice(values)), "NaN", "Infinity", "-0", "1e400"])
            text = _dumps(info).replace('"\\u0000VALUE"', spelled)
        return _with_section(data, NEURAL_INFO, text.encode())
    onnx = bytearray(sections[NEURAL_ONNX][1])
    how = rng.randrange(4)
    if how == 0:  # floats that look like weights made NaN, infinite, huge or zero
        plausible = _weight_positions(bytes(onnx))
        for _ in range(rng.choice([1, 1, 4, 64])):
            p = rng.choice(plausible) if plausible else rng.randrange(len(onnx) - 4)
            value = rng.choice([float("nan"), float("inf"), -float("inf"), 3e38, 0.0])
            onnx[p : p + 4] = struct.pack("<f", value)
    elif how == 1:
        onnx = onnx[: rng.randrange(len(onnx))]
    else:
        for _ in range(rng.randint(1, 4)):
            p = rng.randrange(len(onnx))
            onnx[p] = rng.choice([0, 0xFF, rng.randrange(256), onnx[p] ^ (1 << rng.randrange(8))])
    return _with_section(data, NEURAL_ONNX, bytes(onnx))


@functools.cache
def _weight_positions(onnx: bytes) -> list[int]:
    """Offsets of 4-byte runs that read as float32 values a trained weight would have."""
    positions = []
    for shift in range(4):
        usable = (len(onnx) - shift) // 4 * 4
        values = np.frombuffer(onnx[shift : shift + usable], dtype="<f4")
        with np.errstate(invalid="ignore"):
            plausible = np.isfinite(values) & (np.abs(values) > 1e-4) & (np.abs(values) < 20)
        positions += (np.flatnonzero(plausible) * 4 + shift).tolist()
    return positions


MUTATORS = {
    "byte": mutate_bytes,
    "truncate": mutate_truncate,
    "header": mutate_header,
    "table": mutate_table,
    "interior": mutate_interior,
    "meta": mutate_meta,
    "neural": mutate_neural,
}
# How often each kind is drawn; neural mutants come from the format 1.3 seeds only.
WEIGHTS = {
    "byte": 2,
    "truncate": 1,
    "header": 2,
    "table": 2,
    "interior": 4,
    "meta": 3,
    "neural": 2,
}


def mutant(seed: int, kind: str | None = None) -> tuple[str, str, bytes]:
    """(kind, seed file name, bytes) of mutant number ``seed``: always the same bytes."""
    rng = random.Random(seed)
    if kind is None:
        kind = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
    files = seed_files()
    if kind == "neural":
        files = tuple((n, d) for n, d in files if n.startswith("neural"))
    name, data = rng.choice(files)
    return kind, name, MUTATORS[kind](rng, data)


# --- judging ---------------------------------------------------------------------------------


def verdict(action) -> str:
    """``ok``, the class of the LangDBError raised, or ``untyped`` and the class of anything
    else (a reader must never raise it)."""
    try:
        action()
    except LangDBError as e:
        return type(e).__name__
    except Exception as e:  # noqa: BLE001 - the point is to see it
        return f"untyped {type(e).__name__}"
    return "ok"


def _opened(opener):
    holder = []
    result = verdict(lambda: holder.append(opener()))
    return (holder[0] if holder else None), result


def judge(data: bytes, texts: tuple[str, ...]) -> list[str]:
    """The kinds of disagreement between the two readers on ``data`` (empty: they agree)."""
    file, by_python = _opened(lambda: LangDBFile.from_buffer(data))
    engine, by_kernel = _opened(lambda: native.NativeEngine.from_buffer(data))
    try:
        if by_python != by_kernel:
            return ["open"]
        if by_python.startswith("untyped"):
            return ["untyped"]
        if by_python != "ok":
            return []
        found = []
        facts = (file.order, file.vocab_size, file.counts, file.ignored_features)
        header = (file.header.major, file.header.minor)
        # The kernel never runs a reranker: it reports the NEURAL bit as ignored.
        ignored = engine.ignored_features & ~(Feature.NEURAL if file.neural else 0)
        native_facts = (engine.order, engine.vocab_size, engine.counts, ignored)
        if facts != native_facts or header != engine.format_version:
            found.append("facts")
        verified, kernel_verified = verdict(file.verify), verdict(engine.verify)
        if verified != kernel_verified:
            found.append("verify")
        for i in range(min(file.vocab_size, 400)):
            shown = (_spelled(lambda: file.display(i)), _spelled(lambda: file.word(i)))  # noqa: B023
            if shown != (_spelled(lambda: engine.display(i)), _spelled(lambda: engine.word(i))):  # noqa: B023
                found.append("display")
                break
        if verified == kernel_verified == "ok":
            found += _answers(file, engine, texts)
        elif _untyped_answers(file, texts):
            found.append("untyped")
        if file.neural is not None:
            found += neural_kinds(data, texts, verified == "ok")
        return found
    finally:
        if file is not None:
            file.close()
        if engine is not None:
            engine.close()


def _spelled(action) -> str:
    try:
        return action()
    except LangDBError as e:
        return type(e).__name__
    except Exception as e:  # noqa: BLE001
        return f"untyped {type(e).__name__}"


def _answers(file: LangDBFile, engine, texts: tuple[str, ...]) -> list[str]:
    reference = ReferenceEngine(file)
    found = set()
    for t in texts:
        for k in (1, 5, 256):
            if engine.predict(t, k) != reference.predict(t, k):
                found.add("predict")
        if engine.score_sum(t) != reference.score_sum(t):
            found.add("score")
    return sorted(found)


def _untyped_answers(file: LangDBFile, texts: tuple[str, ...]) -> bool:
    """Whether the reference engine, on a damaged file it opened, raises anything but a
    LangDBError (the kernel's answers there may differ: only verified files must agree)."""
    reference = _opened(lambda: ReferenceEngine(file))
    if reference[1].startswith("untyped"):
        return True
    if reference[0] is None:
        return False
    for t in texts[:3]:
        if verdict(lambda: reference[0].predict(t, 5)).startswith("untyped"):  # noqa: B023
            return True
        if verdict(lambda: reference[0].score_sum(t)).startswith("untyped"):  # noqa: B023
            return True
    return False


def neural_kinds(data: bytes, texts: tuple[str, ...], verified: bool) -> list[str]:
    """The file opened as the SDK opens it, with each engine and its reranker runtime: the
    same outcome (reranked, degraded, or the same error), then answers within FORMAT.md
    section 11's tolerance when the file verifies."""
    from keyglide.neural.rerank import attach

    outcomes, reasons, engines, files = [], [], [], []
    try:
        for make, runtime in ((ReferenceEngine, "reference"), (None, "onnxruntime")):
            file = LangDBFile.from_buffer(data)
            files.append(file)
            base = make(file) if make else native.NativeEngine(file)
            engines.append(base)
            holder = []
            result = verdict(lambda: holder.append(attach(base, file, runtime)))  # noqa: B023
            if holder:
                engine, why = holder[0]
                engines[-1] = engine
                result = "ok" if why is None else "degraded"
                reasons.append(why)
            outcomes.append(result)
        if outcomes == ["ok", "degraded"] and reasons[-1] == _onnxruntime_refusal(files[-1]):
            return []  # the file asks for an onnxruntime this machine lacks: degraded by design
        if outcomes[0] != outcomes[1]:
            return ["neural-open"]
        if outcomes[0] != "ok" or not verified:
            return []
        reference, fast = engines
        for t in texts[:4]:
            a, b = reference.predict(t, 5), fast.predict(t, 5)
            if not _within_tolerance(a, b):
                return ["neural-answer"]
            (sa, na), (sb, nb) = reference.score_sum(t), fast.score_sum(t)
            if na != nb or abs(sa - sb) > na:
                return ["neural-answer"]
        return []
    except Exception:  # noqa: BLE001 - an answer that raises: a disagreement to look at
        return ["neural-answer"]
    finally:
        for e in engines:
            e.close()
        for f in files:
            f.close()


def _onnxruntime_refusal(file) -> str | None:
    """Why the installed onnxruntime cannot run this file's reranker (FORMAT.md section 11:
    a file that asks for a newer one is read without it there), or None."""
    from keyglide.neural.rerank import NeuralInfo
    from keyglide.neural.runtime import check_onnxruntime

    return check_onnxruntime(NeuralInfo.parse(file.neural[0]).min_onnxruntime)


def _within_tolerance(a, b) -> bool:
    """Scores within 1 and order only swapped between such scores (FORMAT.md section 11)."""
    if len(a) != len(b):
        return False
    same_order = [w for w, _ in a] == [w for w, _ in b]
    if not same_order and not all(abs(x - y) <= 1 for (_, x), (_, y) in zip(a, b, strict=True)):
        return False
    sa, sb = dict(a), dict(b)
    return all(abs(sa[w] - sb[w]) <= 1 for w in set(sa) & set(sb))


def run(count: int, seed: int, save: Path | None = None, report=print) -> collections.Counter:
    """Judge mutants ``seed`` .. ``seed + count - 1``; the disagreements by kind, as
    ``mutation kind: disagreement kind`` (``neural-*`` ones separately named)."""
    found: collections.Counter = collections.Counter()
    started = time.monotonic()
    for n in range(seed, seed + count):
        kind, name, data = mutant(n)
        for disagreement in judge(data, texts_for(dict(seed_files())[name])):
            found[f"{kind}: {disagreement}"] += 1
            if save is not None:
                folder = save / disagreement
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{n}-{kind}-{name}.langdb").write_bytes(data)
        done = n - seed + 1
        if done % 5000 == 0 or done == count:
            rate = done / (time.monotonic() - started)
            report(f"{done} mutants, {sum(found.values())} disagreements ({rate:.0f}/s)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, nargs="?", default=100_000)
    parser.add_argument("--seed", type=int, default=0, help="number of the first mutant")
    parser.add_argument("--save", type=Path, help="a folder for the disagreeing mutants")
    args = parser.parse_args(argv)
    if not AVAILABLE:
        print(f"the native engine is not available: {WHY}", file=sys.stderr)
        return 2
    found = run(args.count, args.seed, args.save, report=lambda s: print(s, flush=True))
    neural = sum(v for k, v in found.items() if k.split(": ")[1].startswith("neural"))
    print(f"{args.count} mutants from seed {args.seed}: {sum(found.values())} disagreements")
    print(f"  of which neural reranker: {neural}")
    for kind, n in sorted(found.items()):
        print(f"  {kind}: {n}")
    return 1 if found else 0


# --- the rules of FORMAT.md section 7, in both readers -------------------------------------


def _meta_of(data: bytes) -> dict:
    return json.loads(sections_of(data)[META][1])


def _verdicts(data: bytes) -> tuple[str, str, str, str]:
    """(Python open, kernel open, Python verify, kernel verify); verify '-' when not open."""
    _, python_opened = _opened(lambda: LangDBFile.from_buffer(data).close())
    _, kernel_opened = _opened(lambda: native.NativeEngine.from_buffer(data).close())
    if "ok" not in (python_opened, kernel_opened):
        return python_opened, kernel_opened, "-", "-"

    def python_verify():
        with LangDBFile.from_buffer(data) as f:
            f.verify()

    def kernel_verify():
        engine = native.NativeEngine.from_buffer(data)
        try:
            engine.verify()
        finally:
            engine.close()

    return python_opened, kernel_opened, verdict(python_verify), verdict(kernel_verify)


@pytest.fixture(scope="module")
def order4() -> bytes:
    return dict(seed_files())["order4"]


@pytest.mark.parametrize(
    "depth",
    [1, 2, 6, META_MAX_DEPTH - 1, META_MAX_DEPTH, META_MAX_DEPTH + 1, 100, 511, 512]
    + [513, 600, 980, 1000, 5000],
)
def test_meta_nesting_is_limited_alike(order4, depth):
    """META nested at most META_MAX_DEPTH arrays and objects deep (the object itself is 1)
    opens in both readers; one level deeper is corrupt in both, at open."""
    meta = _meta_of(order4)
    meta["deep"] = "\0VALUE"
    text = _dumps(meta).replace('"\\u0000VALUE"', nested(random.Random(depth), depth - 1))
    data = _with_section(order4, META, text.encode())
    expected = "ok" if depth <= META_MAX_DEPTH else "CorruptLangDB"
    assert _verdicts(data)[:2] == (expected, expected)


@pytest.mark.parametrize("key", ["order", "vocab_size", "ngram_counts"])
@pytest.mark.parametrize("spelling", range(len(number_spellings(4))))
def test_meta_counts_are_json_integers_in_both_readers(order4, key, spelling):
    """order, vocab_size and each entry of ngram_counts match only as integer literals:
    3.0, 3e0, 3.0000000000000001 and true are refused by both verify()s."""
    meta = _meta_of(order4)
    value = meta[key][-1] if key == "ngram_counts" else meta[key]
    entry = spelled = number_spellings(value)[spelling]
    meta[key] = "\0VALUE"
    if key == "ngram_counts":
        spelled = "[" + ",".join([*map(str, _meta_of(order4)[key][:-1]), entry]) + "]"
    text = _dumps(meta).replace('"\\u0000VALUE"', spelled)
    data = _with_section(order4, META, text.encode())
    if not _valid_json(text):
        assert _verdicts(data) == ("CorruptLangDB", "CorruptLangDB", "-", "-"), spelled
        return
    verified = "ok" if entry.strip() == str(value) else "CorruptLangDB"
    assert _verdicts(data) == ("ok", "ok", verified, verified), spelled


def _valid_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=lambda c: 1 / 0)
    except (ValueError, ZeroDivisionError):
        return False
    return True


@pytest.mark.parametrize("sign", [1, -1], ids=["highest", "lowest"])
@pytest.mark.parametrize("beyond", [0, 1, 2**31 - 1 - MAX_CODEBOOK_SCORE])
def test_codebook_scores_are_bounded_alike(sign, beyond):
    """Every score of a codebook lies within +-MAX_CODEBOOK_SCORE, so that the sum of one
    probability and four backoffs fits in the 32 bits a suggestion's score is given in:
    beyond it, both verify()s refuse the file (the kernel would otherwise saturate scores
    the reference engine gives exactly)."""
    data = dict(seed_files())["order5"]
    for n in range(1, 5):  # every BACKOFF codebook: its first or its last score
        sid = section_id(Kind.BACKOFF_CODEBOOK, n)
        codebook = np.frombuffer(sections_of(data)[sid][1], dtype="<i4").copy()
        codebook[0 if sign < 0 else -1] = sign * (MAX_CODEBOOK_SCORE + beyond)
        data = _with_section(data, sid, codebook.tobytes())
    expected = "ok" if beyond == 0 else "CorruptLangDB"
    assert _verdicts(data) == ("ok", "ok", expected, expected)
    assert judge(data, texts_for(dict(seed_files())["order5"])) == []


def test_scores_at_the_bound_are_given_exactly():
    """Four backoffs of -MAX_CODEBOOK_SCORE and a probability: both engines give the sum."""
    m = MAX_CODEBOOK_SCORE
    ngrams = {" ".join("a" * n): (-50000, -m) for n in range(1, 5)}
    ngrams["a a a a a"] = (-50000, 0)
    data = written(build_model([*SPECIAL_TOKENS, "a", "b"], ngrams))
    assert _verdicts(data) == ("ok", "ok", "ok", "ok")
    assert judge(data, ("a a a a ", "a a a a b", "a a ", "b b ")) == []
    with LangDBFile.from_buffer(data) as f:
        assert ReferenceEngine(f).predict("a a a a b", 1)[0].score == -4 * m - 50000
    engine = native.NativeEngine.from_buffer(data)
    try:
        assert engine.predict("a a a a b", 1)[0].score == -4 * m - 50000
    finally:
        engine.close()


# --- the fuzz, bounded -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MUTATORS))
def test_each_kind_of_mutant_is_judged_alike(kind):
    """Forty mutants of each kind from fixed seeds: no disagreement."""
    for n in range(40):
        _, name, data = mutant(1000 * n + 7, kind)
        assert judge(data, texts_for(dict(seed_files())[name])) == [], (kind, n, name)


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.integers(0, 2**63 - 1))
def test_any_mutant_is_judged_alike(seed):
    kind, name, data = mutant(seed)
    assert judge(data, texts_for(dict(seed_files())[name])) == [], (seed, kind, name)


def test_every_seed_file_is_valid_and_judged_alike():
    for name, data in seed_files():
        assert _verdicts(data) == ("ok", "ok", "ok", "ok"), name
        assert judge(data, texts_for(data)) == [], name


def test_a_file_that_asks_for_a_newer_onnxruntime_is_no_disagreement():
    """Such a file is read without its reranker where onnxruntime is older, by design, while
    the reference reranks it: the campaign does not count it (it counted it once)."""
    data = (FIXTURES / "1.3" / "neural-3.langdb").read_bytes()
    sections = sections_of(data)
    info_id = section_id(Kind.NEURAL_INFO, 0)
    info = json.loads(sections[info_id][1])
    info["min_onnxruntime"] = "999.0"
    sections[info_id] = (sections[info_id][0], json.dumps(info).encode())
    edited = bytearray(assemble(sections, **header_fields(data)))
    fix_checksums(edited)
    assert neural_kinds(bytes(edited), texts_for(data), verified=False) == []


def test_the_campaign_reports_by_kind(capsys):
    assert main(["30", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "30 mutants from seed 5: 0 disagreements" in out


if __name__ == "__main__":
    sys.exit(main())
