"""Shared test support: hypothesis profiles, random valid models and a brute-force oracle.

Random models are built here directly (not by the builder), so the format, reader and
reference engine are tested independently of how a real model is estimated. The oracle
scores words by the literal recursion of FORMAT.md section 5 over a dict of n-grams read
from the model's arrays, sharing no code with the engine.

Hypothesis profiles: ``default`` for the developer loop, ``ci`` (twice the examples,
derandomized so a CI run is reproducible); choose with ``HYPOTHESIS_PROFILE``. A test that
asks for its own number of examples asks through ``examples(n)``: n under ``ci``, in
proportion under the others (half under ``default``).

The ``slow`` mark (registered in pyproject.toml) flags tests of many seconds:
``pytest -m "not slow"`` is the quick developer loop; CI runs every test.
"""

from __future__ import annotations

import bisect
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from keyglide import text
from keyglide.builder.write import write_langdb
from keyglide.format import BOS, EOS, FIRST_WORD_ID, SCORE_NEVER, SPECIAL_TOKENS, UNK, Kind
from keyglide.model import Order, QuantizedModel
from keyglide.reader import LangDBFile

settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CI_EXAMPLES = 80
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def novel_split(name: str) -> list[Path]:
    """The novels of one split of the shared corpus (``$KEYGLIDE_CORPORA``, else
    ../shared/corpora beside the repository); skips the test where it is absent."""
    base = Path(
        os.environ.get(
            "KEYGLIDE_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora"
        )
    )
    listing = base / f"novels.{name}.list"
    if not listing.is_file():
        pytest.skip(
            f"the novels corpus is not at {base} (set KEYGLIDE_CORPORA or put it at "
            "../shared/corpora beside the repository)"
        )
    files = [base / "novels" / n for n in listing.read_text().split()]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        pytest.skip(f"the novels corpus at {base} is incomplete: {missing[0]} is missing")
    return files


