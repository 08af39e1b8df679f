"""The reference engine against a brute-force oracle of FORMAT.md section 5."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import Oracle, build_model, models, random_model, typed_texts, written
from hypothesis import given
from hypothesis import strategies as st
from keyglide.engines import Suggestion
from keyglide.engines.reference import ReferenceEngine
from keyglide.format import BOS, MAX_CODEBOOK_SCORE, SCORE_NEVER, SCORE_SCALE, SPECIAL_TOKENS
from keyglide.reader import LangDBFile


def engine_for(model) -> ReferenceEngine:
    return ReferenceEngine(LangDBFile.from_buffer(written(model)))


def answers(suggestions: list[Suggestion]) -> list[tuple[str, int]]:
    return [(s.word, s.score) for s in suggestions]


@st.composite
def models_and_texts(draw, max_words: int = 30):
    """A random model and a text before a cursor, half the time ending in one of the
    model's own n-grams, so that deep contexts (and their missing suffixes) are reached."""
    model = draw(models(max_words=max_words))
    if draw(st.booleans()):
        return model, draw(typed_texts(model.vocab))
    ngram = draw(st.sampled_from(sorted(Oracle(model).prob)))
    spelled = [
        "" if i == BOS and at == 0 else model.vocab[i] if i >= 3 else "zzz"
        for at, i in enumerate(ngram)
    ]
    ending = draw(st.sampled_from([" ", "", " " + model.vocab[-1][:1]]))
    return model, " ".join(spelled) + ending


@given(models_and_texts(), st.integers(0, 12))
def test_predict_equals_the_brute_force_ranking(case, k):
    model, typed = case
    assert answers(engine_for(model).predict(typed, k)) == Oracle(model).predict(typed, k)


@given(models_and_texts())
def test_score_sum_equals_the_brute_force_sum(case):
    model, typed = case
    assert engine_for(model).score_sum(typed) == Oracle(model).score_sum(typed)


def test_the_fixed_model_on_many_contexts(small_model):
    # The fixture has long children lists (top lists) at orders 1 and 2.
    engine, oracle = engine_for(small_model), Oracle(small_model)
    words = small_model.vocab[3:]
    rng = np.random.default_rng(0)
    for _ in range(200):
        context = " ".join(rng.choice(words, rng.integers(0, 4)))
        for typed in (context + " ", context + " w", context + " w1", context + ". "):
            assert answers(engine.predict(typed, 20)) == oracle.predict(typed, 20)


def test_a_context_whose_suffix_is_not_in_the_trie():
    # "x y z" is in the trie but "y z" is not: the recursion goes from "x y z" straight
    # through "y z" (backoff 0) to "z". Expected scores worked out by hand.
    vocab = [*SPECIAL_TOKENS, "p", "q", "x", "y", "z"]
    model = build_model(
        vocab,
        {
            "p": (-40000, 0),
            "q": (-45000, 0),
            "z": (-60000, -100),
            "x y": (-1500, -200),
            "x y z": (-1000, -300),
            "x y z p": (-2000, 0),
            "z q": (-3000, 0),
        },
    )
    assert answers(engine_for(model).predict("x y z ", 5)) == [
        ("p", -2000),  # a child of "x y z"
        ("q", -300 + -3000),  # backoff("x y z") + P(z q)
        ("x", -300 + -100 + -50000),  # + backoff("z") + P(x)
        ("y", -300 + -100 + -50000),  # a tie with x: id order
        ("z", -300 + -100 + -60000),
    ]
    oracle = Oracle(model)
    for typed in ("x y z p", "x y z q. z q x y z", "y z p"):
        assert engine_for(model).score_sum(typed) == oracle.score_sum(typed)


# --- ranking details ---------------------------------------------------------------------


@given(models_and_texts())
def test_specials_are_never_suggested(case):
    model, typed = case
    suggested = {s.word for s in engine_for(model).predict(typed, 256)}
    assert suggested.isdisjoint(SPECIAL_TOKENS)


def test_specials_are_skipped_even_when_they_score_best(small_model):
    model = copy.deepcopy(small_model)
    unigram = model.orders[0]
    unigram.prob_codebook[-1] = 0  # the best score, given to <unk> and </s>
    unigram.prob_codes[[0, 2]] = len(unigram.prob_codebook) - 1
    suggestions = engine_for(model).predict("", 5)
    assert suggestions and all(s.word not in SPECIAL_TOKENS for s in suggestions)
    assert suggestions == sorted(suggestions, key=lambda s: -s.score)


def unigrams_only(vocab: list[str]):
    """An order-2 model without bigrams and with zero backoffs."""
    model = random_model(seed=0, vocab=vocab, order=2)
    unigram, bigram = model.orders
    unigram.children[:] = 0
    unigram.backoff_codebook[:] = 0
    bigram.words, bigram.prob_codes = bigram.words[:0], bigram.prob_codes[:0]
    return model


