"""Interpolated modified Kneser-Ney: hand-checked numbers on a tiny corpus, and the
normalization of the backoff-form model (float, pruned, and quantized to fixed point) on
random corpora."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keyglide.builder import Recipe
from keyglide.builder.estimate import (
    LOG_PROB_NEVER,
    BackoffModel,
    adjusted_counts,
    compute_discounts,
    estimate,
)
from keyglide.builder.pipeline import count_inputs
from keyglide.builder.quantize import quantize_model
from keyglide.errors import BuildError
from keyglide.format import BOS, SCORE_SCALE
from keyglide.model import QuantizedModel

FALLBACK = (0.5, 1.0, 1.5)


def counts_of(tmp_path: Path, content: str, order: int, **recipe_args):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(content, encoding="utf-8")
    recipe = Recipe.from_args(corpus=[corpus], order=order, **recipe_args)
    return count_inputs(recipe, recipe.resolve_inputs(), jobs=1)


def index_of(model: BackoffModel, words: list[str]) -> int | None:
    """The index of an n-gram at its order, following parents."""
    ids = [model.vocab.index(w) for w in words]
    index = ids[0]
    for n, w in enumerate(ids[1:], 2):
        level = model.orders[n - 1]
        found = np.flatnonzero((level.parent == index) & (level.word == w))
        if len(found) == 0:
            return None
        index = int(found[0])
    return index


def explicit_rows(orders) -> list[np.ndarray]:
    """Each order's n-grams as rows of word ids, following parents."""
    rows = [orders[0].word[:, None]]
    for level in orders[1:]:
        rows.append(np.column_stack([rows[-1][level.parent], level.word]))
    return rows


def prob(model: BackoffModel, words: list[str]) -> float:
    return 10 ** model.orders[len(words) - 1].log_prob[index_of(model, words)]


def backoff(model: BackoffModel, words: list[str]) -> float:
    return 10 ** model.orders[len(words) - 1].log_backoff[index_of(model, words)]


# ---------------------------------------------------------------------------------------------
# Hand-checked


# Sentences: "a b", "a b", "b a". Ids: <unk> 0, <s> 1, </s> 2, a 3, b 4; V = 5.
TINY = "a b. a b. b a."


def test_discounts_from_counts_of_counts():
    # t1 = 4, t2 = 2, t3 = 1, t4 = 1 (adjusted counts 0 and 7 are not counted).
    adjusted = np.array([1, 1, 1, 1, 2, 2, 3, 4, 0, 7])
    d = compute_discounts(adjusted, 2)
    # Y = t1 / (t1 + 2 t2) = 4 / 8 = 0.5
    assert d.d1 == pytest.approx(1 - 2 * 0.5 * 2 / 4)  # = 0.5
    assert d.d2 == pytest.approx(2 - 3 * 0.5 * 1 / 2)  # = 1.25
    assert d.d3 == pytest.approx(3 - 4 * 0.5 * 1 / 1)  # = 1.0
    assert not d.fallback


def test_invalid_discounts_need_the_fallback():
    no_twos = np.array([1, 1, 3, 4])
    with pytest.raises(BuildError, match="discount_fallback"):
        compute_discounts(no_twos, 3)
    d = compute_discounts(no_twos, 3, FALLBACK)
    assert (d.d1, d.d2, d.d3, d.fallback) == (0.5, 1.0, 1.5, True)
    # t1 = 1, t2 = 5, t3 = 1: Y = 1/11, D1 = 1 - 10/11 > 0, D2 = 2 - 3/55 > 0,
    # D3+ = 3 - 4 * (1/11) * t4/t3 with t4 = 9: 3 - 36/11 < 0, out of range.
    out_of_range = np.array([1] + [2] * 5 + [3] + [4] * 9)
    with pytest.raises(BuildError, match="D3"):
        compute_discounts(out_of_range, 2)


