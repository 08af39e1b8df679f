"""The writer: round trips, layout, determinism, atomicity, validation; and ARPA export."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import Oracle, models, random_model, whole, written
from hypothesis import given
from keyglide.arpa import export_arpa
from keyglide.builder import write
from keyglide.builder.write import write_langdb
from keyglide.errors import BuildError, ChecksumMismatch
from keyglide.format import (
    FIRST_WORD_ID,
    META_MAX_DEPTH,
    SECTION_ALIGN,
    SPECIAL_TOKENS,
    TOP_LIST_LENGTH,
    ElemType,
    Kind,
    header_size,
)
from keyglide.reader import LangDBFile, section_ids


def brute_top_lists(model, n: int) -> tuple[list[int], list[int]]:
    """TOP_NODES and the concatenated TOP_ENTRIES of order n, one node at a time."""
    level, following = model.orders[n - 1], model.orders[n]
    nodes, entries = [], []
    for node in range(level.count):
        first, last = int(level.children[node]), int(level.children[node + 1])
        if last - first <= TOP_LIST_LENGTH:
            continue
        score = lambda i: int(following.prob_codebook[following.prob_codes[i]])  # noqa: E731
        ranked = sorted(range(first, last), key=lambda i: (-score(i), int(following.words[i])))
        nodes.append(node)
        entries += ranked[:TOP_LIST_LENGTH]
    return nodes, entries


# --- round trip ---------------------------------------------------------------------------


@given(models())
def test_round_trip_gives_back_every_array(model):
    file = LangDBFile.from_buffer(written(model))
    file.verify()
    assert file.order == model.order
    assert [file.word(i) for i in range(file.vocab_size)] == model.vocab
    assert file.counts == tuple(level.count for level in model.orders)
    for n, level in enumerate(model.orders, start=1):
        assert np.array_equal(whole(file, Kind.PROB, n), level.prob_codes)
        assert np.array_equal(whole(file, Kind.PROB_CODEBOOK, n), level.prob_codebook)
        if n >= 2:
            assert np.array_equal(whole(file, Kind.WORDS, n), level.words)
        if n < model.order:
            assert np.array_equal(whole(file, Kind.BACKOFF, n), level.backoff_codes)
            assert np.array_equal(whole(file, Kind.BACKOFF_CODEBOOK, n), level.backoff_codebook)
            assert np.array_equal(whole(file, Kind.CHILDREN, n), level.children)
    assert file.meta == {
        **model.meta,
        "tokenizer": "keyglide-text-1",
        "order": model.order,
        "vocab_size": len(model.vocab),
        "ngram_counts": [level.count for level in model.orders],
    }


@given(models())
def test_top_lists_are_the_best_children(model):
    file = LangDBFile.from_buffer(written(model))
    unigram = model.orders[0]
    scores = unigram.prob_codebook[unigram.prob_codes]
    assert whole(file, Kind.TOP_ENTRIES, 0).tolist() == sorted(
        range(len(model.vocab)), key=lambda i: (-int(scores[i]), i)
    )
    for n in range(1, model.order):
        nodes, entries = brute_top_lists(model, n)
        assert whole(file, Kind.TOP_NODES, n).tolist() == nodes
        assert whole(file, Kind.TOP_STARTS, n).tolist() == [
            TOP_LIST_LENGTH * j for j in range(len(nodes) + 1)
        ]
        assert whole(file, Kind.TOP_ENTRIES, n).tolist() == entries


def test_small_model_has_top_lists_at_every_order(small_model):
    # Guards the fixture the engine tests rely on to exercise long children lists.
    file = LangDBFile.from_buffer(written(small_model))
    assert all(len(file.column(Kind.TOP_NODES, n)) > 0 for n in range(1, small_model.order))


# --- layout ------------------------------------------------------------------------------


@given(models(max_words=20))
def test_layout_follows_the_format(model):
    file = LangDBFile.from_buffer(written(model))
    ids = [e.id for e in file.entries]
    assert ids == section_ids(model.order)
    assert file.header.header_size == header_size(len(ids))
    end = file.header.header_size
    for entry in file.entries:  # in id order, packed, each aligned
        assert entry.offset == -(-end // SECTION_ALIGN) * SECTION_ALIGN
        end = entry.offset + entry.length
    assert end == file.header.file_size
    for entry in file.entries:
        kind, order = entry.id >> 8, entry.id & 0xFF
        values = whole(file, Kind(kind), order)
        if kind in (Kind.WORDS, Kind.CHILDREN, Kind.TOP_NODES, Kind.TOP_STARTS, Kind.TOP_ENTRIES):
            largest = int(values.max()) if len(values) else 0
            assert entry.elem_type == ElemType.unsigned_for(largest)
        elif kind in (Kind.PROB, Kind.BACKOFF):
            codes = (
                model.orders[order - 1].prob_codes
                if kind == Kind.PROB
                else (model.orders[order - 1].backoff_codes)
            )
            assert ElemType(entry.elem_type).width == codes.itemsize


def test_meta_is_compact_sorted_json(small_model):
    file = LangDBFile.from_buffer(written(small_model))
    entry = next(e for e in file.entries if e.id == Kind.META << 8)
    raw = written(small_model)[entry.offset : entry.offset + entry.length]
    assert (
        raw
        == json.dumps(file.meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert "ünïcode".encode() in raw


def test_u24_columns_round_trip(tmp_path):
    # More than 65536 words: word ids in WORDS_2 need three bytes.
    vocab = [*SPECIAL_TOKENS, *(f"w{i:05d}" for i in range(70_000))]
    model = random_model(seed=3, vocab=vocab, order=2, max_per_order=2000)
    path = tmp_path / "wide.langdb"
    write_langdb(path, model)
    with LangDBFile.open(path) as file:
        assert file.column(Kind.WORDS, 2).elem_type is ElemType.U24
        assert np.array_equal(whole(file, Kind.WORDS, 2), model.orders[1].words)
        file.verify()


# --- determinism and the returned hash ----------------------------------------------------


@given(models(max_words=20))
def test_writing_is_deterministic(model):
    assert written(model) == written(copy.deepcopy(model))


def test_returns_the_sha256_of_the_file(tmp_path, small_model):
    path = tmp_path / "x.langdb"
    digest = write_langdb(path, small_model)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_meta_key_order_does_not_change_the_bytes(small_model):
    shuffled = copy.deepcopy(small_model)
    shuffled.meta = dict(reversed(list(small_model.meta.items())))
    assert written(shuffled) == written(small_model)


# --- atomicity ----------------------------------------------------------------------------


def test_a_failure_mid_write_leaves_nothing(tmp_path, small_model, monkeypatch):
    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(write.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_langdb(tmp_path / "x.langdb", small_model)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_previous_file(tmp_path, small_model, monkeypatch):
    path = tmp_path / "x.langdb"
    path.write_bytes(b"previous")

    def failing_replace(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(write.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename refused"):
        write_langdb(path, small_model)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["x.langdb"]


class RecordingFile:
    """A file that records the position and bytes of every write."""

    def __init__(self, f):
        self.f, self.writes = f, []

    def write(self, data):
        self.writes.append((self.f.tell(), bytes(data)))
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.f.close()


def test_the_header_is_written_last_over_zeros(tmp_path, small_model, monkeypatch):
    files = []
    real_fdopen = os.fdopen

    def fdopen(fd, mode):
        files.append(RecordingFile(real_fdopen(fd, mode)))
        return files[-1]

    monkeypatch.setattr(write.os, "fdopen", fdopen)
    write_langdb(tmp_path / "x.langdb", small_model)
    writes = files[0].writes
    size = LangDBFile.open(tmp_path / "x.langdb").header.header_size
    assert writes[0] == (0, bytes(size))  # a crash before the end leaves a zero magic
    assert writes[-1][0] == 0 and len(writes[-1][1]) == size
    assert all(position >= size for position, _ in writes[1:-1])


def test_overwrites_an_existing_file(tmp_path, small_model):
    path = tmp_path / "x.langdb"
    path.write_bytes(b"old")
    write_langdb(path, small_model)
    LangDBFile.open(path).verify()


# --- validation ---------------------------------------------------------------------------


def _break(model, change):
    broken = copy.deepcopy(model)
    change(broken)
    return broken


def _set(array, index, value):
    array[index] = value


INVALID_MODELS = {
    "specials missing": lambda m: m.vocab.pop(1),
    "vocabulary unsorted": lambda m: m.vocab.__setitem__(slice(3, 5), m.vocab[4:2:-1]),
    "duplicate word": lambda m: m.vocab.__setitem__(4, m.vocab[3]),
    "word too long": lambda m: m.vocab.append("z" * 65),
    "word not a token": lambda m: m.vocab.append("zz z"),
    "word not folded": lambda m: m.vocab.append("zZ"),
    "word with a surrogate": lambda m: m.vocab.append("z\udc80"),
    "order too high": lambda m: m.orders.extend([m.orders[-1]] * 3),
    "children decreasing": lambda m: _set(m.orders[0].children, 5, 10**6),
    "children not ending at the count": lambda m: _set(m.orders[0].children, -1, 1),
    "word id out of range": lambda m: _set(m.orders[1].words, 0, 10**6),
    "children unsorted": lambda m: _set(m.orders[1].words, 1, m.orders[1].words[0]),
    "codebook too short": lambda m: setattr(
        m.orders[1], "prob_codebook", m.orders[1].prob_codebook[:10]
    ),
    "codebook decreasing": lambda m: _set(m.orders[1].prob_codebook, 0, 1),
    "codes not uint8/16": lambda m: setattr(
        m.orders[1], "prob_codes", m.orders[1].prob_codes.astype(np.int64)
    ),
    "codes count": lambda m: setattr(m.orders[1], "prob_codes", m.orders[1].prob_codes[:-1]),
    "backoff at the top order": lambda m: setattr(
        m.orders[-1], "backoff_codes", m.orders[-1].prob_codes
    ),
    "no children below the top": lambda m: setattr(m.orders[0], "children", None),
    "<s> predictable": lambda m: _set(m.orders[0].prob_codes, 1, 2),
    "meta lacks sources": lambda m: m.meta.pop("sources"),
    "meta wrong order": lambda m: m.meta.__setitem__("order", 9),
    "meta not JSON": lambda m: m.meta.__setitem__("recipe", {1, 2}),
    "meta NaN": lambda m: m.meta.__setitem__("recipe", float("nan")),
    "meta order a float": lambda m: m.meta.__setitem__("order", float(m.order)),
    "meta count a float": lambda m: m.meta.__setitem__(
        "ngram_counts", [float(order.count) for order in m.orders]
    ),
    "meta too deep": lambda m: m.meta.__setitem__("recipe", _nested(META_MAX_DEPTH)),
}


def _nested(depth: int) -> list:
    """A list nested ``depth`` deep: [[...[]...]]."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("change", INVALID_MODELS.values(), ids=INVALID_MODELS.keys())