def test_ties_are_broken_by_the_words_bytes():
    model = unigrams_only([*SPECIAL_TOKENS, "a", "b", "c", "ä", "д"])
    unigram = model.orders[0]
    unigram.prob_codes[:] = 1  # every word has the same score
    unigram.prob_codes[1] = 0  # but <s>
    assert [s.word for s in engine_for(model).predict("", 5)] == ["a", "b", "c", "ä", "д"]


@given(models_and_texts())
def test_k_bounds_the_answer(case):
    model, typed = case
    engine = engine_for(model)
    everything = engine.predict(typed, len(model.vocab))
    assert engine.predict(typed, 0) == []
    for k in (1, 2, 5):
        assert engine.predict(typed, k) == everything[:k]
    assert engine.predict(typed, len(model.vocab) + 10) == everything


# --- completion ----------------------------------------------------------------------------


def test_completion_ranks_only_matching_words(small_model):
    engine = engine_for(small_model)
    assert all(s.word.startswith("w1") for s in engine.predict("w00 w1", 20))
    assert {s.word for s in engine.predict("w00 w1", 20)} == {f"w1{i}" for i in range(10)}
    assert [s.word for s in engine.predict("W00 DON'", 3)] == ["don't"]
    assert [s.word for s in engine.predict("well-", 3)] == ["well-known"]
    assert engine.predict("w00 q", 3) == []
    assert engine.predict("w00 " + "w" * 65, 3) == []


def test_a_whole_word_at_the_end_is_completed_not_followed(small_model):
    engine = engine_for(small_model)
    assert engine.predict("w00 w01", 5)[0].word == "w01"  # itself, the only match


def test_context_ids_are_the_words_before_the_cursor(small_model):
    engine = engine_for(small_model)
    ids = {w: i for i, w in enumerate(small_model.vocab)}
    text = "w01 w02. Zzz W03 don'"  # two sentences, an unknown word, a word being typed
    got = engine.context_ids(text, 10, 10)
    assert got.history.tolist() == [ids["w01"], ids["w02"], 0, ids["w03"]]
    assert got.sentence == [0, ids["w03"]] and got.typed == len("don'")
    last = engine.context_ids(text + "t ", 2, 1)  # the word is typed: it is history now
    assert last.history.tolist() == [ids["w03"], ids["don't"]]
    assert last.sentence == [ids["don't"]] and last.typed == 0
    empty = engine.context_ids("", 5, 5)
    assert (empty.history.tolist(), empty.sentence, empty.typed) == ([], [], 0)
    assert engine.context_ids("w00 " + "w" * 65, 1, 1).typed == 65  # longer than any word
    with pytest.raises(ValueError):
        engine.context_ids(text, 65537, 0)


# --- log-probability and perplexity ----------------------------------------------------------


@given(models_and_texts())
def test_logprob_and_perplexity_follow_the_sum(case):
    model, typed = case
    engine = engine_for(model)
    total, tokens = Oracle(model).score_sum(typed)
    assert engine.logprob(typed) == total / SCORE_SCALE
    if tokens:
        assert engine.perplexity(typed) == pytest.approx(10 ** (-total / SCORE_SCALE / tokens))
    else:
        with pytest.raises(ValueError, match="no tokens"):
            engine.perplexity(typed)


def test_scoring_counts_unknown_words_and_sentence_ends(small_model):
    engine, oracle = engine_for(small_model), Oracle(small_model)
    text = "w01 zzz w02. W03!\n\nunknown"
    total, tokens = engine.score_sum(text)
    assert tokens == 3 + 1 + 1 + 1 + 1 + 1  # three sentences, each with its </s>
    assert (total, tokens) == oracle.score_sum(text)


def test_texts_without_tokens(small_model):
    engine = engine_for(small_model)
    for empty in ("", "  ", "...", "😀 ‽"):
        assert engine.score_sum(empty) == (0, 0)
        assert engine.logprob(empty) == 0.0
        with pytest.raises(ValueError):
            engine.perplexity(empty)


def test_a_perplexity_beyond_floats_is_infinite():
    model = unigrams_only([*SPECIAL_TOKENS, "a"])
    unigram = model.orders[0]
    unigram.prob_codebook[:] = SCORE_NEVER
    unigram.prob_codebook[0] = -MAX_CODEBOOK_SCORE  # absurd, but the lowest a codebook may hold
    unigram.prob_codes[:] = 0
    unigram.prob_codes[1] = 1  # <s> keeps its SCORE_NEVER
    assert math.isinf(engine_for(model).perplexity("a a a"))
