"""The builder end to end: counting (shards, merging, counts files, vocabulary limits),
quantization, metadata and deterministic output."""

from __future__ import annotations

import json
from pathlib import Path

import keyglide
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide.builder import Input, Recipe, build
from keyglide.builder import count as counting
from keyglide.builder.pipeline import count_inputs
from keyglide.builder.quantize import quantize_scores
from keyglide.errors import BuildError
from keyglide.format import SCORE_NEVER, SPECIAL_TOKENS
from keyglide.reader import LangDBFile


def synthetic_text(seed: int, sentences: int) -> str:
    """Zipf-distributed words in sentences and paragraphs, with punctuation and case."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(5000)] + ["Don't", "naïve", "Éclair", "o'clock", "1984"]
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    parts = []
    for _ in range(sentences):
        length = int(rng.integers(1, 12))
        sentence = " ".join(words[j] for j in rng.choice(len(words), size=length, p=weights))
        parts.append(sentence + rng.choice([". ", "! ", "? ", ", and ", ".\n\n"]))
    return "".join(parts)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for seed in range(3):
        path = folder / f"part{seed}.txt"
        path.write_text(synthetic_text(seed, 1500), encoding="utf-8")
        paths.append(path)
    return paths


def counts_arrays(counts) -> list[tuple[np.ndarray, ...]]:
    return [(o.parent, o.word, o.count, o.suffix) for o in counts.orders]


def assert_same_counts(a, b) -> None:
    assert a.vocab == b.vocab
    assert (a.tokens, a.sentences) == (b.tokens, b.sentences)
    for x, y in zip(counts_arrays(a), counts_arrays(b), strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------------------------------------
# Counting


def test_shards_merge_to_the_counts_of_one_text(tmp_path, corpus, monkeypatch):
    whole = tmp_path / "whole.txt"
    # Blank lines end sentences, so the files' sentences are the concatenation's.
    whole.write_text("\n\n".join(p.read_text(encoding="utf-8") for p in corpus), encoding="utf-8")
    one = Recipe.from_args(corpus=[whole], order=4)
    several = Recipe.from_args(corpus=corpus, order=4)
    reference = count_inputs(one, one.resolve_inputs(), jobs=1)
    assert_same_counts(reference, count_inputs(several, several.resolve_inputs(), jobs=1))
    # Large files are split at blank lines: many shards, the same counts.
    monkeypatch.setattr(counting, "SHARD_BYTES", 2000)
    shards = counting.plan_shards(one.resolve_inputs())
    assert len(shards) > 10
    assert_same_counts(reference, count_inputs(one, one.resolve_inputs(), jobs=1))


def test_counts_match_a_direct_count(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("The cat sat. The cat ran!\n\nA dog sat.", encoding="utf-8")
    recipe = Recipe.from_args(corpus=[path], order=3)
    counts = count_inputs(recipe, recipe.resolve_inputs(), jobs=1)
    assert counts.vocab == list(SPECIAL_TOKENS) + ["a", "cat", "dog", "ran", "sat", "the"]
    assert (counts.tokens, counts.sentences) == (9, 3)
    ngrams = as_dict(counts)
    assert ngrams[("<s>", "the", "cat")] == 2
    assert ngrams[("the", "cat")] == 2
    assert ngrams[("sat", "</s>")] == 2
    assert ngrams[("<s>",)] == 3 and ngrams[("</s>",)] == 3 and ngrams[("<unk>",)] == 0
    assert ("sat", "the") not in ngrams  # sentences do not run into each other
    assert sum(1 for k in ngrams if len(k) == 3) == 8  # 3 + 2 new + 3


def as_dict(counts) -> dict[tuple[str, ...], int]:
    """Every n-gram as a tuple of words, with its count."""
    result = {}
    rows = [(w,) for w in counts.vocab]
    for n, level in enumerate(counts.orders, 1):
        if n > 1:
            pairs = zip(level.parent, level.word, strict=True)
            rows = [rows[p] + (counts.vocab[w],) for p, w in pairs]
        result.update(zip(rows, level.count.tolist(), strict=True))
    return result


def test_vocabulary_limit_and_long_words_become_unk(tmp_path):
    long_word = "x" * 65  # 65 bytes: longer than MAX_WORD_BYTES
    path = tmp_path / "t.txt"
    path.write_text(f"b b b a a c {long_word}. c a b b.", encoding="utf-8")
    recipe = Recipe.from_args(corpus=[path], order=2, vocab_size=2)
    counts = count_inputs(recipe, recipe.resolve_inputs(), jobs=1)
    # b (5) and a (3) are kept; c (2) and the long word become <unk>.
    assert counts.vocab == list(SPECIAL_TOKENS) + ["a", "b"]
    ngrams = as_dict(counts)
    assert ngrams[("<unk>",)] == 3
    assert ngrams[("<unk>", "<unk>")] == 1  # "c <long>"
    assert ngrams[("a", "<unk>")] == 1 and ngrams[("<unk>", "a")] == 1
    # The long word never enters a vocabulary, however large.
    larger = Recipe.from_args(corpus=[path], order=2, vocab_size=10)
    assert count_inputs(larger, larger.resolve_inputs(), jobs=1).vocab[3:] == ["a", "b", "c"]


def test_vocabulary_ties_are_broken_by_bytes(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("zz yy xx zz yy xx.", encoding="utf-8")
    recipe = Recipe.from_args(corpus=[path], order=2, vocab_size=2)
    assert count_inputs(recipe, recipe.resolve_inputs(), jobs=1).vocab[3:] == ["xx", "yy"]


def test_counts_file_input(tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "The cat 2\n"
        "the cat 3\n"  # folds to the same pair: 5
        "cat sat 4\n"
        "U.S. army 7\n"  # not one token: skipped
        "a b c 1\n"  # three words for an order-2 file: skipped
        "cat dog many\n"  # not a count: skipped
        "cat dog 0\n"  # zero: skipped
        "\n"
        "Naïve cat 1\n",
        encoding="utf-8",
    )
    words = tmp_path / "words.txt"
    words.write_text("the 10\ncat 9\nsat 4\nnaïve 1\nalone 2\n", encoding="utf-8")
    recipe = Recipe(
        name="counted",
        order=2,
        inputs=(Input(kind="counts", paths=(str(pairs),)),
                Input(kind="counts", order=1, paths=(str(words),))),
        discount_fallback=(0.5, 1.0, 1.5),
        lowest_order="raw",
    )
    counts = count_inputs(recipe, recipe.resolve_inputs(), jobs=1)
    assert counts.skipped_lines == 4
    assert counts.vocab == list(SPECIAL_TOKENS) + ["alone", "cat", "naïve", "sat", "the"]
    ngrams = as_dict(counts)
    assert ngrams[("the", "cat")] == 5
    assert ngrams[("naïve", "cat")] == 1
    # A unigram count below what its pairs imply is raised to it (cat ends 6 pairs).
    assert ngrams[("cat",)] == 9 and ngrams[("alone",)] == 2
    result = build(recipe, tmp_path / "counted.langdb", progress=False, source_commit=None)
    assert result.meta["skipped_lines"] == 4
    assert result.meta["discount_fallback_orders"] == [1, 2]
    with LangDBFile.open(result.path) as f:
        f.verify()


def test_empty_corpus_is_a_build_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  ... ?! --- \n\n", encoding="utf-8")
    with pytest.raises(BuildError, match="no tokens"):
        build(Recipe.from_args(corpus=[path], order=3), tmp_path / "x.langdb", progress=False)
    assert not (tmp_path / "x.langdb").exists()


# ---------------------------------------------------------------------------------------------
# Quantization


def test_quantization_is_lossless_when_the_scores_fit():
    values = np.array([-1.23456, -0.5, -0.5, 0.0, -3.0])
    codes, codebook = quantize_scores(values, 8)
    assert codes.dtype == np.uint8 and codebook.dtype == np.int32 and len(codebook) == 256
    np.testing.assert_array_equal(codebook[codes], np.rint(values * 10000))
    assert (np.diff(codebook) >= 0).all()
    assert (codebook[5:] == codebook[4]).all()  # padded with the last value


def test_quantization_bins_keep_exact_codes():
    rng = np.random.default_rng(1)
    values = np.concatenate([-rng.gamma(2.0, 1.0, 20000), np.zeros(500), [-99.0]])
    codes, codebook = quantize_scores(values, 8, exact=(0.0, -99.0))
    scores = codebook[codes]
    assert len(np.unique(scores)) <= 256
    assert (np.diff(codebook) >= 0).all()
    assert (scores[values == 0.0] == 0).all()
    assert scores[-1] == SCORE_NEVER
    assert (codebook[codes[:20000]] != SCORE_NEVER).all()
    # Nearest of 254 equal-count levels: small errors.
    error = np.abs(scores[:20000] / 10000 - values[:20000])
    assert np.median(error) < 0.01
    # Order is kept: a higher value never gets a lower code.
    order = np.argsort(values, kind="stable")
    assert (np.diff(codes[order].astype(int)) >= 0).all()
    wide, wide_book = quantize_scores(values, 16)
    assert wide.dtype == np.uint16 and len(wide_book) == 65536


# ---------------------------------------------------------------------------------------------
# Whole builds


def test_build_is_deterministic_whatever_the_workers(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(counting, "SHARD_BYTES", 20000)
    monkeypatch.setattr(counting, "POOL_MIN_BYTES", 0)
    recipe = Recipe.from_args(corpus=corpus, order=3, prune=[0, 1])
    one = build(recipe, tmp_path / "one.langdb", jobs=1, progress=False, source_commit=None)
    two = build(recipe, tmp_path / "two.langdb", jobs=2, progress=False, source_commit=None)
    assert one.sha256 == two.sha256
    assert (tmp_path / "one.langdb").read_bytes() == (tmp_path / "two.langdb").read_bytes()


def test_built_langdb_verifies_and_records_its_provenance(tmp_path, corpus):
    messages: list[str] = []
    recipe = Recipe.from_args(corpus=corpus, order=3, language="en", data_version="1.2.3")
    result = build(recipe, tmp_path / "m.langdb", progress=messages.append, source_commit="abc123")
    assert any("counting" in m for m in messages)
    assert set(result.timings) == {"inputs", "counting", "estimating", "quantizing", "writing"}
    with LangDBFile.open(result.path) as f:
        f.verify()
    meta = result.meta
    assert meta["language"] == "en" and meta["data_version"] == "1.2.3"
    assert meta["order"] == 3 and len(meta["discounts"]) == 3
    assert meta["builder"] == {"name": "keyglide", "version": keyglide.__version__,
                               "source_commit": "abc123"}
    assert [i["name"] for i in meta["inputs"]] == ["part0.txt", "part1.txt", "part2.txt"]
    assert meta["quantization"]["prob_bits"] == [16, 8, 8]
    assert meta["token_count"] > 10000
    # Nothing about this machine: no absolute paths.
    assert str(tmp_path) not in json.dumps(meta)
    assert str(corpus[0].parent) not in json.dumps(meta)
    with keyglide.open(result.path, engine="reference") as db:
        assert db.predict("w0 w1 ", k=3)


def test_source_commit_can_be_omitted(tmp_path, corpus):
    recipe = Recipe.from_args(corpus=corpus[:1], order=2)
    result = build(recipe, tmp_path / "m.langdb", progress=False, source_commit=None)
    assert result.meta["builder"]["source_commit"] is None


# ---------------------------------------------------------------------------------------------
# Inputs that are not UTF-8


@pytest.mark.parametrize(
    "data, offset, hint",
    [
        ("Le café est chaud.\n".encode("latin-1"), 6, ""),
        ("The cat sat.\n".encode("utf-16"), 0, "UTF-16"),
        (b"The cat sat.\n" * 3 + b"\x89PNG\r\n\x1a\n\x00\x00", 39, "binary"),
        (b"The cat sat. caf\xc3", 16, ""),  # a character cut at the end of the file
        ("The cat sat.\n".encode("utf-16-le"), 1, "UTF-16"),  # no byte order mark: the NULs
    ],
)
def test_a_corpus_that_is_not_utf8_is_a_build_error(tmp_path, data, offset, hint):
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    out = tmp_path / "x.langdb"
    with pytest.raises(BuildError, match=f"{path}: not UTF-8 text") as caught:
        build(Recipe.from_args(corpus=[path], order=2), out, progress=False)
    assert f"at byte offset {offset} " in str(caught.value) and hint in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]  # nothing written


def test_the_offset_is_exact_across_read_chunks(tmp_path):
    chunk = 1 << 20  # the builder hashes (and checks) inputs a MiB at a time
    path = tmp_path / "corpus.txt"
    # A valid two-byte character across the first chunk boundary, then a bad byte later.
    path.write_bytes(b"a" * (chunk - 1) + "é".encode() + b" word \xff more")
    with pytest.raises(BuildError, match=f"at byte offset {chunk + 7} \\(0xff\\)"):
        Recipe.from_args(corpus=[path], order=2).resolve_inputs()
    path.write_bytes(b"a" * (chunk - 1) + "é".encode() + b" word more")
    assert Recipe.from_args(corpus=[path], order=2).resolve_inputs()[0].size == chunk + 11


@given(st.binary(max_size=40), st.lists(st.integers(0, 40), max_size=5))
@settings(max_examples=300, deadline=None)
def test_the_utf8_check_finds_what_a_strict_decode_finds(data, cuts):
    from keyglide.textfile import Utf8Check

    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    check = Utf8Check()
    found = None
    for start, end in zip(bounds, bounds[1:], strict=False):
        found = found or check.feed(data[start:end])
    found = found or check.finish()
    nul = data.find(b"\x00")  # text holds no NUL (UTF-16 of ASCII text is valid UTF-8)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        first = e.start if nul < 0 else min(e.start, nul)
        assert found is not None and found[0] == first and data[first] == found[1][0]
    else:
        assert found == (None if nul < 0 else (nul, b"\x00", "a NUL byte, which text never holds"))


def test_other_text_inputs_must_be_utf8_too(tmp_path, corpus):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("naïve 3\n".encode("latin-1"))
    counted = Recipe(name="c", order=2, inputs=(Input(kind="counts", paths=(str(bad),)),))
    with pytest.raises(BuildError, match=f"{bad}: not UTF-8 text.*byte offset 2 "):
        counted.resolve_inputs()
    listing = tmp_path / "corpus.list"
    listing.write_bytes(b"part0.txt\n# caf\xe9\n")
    listed = Recipe(
        name="l", order=2, inputs=(Input(list=str(listing), directory=str(corpus[0].parent)),)
    )
    with pytest.raises(BuildError, match=f"{listing}: not UTF-8 text.*byte offset 15 "):
        listed.resolve_inputs()
    recipe = tmp_path / "r.toml"
    recipe.write_bytes(b'name = "caf\xe9"\norder = 2\n')
    with pytest.raises(BuildError, match=f"{recipe}: not UTF-8 text.*byte offset 11 "):
        Recipe.from_toml(recipe)
    words = tmp_path / "words.txt"
    words.write_bytes(b"w1\nna\xefve\n")
    with pytest.raises(BuildError, match=f"blocklist {words}: not UTF-8 text.*byte offset 5 "):
        build(
            Recipe.from_args(corpus=corpus[:1], order=2).with_blocklist(words),
            tmp_path / "x.langdb",
            progress=False,
        )
    assert not (tmp_path / "x.langdb").exists()


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("The cat sat. The dog sat.\n", encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    a = build(Recipe.from_args(corpus=[plain], order=2, discount_fallback=True),
              tmp_path / "a.langdb", progress=False, source_commit=None)
    b = build(Recipe.from_args(corpus=[marked], order=2, discount_fallback=True),
              tmp_path / "b.langdb", progress=False, source_commit=None)
    with LangDBFile.open(a.path) as fa, LangDBFile.open(b.path) as fb:
        assert list(fa.all_word_bytes()) == list(fb.all_word_bytes())  # U+FEFF is no word


def test_the_old_name_of_the_builder_still_imports_with_a_warning():
    """keyglide.build (until SDK 1.5) is keyglide.builder, submodules included, until 2.0."""
    import importlib
    import sys

    import keyglide.builder
    import keyglide.builder.recipe

    for name in [n for n in sys.modules if n.split(".")[:2] == ["keyglide", "build"]]:
        del sys.modules[name]
    with pytest.warns(DeprecationWarning, match="keyglide.builder"):
        old = importlib.import_module("keyglide.build")
    assert old.Recipe is keyglide.builder.Recipe and old.build is keyglide.builder.build
    assert set(old.__all__) == set(keyglide.builder.__all__)
    assert importlib.import_module("keyglide.build.recipe") is keyglide.builder.recipe
    from keyglide.build.network import Network

    assert Network is importlib.import_module("keyglide.builder.network").Network
