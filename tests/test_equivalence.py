"""The native engine answers exactly as the reference engine: the same words, scores and
order from ``predict``, the same integer sums from ``score_sum`` (so the same log-probability
and perplexity), on random models (ties everywhere, top lists at every order, wide and narrow
completions), on arbitrary text, and on a model the builder estimated from a corpus.

Each answer is also checked against the conftest oracle (the literal recursion over a dict
of n-grams), so that a disagreement says which side is wrong.

``context_ids`` (the words before the cursor as a reranker reads them) is compared the same
way on every text.

Models with display forms (format 1.2) are run the same way: both engines spell every
suggestion with the file's display form (the kernel through ``kg_display``), with the same
candidates, order and scores as without them.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from conftest import Oracle, examples, models, random_model, typed_texts, written
from display_support import display_forms, spellings, with_display_forms
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide import text
from keyglide.engines import native
from keyglide.engines.reference import ReferenceEngine
from keyglide.format import SPECIAL_TOKENS
from keyglide.reader import LangDBFile

AVAILABLE, WHY = native.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"native engine unavailable: {WHY}")

KS = st.sampled_from([0, 1, 2, 3, 5, 16, 17, 40, 256])
any_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=400
)


class Engines:
    """A model opened by both engines over one file."""

    def __init__(self, model) -> None:
        self.model = model
        self.file = LangDBFile.from_buffer(written(model))
        self.reference = ReferenceEngine(self.file)
        self.native = native.NativeEngine(self.file)
        self.oracle = Oracle(model)
        self.spell = spellings(model)  # the oracle's folded words as suggestions show them

    def close(self) -> None:
        self.native.close()
        self.file.close()

    def check(self, content: str, k: int) -> None:
        got = self.native.predict(content, k)
        assert got == self.reference.predict(content, k), (content, k)
        expected = [(self.spell[w], s) for w, s in self.oracle.predict(content, k)]
        assert [(s.word, s.score) for s in got] == expected, (content, k)
        for history, sentence in ((0, 8), (3, 0), (40, 2)):
            fast = self.native.context_ids(content, history, sentence)
            slow = self.reference.context_ids(content, history, sentence)
            assert fast.history.tolist() == slow.history.tolist(), (content, history)
            assert (fast.sentence, fast.typed) == (slow.sentence, slow.typed), content
        total = self.native.score_sum(content)
        assert total == self.reference.score_sum(content) == self.oracle.score_sum(content), content
        if total[1]:
            assert self.native.logprob(content) == self.reference.logprob(content)
            assert self.native.perplexity(content) == self.reference.perplexity(content)
        else:
            with pytest.raises(ValueError):
                self.native.perplexity(content)


@given(models(), st.data())
def test_random_models_and_typed_text(model, data):
    engines = Engines(model)
    try:
        for _ in range(6):
            engines.check(data.draw(typed_texts(model.vocab)), data.draw(KS))
    finally:
        engines.close()


@given(models(max_words=12), st.data())
def test_long_texts(model, data):
    """The kernel reads only the end of a long text (kg_text_tail): the same answers as the
    reference, which reads all of it."""
    engines = Engines(model)
    try:
        for _ in range(3):
            content = data.draw(typed_texts(model.vocab, max_pieces=60))
            engines.check(content, data.draw(KS))
    finally:
        engines.close()


@given(models(max_words=12), any_text, KS)
def test_random_models_and_any_text(model, content, k):
    engines = Engines(model)
    try:
        engines.check(content, k)
    finally:
        engines.close()


@st.composite
def displayed_models(draw, max_words: int = 40):
    """A random model with display forms for a random share of its words (none, some or
    all), and sometimes a blocklist as well."""
    model = draw(models(max_words=max_words))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    model = with_display_forms(
        model, display_forms(model.vocab, rng, draw(st.sampled_from([0, 0.3, 1])))
    )
    if draw(st.booleans()) and len(model.vocab) > 3:
        blocked = sorted(
            rng.sample(range(3, len(model.vocab)), rng.randint(0, len(model.vocab) - 3))
        )
        model = dataclasses.replace(model, blocklist=np.array(blocked, dtype=np.int64))
    return model


def assert_same_spellings(engines: Engines) -> None:
    """kg_display and kg_word of every id against the reader's display() and word()."""
    f, engine = engines.file, engines.native
    forms = engines.model.display_forms or {}
    for i in range(f.vocab_size):
        assert engine.display(i) == f.display(i) == forms.get(i, f.word(i)), i
        assert engine.word(i) == f.word(i)
        assert text.fold(engine.display(i)) == engine.word(i) or i < 3