def examples(n: int) -> int:
    """``max_examples`` for a test that CI runs ``n`` examples of: ``n`` under the ``ci``
    profile, in proportion under the loaded one (half as many under ``default``)."""
    return max(1, n * settings.default.max_examples // CI_EXAMPLES)


BASE_META = {
    "language": "xx",
    "data_version": "0.0.0",
    "discounts": [],
    "quantization": {"method": "test", "prob_bits": [], "backoff_bits": []},
    "pruning": {"thresholds": [], "vocab_limit": None},
    "builder": {"name": "keyglide", "version": "test", "source_commit": None},
    "recipe": {"name": "test"},
    "inputs": [],
    "sources": [{"name": "test", "licence": "CC0", "attribution": "nobody — ünïcode"}],
}

# Letters from several scripts (one and two UTF-8 bytes) and digits; joiners go between.
_LETTERS = "abeyzàéßøдя09"


@st.composite
def folded_words(draw) -> str:
    """A folded token of the contract: word characters, single joiners inside."""
    parts = draw(st.lists(st.text(_LETTERS, min_size=1, max_size=4), min_size=1, max_size=3))
    joiners = draw(
        st.lists(st.sampled_from("'-"), min_size=len(parts) - 1, max_size=len(parts) - 1)
    )
    word = parts[0] + "".join(j + p for j, p in zip(joiners, parts[1:], strict=True))
    return word


def longest_word() -> str:
    return "д" * 32  # exactly MAX_WORD_BYTES bytes


@st.composite
def vocabularies(draw, min_words: int = 0, max_words: int = 40) -> list[str]:
    words = set(draw(st.lists(folded_words(), min_size=min_words, max_size=max_words)))
    if draw(st.booleans()):
        words.add(longest_word())
    return [*SPECIAL_TOKENS, *sorted(words, key=str.encode)]


def random_model(
    seed: int,
    vocab: list[str],
    order: int,
    prob_width: int = 1,
    backoff_width: int = 1,
    max_per_order: int = 300,
) -> QuantizedModel:
    """A valid random model. Scores come from few distinct values, so ties are common."""
    rng = np.random.default_rng(seed)
    size = len(vocab)
    orders = []
    words = np.arange(size)
    for n in range(1, order + 1):
        count = len(words)
        prob_codes, prob_codebook = _codes(rng, count, prob_width, unigram=n == 1)
        level = Order(words=words, prob_codes=prob_codes, prob_codebook=prob_codebook)
        if n < order:
            level.backoff_codes, level.backoff_codebook = _codes(rng, count, backoff_width)
            level.children, words = _children(rng, count, size, max_per_order)
        orders.append(level)
    return QuantizedModel(list(vocab), orders, dict(BASE_META))


def _codes(rng, count: int, width: int, unigram: bool = False) -> tuple[np.ndarray, np.ndarray]:
    distinct = np.sort(rng.integers(-40000, 1, rng.integers(1, 6)))
    if unigram:
        distinct = np.concatenate([[SCORE_NEVER], distinct])
    codebook = np.full(1 << 8 * width, distinct[-1], dtype=np.int32)
    codebook[: len(distinct)] = distinct
    # One code past the distinct values: an unused code that repeats the last value.
    codes = rng.integers(1 if unigram else 0, len(distinct) + 1, count)
    if unigram:
        codes[BOS] = 0
    return codes.astype(np.uint8 if width == 1 else np.uint16), codebook


def _children(rng, count: int, vocab_size: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """First-child indices of ``count`` nodes and the children's sorted word ids."""
    sizes = np.zeros(count, dtype=np.int64)
    for node in rng.permutation(count):
        many = vocab_size > 17 and rng.random() < 0.1
        want = rng.integers(17, vocab_size + 1) if many else rng.integers(0, 4)
        sizes[node] = min(want, budget, vocab_size)
        budget -= sizes[node]
    words = [np.sort(rng.choice(vocab_size, s, replace=False)) for s in sizes]
    children = np.concatenate([[0], np.cumsum(sizes)])
    return children, np.concatenate([np.zeros(0, np.int64), *words])


def build_model(vocab: list[str], ngrams: dict[str, tuple[int, int]]) -> QuantizedModel:
    """A model holding exactly ``ngrams``, {"w1 w2 ...": (prob, backoff)}, and every word as
    a unigram (with prob -50000 and backoff 0 unless given). Sorting the n-grams as tuples
    of ids lays the trie out: each node's children are consecutive and sorted by word."""
    ids = {w: i for i, w in enumerate(vocab)}
    table = {(i,): (-50000, 0) for i in range(len(vocab))}
    table[(BOS,)] = (SCORE_NEVER, 0)
    table.update({tuple(ids[w] for w in k.split()): v for k, v in ngrams.items()})
    assert all(k[:-1] in table for k in table if len(k) > 1), "every prefix must be an n-gram"
    order = max(map(len, table))
    orders = []
    for n in range(1, order + 1):
        keys = sorted(k for k in table if len(k) == n)
        words = np.array([k[-1] for k in keys], dtype=np.int64)
        level = Order(words, *_coded([table[k][0] for k in keys]))
        if n < order:
            level.backoff_codes, level.backoff_codebook = _coded([table[k][1] for k in keys])
            prefixes = sorted(k[:-1] for k in table if len(k) == n + 1)
            firsts = [bisect.bisect_left(prefixes, k) for k in keys]
            level.children = np.array([*firsts, len(prefixes)])
        orders.append(level)
    return QuantizedModel(list(vocab), orders, dict(BASE_META))


def _coded(scores: list[int]) -> tuple[np.ndarray, np.ndarray]:
    distinct = sorted(set(scores)) or [0]
    codebook = np.full(256, distinct[-1], dtype=np.int32)
    codebook[: len(distinct)] = distinct
    return np.array([distinct.index(s) for s in scores], dtype=np.uint8), codebook


@st.composite
def models(draw, min_words: int = 0, max_words: int = 40, max_order: int = 5) -> QuantizedModel:
    vocab = draw(vocabularies(min_words, max_words))
    return random_model(
        seed=draw(st.integers(0, 2**32 - 1)),
        vocab=vocab,
        order=draw(st.integers(2, max_order)),
        prob_width=draw(st.sampled_from([1, 1, 1, 2])),
        backoff_width=draw(st.sampled_from([1, 1, 1, 2])),
    )


@st.composite
def typed_texts(draw, vocab: list[str], max_pieces: int = 8) -> str:
    """Text before a cursor: known words (any case), unknown words, abbreviations,
    separators, and sometimes the start of a word being typed."""
    known = [w for w in vocab[FIRST_WORD_ID:]] or ["a"]
    word = st.one_of(
        st.sampled_from(known),
        st.sampled_from(known).map(str.upper),
        st.sampled_from(["zzz", "unknown", "x" * 70, "Mr", "st"]),
    )
    gap = st.sampled_from(
        [" ", " ", "  ", ", ", ". ", "! ", "\n\n", " - ", " ’", "…", ".\t", "\n", "é "]
    )
    pieces = draw(st.lists(st.tuples(word, gap), max_size=max_pieces))
    result = "".join(w + g for w, g in pieces)
    ending = draw(st.sampled_from(["next", "prefix", "whole"]))
    if ending == "prefix":
        typed = draw(st.sampled_from(known))
        result += typed[: draw(st.integers(1, len(typed)))]
    elif ending == "whole" and pieces:
        result = result.rstrip(" ,.!\n-’…")
    return result


def written(model: QuantizedModel) -> bytes:
    """The bytes the writer produces for ``model``."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.langdb"
        write_langdb(path, model)
        return path.read_bytes()


def whole(file: LangDBFile, kind: Kind, order: int = 0) -> np.ndarray:
    column = file.column(kind, order)
    return column.slice(0, len(column))


# --- the oracle ---------------------------------------------------------------------------


class Oracle:
    """score(w | h) by the literal recursion, over a dict of every n-gram of a model."""

    def __init__(self, model: QuantizedModel) -> None:
        self.model = model
        self.ids = {w: i for i, w in enumerate(model.vocab) if i >= FIRST_WORD_ID}
        self.prob: dict[tuple[int, ...], int] = {}
        self.backoff: dict[tuple[int, ...], int] = {}
        sequences = [(i,) for i in range(len(model.vocab))]
        for n, level in enumerate(model.orders, start=1):
            for i, seq in enumerate(sequences):
                self.prob[seq] = int(level.prob_codebook[level.prob_codes[i]])
                if level.backoff_codes is not None:
                    self.backoff[seq] = int(level.backoff_codebook[level.backoff_codes[i]])
            if level.children is not None:
                following = model.orders[n].words
                sequences = [
                    seq + (int(following[j]),)
                    for i, seq in enumerate(sequences)
                    for j in range(level.children[i], level.children[i + 1])
                ]

    def score(self, word: int, context: tuple[int, ...]) -> int:
        if (*context, word) in self.prob:
            return self.prob[(*context, word)]
        if not context:
            raise AssertionError("every word is a unigram")
        return self.backoff.get(context, 0) + self.score(word, context[1:])

    def lookup(self, token: str) -> int:
        return self.ids.get(token, UNK)

    def context(self, ids: list[int]) -> tuple[int, ...]:
        return tuple(ids[-(self.model.order - 1) :])

    def predict(self, typed: str, k: int) -> list[tuple[str, int]]:
        cursor = text.cursor(typed)
        context = self.context([BOS, *map(self.lookup, cursor.context)])
        prefix = (cursor.prefix or "").encode()
        blocked = set() if self.model.blocklist is None else set(map(int, self.model.blocklist))
        candidates = [
            (self.score(i, context), i)
            for i in range(FIRST_WORD_ID, len(self.model.vocab))
            if self.model.vocab[i].encode().startswith(prefix) and i not in blocked
        ]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        return [(self.model.vocab[i], s) for s, i in candidates[:k]]

    def score_sum(self, content: str) -> tuple[int, int]:
        total = tokens = 0
        for sentence in text.sentences(content):
            ids = [BOS, *map(self.lookup, sentence), EOS]
            for i in range(1, len(ids)):
                total += self.score(ids[i], self.context(ids[:i]))
                tokens += 1
        return total, tokens


@pytest.fixture
def small_model() -> QuantizedModel:
    """A fixed order-3 model with top lists at orders 1 and 2."""
    vocab = [*SPECIAL_TOKENS, *sorted({f"w{i:02d}" for i in range(40)} | {"don't", "well-known"})]
    return random_model(seed=7, vocab=vocab, order=3, max_per_order=400)


@pytest.fixture
def small_db(tmp_path, small_model) -> str:
    path = tmp_path / "small.langdb"
    write_langdb(path, small_model)
    return str(path)


def pytest_sessionstart(session) -> None:
    """With KEYGLIDE_REQUIRE_NATIVE=1 (CI), a missing native kernel fails the run instead of
    skipping its tests: a broken build must not pass as a machine without a compiler."""
    if os.environ.get("KEYGLIDE_REQUIRE_NATIVE") != "1":
        return
    from keyglide.engines import native

    ok, why = native.available()
    if not ok:
        raise pytest.UsageError(
            f"KEYGLIDE_REQUIRE_NATIVE=1 but the native engine is unavailable: {why}"
        )