def test_adjusted_counts_are_continuation_counts(tmp_path):
    counts = counts_of(tmp_path, TINY, 3)
    adjusted = adjusted_counts(counts)
    rows = explicit_rows(counts.orders)

    def adjusted_of(words):
        ids = [counts.vocab.index(w) for w in words]
        (i,) = np.flatnonzero((rows[len(ids) - 1] == ids).all(axis=1))
        return adjusted[len(ids) - 1][i]

    # Trigrams keep raw counts: <s> a b (2), a b </s> (2), <s> b a (1), b a </s> (1).
    assert adjusted_of(["<s>", "a", "b"]) == 2
    assert adjusted_of(["b", "a", "</s>"]) == 1
    # Bigrams starting with <s> keep raw counts; others count distinct left words.
    assert adjusted_of(["<s>", "a"]) == 2
    assert adjusted_of(["<s>", "b"]) == 1
    assert adjusted_of(["a", "b"]) == 1  # only "<s> a b"
    assert adjusted_of(["b", "</s>"]) == 1  # only "a b </s>"
    # Unigrams: a after <s> and b; b after a and <s>; </s> after a and b; <s> is never counted.
    assert [adjusted_of([w]) for w in ["a", "b", "</s>", "<s>", "<unk>"]] == [2, 2, 2, 0, 0]


def test_hand_computed_bigram_model(tmp_path):
    # Every order's counts of counts lack some t_k here, so the fallback discounts apply:
    # D1 = 0.5, D2 = 1.0, D3+ = 1.5.
    model = estimate(counts_of(tmp_path, TINY, 2), discount_fallback=FALLBACK)
    assert [d.as_list() for d in model.discounts] == [list(FALLBACK)] * 2

    # Unigrams: adjusted a = b = </s> = 2, total 6, discounted D(2) = 1 each, so
    # gamma() = 3 / 6 = 0.5, spread uniformly over the 4 words other than <s>:
    #   p(a) = (2 - 1) / 6 + 0.5 / 4 = 1/6 + 1/8 = 7/24;  p(<unk>) = 0 + 1/8 = 3/24.
    assert prob(model, ["a"]) == pytest.approx(7 / 24)
    assert prob(model, ["</s>"]) == pytest.approx(7 / 24)
    assert prob(model, ["<unk>"]) == pytest.approx(3 / 24)
    assert model.orders[0].log_prob[BOS] == LOG_PROB_NEVER

    # Context <s>: a seen twice, b once; total 3; gamma(<s>) = (D(2) + D(1)) / 3 = 0.5.
    #   p(a | <s>) = (2 - 1) / 3 + 0.5 * 7/24 = 16/48 + 7/48 = 23/48
    #   p(b | <s>) = (1 - 0.5) / 3 + 0.5 * 7/24 = 8/48 + 7/48 = 15/48
    assert prob(model, ["<s>", "a"]) == pytest.approx(23 / 48)
    assert prob(model, ["<s>", "b"]) == pytest.approx(15 / 48)
    assert backoff(model, ["<s>"]) == pytest.approx(0.5)
    # Context a: b twice, </s> once: the same numbers.
    assert prob(model, ["a", "b"]) == pytest.approx(23 / 48)
    assert prob(model, ["a", "</s>"]) == pytest.approx(15 / 48)
    # </s> is never a context: backoff 1, stored as log10 1 = 0.
    assert model.orders[0].log_backoff[model.vocab.index("</s>")] == 0.0
    # Backoff form gives the interpolated value back for an unseen pair:
    #   p(<unk> | <s>) = 0 + 0.5 * 3/24 = 1/16.
    assert distribution(model, ["<s>"])[model.vocab.index("<unk>")] == pytest.approx(1 / 16)


def test_pruning_renormalizes_the_backoff(tmp_path):
    # Prune bigrams seen once: "<s> b", "b a", "a </s>" go.
    model = estimate(counts_of(tmp_path, TINY, 2), discount_fallback=FALLBACK, prune=[0, 1])
    assert model.orders[1].word.size == 3
    # p(a | <s>) keeps its interpolated value 23/48; the backoff takes the rest:
    #   bo(<s>) = (1 - 23/48) / (1 - p(a)) = (25/48) / (17/24) = 25/34.
    assert prob(model, ["<s>", "a"]) == pytest.approx(23 / 48)
    assert backoff(model, ["<s>"]) == pytest.approx(25 / 34)
    assert distribution(model, ["<s>"]).sum() == pytest.approx(1.0, abs=1e-12)


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(BuildError, match="no tokens"):
        counts_of(tmp_path, "... !!! ---\n\n", 3)


# ---------------------------------------------------------------------------------------------
# Normalization on random corpora


def distribution(model: BackoffModel, context: list[str]) -> np.ndarray:
    """p(w | context) for every word id but <s> (which gets 0), by backoff-form scoring."""
    p = 10.0 ** model.orders[0].log_prob
    p[BOS] = 0.0
    ids = [model.vocab.index(w) for w in context]
    for k in range(1, len(ids) + 1):
        suffix = [model.vocab[i] for i in ids[len(ids) - k :]]
        index = index_of(model, suffix)
        if index is None or k >= model.order:
            continue
        children = model.orders[k]
        mine = children.parent == index
        p = p * 10.0 ** model.orders[k - 1].log_backoff[index]
        p[children.word[mine]] = 10.0 ** children.log_prob[mine]
        p[BOS] = 0.0
    return p