@given(displayed_models(), st.data())
def test_display_forms_with_random_models_and_typed_text(model, data):
    engines = Engines(model)
    try:
        assert engines.file.header.minor == 2
        engines.file.verify()
        engines.native.verify()
        assert_same_spellings(engines)
        for _ in range(6):
            typed = data.draw(typed_texts(model.vocab))
            engines.check(typed, data.draw(KS))
            # Typing a display form is typing its word: the same questions, the same answers.
            shown = typed + " " + " ".join(engines.spell[w] for w in model.vocab[3:6])
            engines.check(shown, data.draw(KS))
    finally:
        engines.close()


@given(displayed_models(max_words=12), any_text, KS)
def test_display_forms_with_random_models_and_any_text(model, content, k):
    engines = Engines(model)
    try:
        engines.check(content, k)
    finally:
        engines.close()


def _wide_vocabulary(rng: random.Random, size: int) -> list[str]:
    """Many words sharing short prefixes, so completions span wide and narrow id ranges."""
    words = set()
    while len(words) < size:
        head = rng.choice(["t", "th", "a", "s", "st", "é", "д", "don", "re"])
        words.add(
            head + "".join(rng.choice("aeinorst'-") for _ in range(rng.randint(0, 5))).strip("'-")
        )
        words.discard("")
    words = {
        w for w in words if "''" not in w and "--" not in w and "'-" not in w and "-'" not in w
    }
    return [*SPECIAL_TOKENS, *sorted(words, key=str.encode)]


@pytest.fixture(
    scope="module",
    params=[(2, 1, False), (3, 2, False), (4, 3, False), (5, 4, False), (3, 5, True), (4, 6, True)],
    ids=lambda p: f"order{p[0]}" + ("-display" if p[2] else ""),
)
def wide(request):
    order, seed, display = request.param
    rng = random.Random(seed)
    vocab = _wide_vocabulary(rng, 700)
    model = random_model(
        seed=seed, vocab=vocab, order=order, prob_width=1 + seed % 2, max_per_order=6000
    )
    if display:  # display forms for half the words (format 1.2)
        model = with_display_forms(model, display_forms(vocab, rng, 0.5))
    engines = Engines(model)
    yield engines
    engines.close()


@given(st.data())
@settings(max_examples=examples(60))
def test_wide_completions_and_big_nodes(wide, data):
    vocab = wide.model.vocab[3:]
    context = " ".join(data.draw(st.lists(st.sampled_from(vocab), max_size=5)))
    ending = data.draw(
        st.sampled_from(["", " ", "t", "th", "s", "st", "a", "é", "д", "don'", "re-", "x", "T"])
    )
    if ending and ending != " " and context:
        ending = " " + ending
    wide.check(context + ending, data.draw(KS))


def test_every_prefix_of_every_word(wide):
    """Completion of every prefix of a sample of words, after contexts with big nodes."""
    rng = random.Random(5)
    vocab = wide.model.vocab[3:]
    for word in rng.sample(vocab, 25):
        context = " ".join(rng.sample(vocab, rng.randint(0, 3)))
        for cut in range(1, len(word) + 1):
            wide.check(f"{context} {word[:cut]}".lstrip(), rng.choice([1, 3, 20]))


def test_a_built_model(tmp_path):
    """A model the builder estimated (Kneser-Ney, pruned, quantized): realistic scores,
    backoffs and top lists."""
    from keyglide.builder import Recipe, build

    rng = random.Random(3)
    nouns = "cat dog house tree river king queen child letter garden window city road".split()
    verbs = "sees finds loves keeps writes opens leaves takes knows wants".split()
    adjectives = "old small green quiet dark happy strange little".split()
    sentences = []
    for _ in range(4000):
        subject = f"The {rng.choice(adjectives)} {rng.choice(nouns)}"
        s = f"{subject} {rng.choice(verbs)} the {rng.choice(nouns)}"
        if rng.random() < 0.3:
            s += f" near the {rng.choice(adjectives)} {rng.choice(nouns)}"
        sentences.append(s + rng.choice([".", "!", "?", "..."]))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    for order in (3, 4):
        out = tmp_path / f"built-{order}.langdb"
        recipe = Recipe.from_args(
            corpus=[corpus],
            order=order,
            prune=[0, 1][: order - 2],
            discount_fallback=[0.5, 1.0, 1.5],
        )
        build(recipe, out, jobs=1, progress=False, source_commit=None)
        with LangDBFile.open(out) as f:
            reference, engine = ReferenceEngine(f), native.NativeEngine(f)
            engine.verify()
            f.verify()
            queries = [s[: rng.randint(0, len(s))] for s in rng.sample(sentences, 300)]
            queries += ["", "The ", "the old c", "The quiet king sees the ", "Mr. ", "x" * 100]
            for q in queries:
                for k in (1, 3, 10):
                    assert engine.predict(q, k) == reference.predict(q, k), q
            text = " ".join(rng.sample(sentences, 200))
            assert engine.score_sum(text) == reference.score_sum(text)
            assert engine.perplexity(text) == reference.perplexity(text)
            engine.close()