def test_invalid_models_are_refused(tmp_path, small_model, change):
    with pytest.raises(BuildError):
        write_langdb(tmp_path / "x.langdb", _break(small_model, change))
    assert list(tmp_path.iterdir()) == []


def test_metadata_as_deep_as_the_format_allows_is_written(tmp_path, small_model):
    """META itself is depth 1, so a value nested META_MAX_DEPTH - 1 deep is the deepest."""
    deep = _break(small_model, lambda m: m.meta.__setitem__("recipe", _nested(META_MAX_DEPTH - 1)))
    write_langdb(tmp_path / "x.langdb", deep)
    with LangDBFile.open(tmp_path / "x.langdb") as f:
        f.verify()


def test_build_errors_say_what_is_wrong(tmp_path, small_model):
    broken = _break(small_model, lambda m: m.vocab.append("z" * 65))
    with pytest.raises(BuildError, match="65 bytes"):
        write_langdb(tmp_path / "x.langdb", broken)


# --- ARPA export --------------------------------------------------------------------------


def parse_arpa(path: Path) -> tuple[dict, dict, dict]:
    counts, prob, backoff = {}, {}, {}
    lines = iter(path.read_text(encoding="utf-8").split("\n"))
    assert next(lines) == "\\data\\"
    for line in lines:
        if not line:
            break
        n, count = line.removeprefix("ngram ").split("=")
        counts[int(n)] = int(count)
    section = None
    for line in lines:
        if line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1:].split("-")[0])
        elif line == "\\end\\":
            section = None
        elif line:
            fields = line.split("\t")
            words = tuple(fields[1].split(" "))
            assert len(words) == section
            prob[words] = _score(fields[0])
            if len(fields) == 3:
                backoff[words] = _score(fields[2])
    return counts, prob, backoff