def contexts(model: BackoffModel) -> list[list[str]]:
    """The empty context and every n-gram of orders 1..N-1 (as words)."""
    result: list[list[str]] = [[]]
    rows = [[[w] for w in model.vocab]]
    for n in range(2, model.order):
        level = model.orders[n - 1]
        pairs = zip(level.parent, level.word, strict=True)
        rows.append([rows[-1][p] + [model.vocab[w]] for p, w in pairs])
    for level_rows in rows:
        result.extend(level_rows)
    return result


sentences = st.lists(
    st.lists(st.sampled_from("a b c d e f g".split()), min_size=1, max_size=8),
    min_size=1,
    max_size=10,
)


def corpus_text(sents: list[list[str]]) -> str:
    return "\n\n".join(" ".join(s) for s in sents)


@given(sents=sentences, order=st.integers(2, 4), raw=st.booleans())
def test_float_model_sums_to_one(tmp_path_factory, sents, order, raw):
    tmp = tmp_path_factory.mktemp("kn")
    lowest = "raw" if raw else "continuation"
    model = estimate(
        counts_of(tmp, corpus_text(sents), order), discount_fallback=FALLBACK, lowest_order=lowest
    )
    for context in contexts(model):
        assert distribution(model, context).sum() == pytest.approx(1.0, abs=1e-9), context


@given(
    sents=sentences,
    order=st.integers(2, 4),
    prune=st.lists(st.integers(0, 2), min_size=1, max_size=3).map(sorted),
)
def test_pruned_model_sums_to_one(tmp_path_factory, sents, order, prune):
    tmp = tmp_path_factory.mktemp("kn")
    thresholds = [0] + (prune + [prune[-1]] * 3)[: order - 1]
    counts = counts_of(tmp, corpus_text(sents), order)
    full = estimate(counts, discount_fallback=FALLBACK)
    pruned = estimate(counts, discount_fallback=FALLBACK, prune=thresholds)
    for context in contexts(pruned):
        assert distribution(pruned, context).sum() == pytest.approx(1.0, abs=1e-9), context
    # The kept n-grams keep their interpolated probabilities.
    for context in contexts(pruned)[1:]:
        assert prob(pruned, context) == pytest.approx(prob(full, context), rel=1e-12)


@given(sents=sentences, order=st.integers(2, 3))
def test_quantized_model_sums_to_one_within_rounding(tmp_path_factory, sents, order):
    tmp = tmp_path_factory.mktemp("kn")
    model = estimate(counts_of(tmp, corpus_text(sents), order), discount_fallback=FALLBACK)
    quantized = quantize_model(model, [16] * order, [16] * (order - 1), {})
    # Each score is off by at most half a unit; a word's score adds at most `order` of them.
    tolerance = 10 ** (order * 0.5 / SCORE_SCALE) - 1
    for context in contexts(model):
        ids = [model.vocab.index(w) for w in context]
        total = sum(10 ** (fixed_score(quantized, ids, w) / SCORE_SCALE)
                    for w in range(len(model.vocab)) if w != BOS)
        assert total == pytest.approx(1.0, rel=tolerance), context


def fixed_score(model: QuantizedModel, context: list[int], word: int) -> int:
    """FORMAT.md section 5, literally, over the quantized arrays."""
    def find(ngram: list[int]) -> int | None:
        index = ngram[0]
        for n, w in enumerate(ngram[1:], 2):
            parent = model.orders[n - 2]
            start, end = int(parent.children[index]), int(parent.children[index + 1])
            words = model.orders[n - 1].words[start:end]
            hit = np.flatnonzero(words == w)
            if len(hit) == 0:
                return None
            index = start + int(hit[0])
        return index

    context = context[-(model.order - 1):] if model.order > 1 else []
    found = find(context + [word])
    if found is not None:
        level = model.orders[len(context)]
        return int(level.prob_codebook[level.prob_codes[found]])
    own = find(context) if context else None
    bo = 0
    if own is not None:
        level = model.orders[len(context) - 1]
        bo = int(level.backoff_codebook[level.backoff_codes[own]])
    return bo + fixed_score(model, context[1:], word)