def test_a_built_model_with_display_forms(tmp_path):
    """The builder's display forms (format 1.2) from a corpus with names and "I": both
    engines show them, identically, and keep the scores of the same model without them."""
    from keyglide.builder import Recipe, build

    rng = random.Random(8)
    names = "London Paris Anna McDonald O’Brien Jean-Luc".split()
    verbs = "sees finds loves visits leaves knows".split()
    sentences = []
    for _ in range(3000):
        subject = rng.choice(["I", "you", "she", "the king", "my friend"])
        s = f"{subject} {rng.choice(verbs)} {rng.choice(names)}"
        if rng.random() < 0.4:
            s += f" and I {rng.choice(verbs)} {rng.choice(names)} too"
        sentences.append(s[0].upper() + s[1:] + rng.choice([".", "!", "?"]))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    files = {}
    for display in (False, True):
        recipe = Recipe.from_args(
            corpus=[corpus], order=3, prune=[0, 1], discount_fallback=[0.5, 1.0, 1.5]
        )
        recipe = dataclasses.replace(recipe, display_forms=display)
        files[display] = tmp_path / f"built-{display}.langdb"
        build(recipe, files[display], jobs=1, progress=False, source_commit=None)
    with LangDBFile.open(files[True]) as f, LangDBFile.open(files[False]) as plain:
        assert f.header.minor == 2 and f.has_display_forms
        reference, engine = ReferenceEngine(f), native.NativeEngine(f)
        folded = ReferenceEngine(plain)
        try:
            engine.verify()
            f.verify()
            shown = {engine.display(i) for i in range(f.vocab_size)}
            assert {"I", "London", "McDonald", "O’Brien", "Jean-Luc"} <= shown
            for i in range(f.vocab_size):
                assert engine.display(i) == f.display(i)
            queries = [s[: rng.randint(0, len(s))] for s in rng.sample(sentences, 300)]
            queries += ["", "I ", "i", "I love ", "Anna visits l", "she sees o’", "she sees O'b"]
            for q in queries:
                for k in (1, 3, 10):
                    got = engine.predict(q, k)
                    assert got == reference.predict(q, k), q
                    assert [(text.fold(w), s) for w, s in got] == folded.predict(q, k), q
            content = " ".join(rng.sample(sentences, 200))
            assert engine.score_sum(content) == reference.score_sum(content)
            assert engine.score_sum(content) == folded.score_sum(content)
        finally:
            engine.close()


def _public_models() -> dict[str, object]:
    """Models for the public API: plain, and with display forms and a blocklist."""
    vocab = [*SPECIAL_TOKENS, *sorted({"a", "b", "c", "don't", "well-known", "é", "ab", "abc"})]
    plain = random_model(seed=1, vocab=vocab, order=3)
    rng = random.Random(4)
    shown = with_display_forms(plain, display_forms(plain.vocab, rng, 0.5))
    shown = dataclasses.replace(shown, blocklist=np.array([4, 7], dtype=np.int64))
    return {"plain": plain, "display-blocklist": shown}


@pytest.mark.parametrize("name", ["plain", "display-blocklist"])
def test_public_api_with_the_native_engine(tmp_path, name):
    """``keyglide.open(engine="native")`` (and ``"auto"``, which picks it) answers every call
    of the public API as ``engine="reference"`` does; ``keyglide.evaluate`` too."""
    import keyglide

    path = tmp_path / f"{name}.langdb"
    path.write_bytes(written(_public_models()[name]))
    queries = ["", "a ", "a b", "b c a ", "A B. c ", "ab", "don", "Well-known é ", "zzz a "]
    with (
        keyglide.open(path, engine="native") as fast,
        keyglide.open(path, engine="reference") as slow,
    ):
        assert (fast.engine, slow.engine) == ("native", "reference")
        fast.verify()
        assert {**fast.info, "engine": None} == {**slow.info, "engine": None}
        assert fast.compat == slow.compat
        for q in queries:
            for k in (1, 3, 17, 256):
                assert fast.predict(q, k) == slow.predict(q, k), (q, k)
            assert fast.logprob(q) == slow.logprob(q), q
            if q.strip():
                assert fast.perplexity(q) == slow.perplexity(q), q
            else:  # no tokens: both refuse
                for db in (fast, slow):
                    with pytest.raises(ValueError):
                        db.perplexity(q)
        content = " ".join(queries) + " a b c. ab abc!"
        got = keyglide.evaluate(fast, content, k=2, hide_offered=True)
        want = keyglide.evaluate(slow, content, k=2, hide_offered=True)
        assert (got.engine, want.engine) == ("native", "reference")
        timing = {"engine": None, "prediction_seconds": 0.0}
        assert dataclasses.replace(got, **timing) == dataclasses.replace(want, **timing)
        with keyglide.open(path) as auto:
            assert auto.engine == "native"
            assert auto.predict("a ", 5) == slow.predict("a ", 5)