def _score(decimal: str) -> int:
    whole, fraction = decimal.split(".")
    value = int(whole.lstrip("-")) * 10000 + int(fraction)
    return -value if decimal.startswith("-") else value


@given(models(max_words=20))
def test_arpa_export_holds_every_ngram(model):
    oracle = Oracle(model)
    with tempfile.TemporaryDirectory() as directory:
        db, arpa = Path(directory) / "m.langdb", Path(directory) / "m.arpa"
        write_langdb(db, model)
        export_arpa(db, arpa)
        counts, prob, backoff = parse_arpa(arpa)
    spelled = lambda ids: tuple(model.vocab[i] for i in ids)  # noqa: E731
    assert counts == {n: level.count for n, level in enumerate(model.orders, start=1)}
    assert prob == {spelled(seq): s for seq, s in oracle.prob.items()}
    assert backoff == {spelled(seq): s for seq, s in oracle.backoff.items()}
    assert prob[("<s>",)] == -990000


def test_arpa_export_refuses_a_damaged_file(tmp_path, small_model):
    data = bytearray(written(small_model))
    data[-1] ^= 0xFF  # the last byte of the last section
    (tmp_path / "bad.langdb").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch):
        export_arpa(tmp_path / "bad.langdb", tmp_path / "bad.arpa")
    assert not (tmp_path / "bad.arpa").exists()


def test_arpa_export_from_an_open_file(tmp_path, small_db):
    with LangDBFile.open(small_db) as file:
        export_arpa(file, tmp_path / "m.arpa")
        assert not file.closed
    text = (tmp_path / "m.arpa").read_text()
    assert text.startswith("\\data\\\nngram 1=") and text.endswith("\n\\end\\\n")
    assert "\t<s>\t" in text and f"\t{SPECIAL_TOKENS[2]}\t" in text


def test_vocabulary_words_start_at_id_3(small_model):
    file = LangDBFile.from_buffer(written(small_model))
    assert [file.word(i) for i in range(FIRST_WORD_ID)] == list(SPECIAL_TOKENS)
