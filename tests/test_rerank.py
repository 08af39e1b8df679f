"""Format 1.3's reranker: trained by the builder, stored as ONNX, run by onnxruntime beside
the kernel and by the numpy reference beside the reference engine (FORMAT.md section 11).

The graph's float32 arithmetic may differ between the two runtimes in the last bits, so
their answers are compared with the tolerance the format states: a reranked score may differ
by 1, and candidates that close may swap. Everything else is exact.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random

import keyglide
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide import cli, compat, convert
from keyglide.builder import Input, Recipe, build, network, rerank
from keyglide.builder.recipe import Reranking
from keyglide.errors import BuildError, CorruptLangDB, NeuralModelError
from keyglide.format import Feature
from keyglide.neural import proto, reference
from keyglide.neural import runtime as ort
from keyglide.neural.rerank import history_feed
from keyglide.reader import LangDBFile

HAVE_ORT = ort.check_onnxruntime(rerank.MIN_ONNXRUNTIME) is None
REQUIRE = os.environ.get("KEYGLIDE_REQUIRE_NEURAL") == "1"

NAMES = ["Anna", "Boris", "Clara", "Dmitri", "Elena", "Fyodor", "Galina", "Hugo"]
PLACES = ["Moscow", "Paris", "the river", "the garden", "the station", "Vienna"]
VERBS = ["walked to", "wrote from", "dreamed of", "came back from", "looked at"]


def story(seed: int, sentences: int) -> str:
    """Chapters that each dwell on two names and a place: what a cache can learn."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences // 20):
        cast = rng.sample(NAMES, 2) + [rng.choice(PLACES)]
        paragraph = []
        for _ in range(20):
            who = rng.choice(cast[:2] + ["she", "he", "the old man"])
            where = cast[2] if rng.random() < 0.6 else rng.choice(PLACES)
            paragraph.append(f"{who[0].upper()}{who[1:]} {rng.choice(VERBS)} {where}.")
        out.append(" ".join(paragraph))
    return "\n\n".join(out) + "\n"


SETTINGS = rerank.Settings(
    shortlist=12,
    context_words=4,
    history_words=80,
    iterations=8,
    network_steps=40,
    network_dim=8,
    network_hidden=16,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The same recipe with and without a reranker."""
    work = tmp_path_factory.mktemp("rerank")
    (work / "train.txt").write_text(story(1, 600), encoding="utf-8")
    (work / "held.txt").write_text(story(2, 400), encoding="utf-8")
    recipe = Recipe(
        name="r",
        order=3,
        inputs=(Input(kind="text", paths=("train.txt",)),),
        discount_fallback=(0.5, 1.0, 1.5),
        base_dir=work,
        neural=Reranking(files=Input(kind="text", paths=("held.txt",)), settings=SETTINGS),
    )
    with_it = build(recipe, work / "with.langdb", jobs=1, progress=False, source_commit=None)
    plain = dataclasses.replace(recipe, neural=None)
    without = build(plain, work / "without.langdb", jobs=1, progress=False, source_commit=None)
    return with_it, without, work


def _ort_or_skip():
    if not HAVE_ORT:
        if REQUIRE:
            pytest.fail("KEYGLIDE_REQUIRE_NEURAL=1 but onnxruntime cannot run the reranker")
        pytest.skip("onnxruntime is not installed (pip install 'keyglide[neural]')")


# --- the training's features are the graph's --------------------------------------------


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_training_features_are_what_the_graph_computes(data):
    vocab = data.draw(st.integers(4, 12))
    lengths = data.draw(st.lists(st.integers(1, 15), min_size=1, max_size=6))
    stream = np.array(
        data.draw(st.lists(st.integers(0, vocab), min_size=sum(lengths), max_size=sum(lengths))),
        dtype=np.int64,
    )
    starts = np.repeat(np.cumsum([0, *lengths])[:-1], lengths)
    s = rerank.Settings(
        shortlist=6,
        context_words=data.draw(st.integers(1, 5)),
        history_words=data.draw(st.integers(2, 30)),
    )
    positions = np.array(
        data.draw(st.lists(st.integers(0, len(stream) - 1), min_size=1, max_size=5))
    )
    size = data.draw(st.integers(1, 6))
    candidates = np.array(
        [
            data.draw(st.lists(st.integers(3, vocab), min_size=size, max_size=size, unique=True))
            if vocab - 2 >= size
            else [3] * size
            for _ in positions
        ]
    )
    ngram = np.array(
        data.draw(st.lists(st.floats(-6, 0), min_size=candidates.size, max_size=candidates.size))
    ).reshape(candidates.shape)
    typed = np.array(
        data.draw(st.lists(st.integers(0, 5), min_size=len(positions), max_size=len(positions)))
    )
    examples = rerank.Examples(
        stream,
        starts,
        positions,
        typed,
        candidates,
        ngram,
        np.zeros(len(positions), dtype=np.int64),
    )
    pad = vocab + 1
    net = None
    if data.draw(st.booleans()):  # with a word network of random weights
        rng = np.random.default_rng(sum(lengths))
        dim, hidden = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
        net = network.quantize(
            {
                "E": rng.normal(size=(pad + 1, dim)).astype(np.float32),
                "bias": rng.normal(size=pad + 1).astype(np.float32),
                "w1": rng.normal(size=(s.context_words * dim, hidden)).astype(np.float32),
                "b1": rng.normal(size=hidden).astype(np.float32),
                "w2": rng.normal(size=(hidden, dim)).astype(np.float32),
                "b2": rng.normal(size=dim).astype(np.float32),
            }
        )
    x = rerank.features(examples, s, net)
    # A random combination of the features per bucket: any feature computed differently
    # changes it (one graph run per example instead of one per feature).
    weights = np.random.default_rng(len(stream)).normal(size=(rerank.BUCKETS, x.shape[-1]))
    model = proto.decode(rerank.graph(weights, s, net))
    for m, t in enumerate(positions):
        context = [1, *stream[starts[t] : t]][-s.context_words :]
        history = list(stream[max(0, t - s.history_words) : t])
        feeds = {
            "context": np.array([[pad] * (s.context_words - len(context)) + context]),
            "history": np.array([[pad] * (s.history_words - len(history)) + history]),
            "typed": np.array([typed[m]]),
            "candidates": candidates[m : m + 1],
            "ngram": ngram[m : m + 1].astype(np.float32),
        }
        got = reference.run(model, feeds)["adjust"][0]
        want = x[m] @ weights[min(typed[m], rerank.BUCKETS - 1)]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_fit_recovers_the_weights_the_reader_applies():
    """Shortlist choices drawn from raw = ln(10) * (ngram + x . W[bucket]), the reader's
    formula (FORMAT.md section 11): the fit finds W again."""
    rng = np.random.default_rng(5)
    m, length = 30_000, 6
    want = np.array([[-0.2, 0.5, -0.3], [0.1, -0.4, 0.6], [-0.3, 0.2, 0.2]])
    x = rng.normal(size=(m, length, 3))
    x[..., 0] -= 2  # the n-gram score, a log10 probability
    typed = rng.integers(0, 4, m)
    raw = math.log(10) * (x[..., 0] + np.einsum("mlf,mf->ml", x, want[np.minimum(typed, 2)]))
    p = np.exp(raw - raw.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    label = (p.cumsum(axis=1) < rng.random((m, 1))).sum(axis=1)
    nothing = np.zeros(m, dtype=np.int64)
    examples = rerank.Examples(
        nothing, nothing, nothing, typed, np.zeros((m, length), dtype=np.int64), x[..., 0], label
    )
    got = rerank.fit(x, examples, rerank.Settings())
    np.testing.assert_allclose(got, want, atol=0.06)


# --- a built file --------------------------------------------------------------------------


def test_the_file_and_its_sections(built):
    with_it, without, _ = built
    with LangDBFile.open(with_it.path) as f:
        f.verify()
        assert f.header.minor == 3 and f.header.optional_features == int(Feature.NEURAL)
        info, onnx = f.neural
        info = json.loads(info)
        assert info["interface"] == "keyglide-rerank-1" and info["shortlist"] == 12
        assert info["min_onnxruntime"] == rerank.MIN_ONNXRUNTIME
        reference.check(proto.decode(onnx))
    assert with_it.meta["recipe"]["neural"]["history_words"] == 80
    assert os.path.getsize(with_it.path) < 1.5 * os.path.getsize(without.path)


def test_the_cache_learns_what_the_text_repeats(built):
    """Trained on stories that dwell on their characters, the reranker favours a name the
    text before the cursor has used: the weight of the cache features is positive."""
    with_it, without, _ = built
    text = "Hugo walked to Vienna. Hugo looked at Vienna. Then he dreamed of "
    with (
        keyglide.open(with_it.path, engine="reference") as db,
        keyglide.open(without.path, engine="reference") as plain,
    ):
        reranked = dict(db.predict(text, 12))
        ngram = dict(plain.predict(text, 12))
        assert reranked["vienna"] - max(s for w, s in reranked.items() if w != "vienna") > (
            ngram["vienna"] - max(s for w, s in ngram.items() if w != "vienna")
        )
        # Without history the two agree on what is suggested, if not on the scores.
        assert {w for w, _ in db.predict("", 3)} <= set(dict(plain.predict("", 12)))


def test_reranked_scores_share_out_the_shortlist_mass(built):
    with_it, without, _ = built
    text = "Anna wrote from Paris. Anna walked to "
    with (
        keyglide.open(with_it.path, engine="reference") as db,
        keyglide.open(without.path, engine="reference") as plain,
    ):
        size = SETTINGS.shortlist
        reranked, ngram = db.predict(text, size), plain.predict(text, size)
        assert {w for w, _ in reranked} == {w for w, _ in ngram}
        mass = sum(10 ** (s / 10000) for _, s in ngram)
        assert math.isclose(sum(10 ** (s / 10000) for _, s in reranked), mass, rel_tol=1e-3)
        # Beyond the shortlist, the n-gram order and scores.
        assert db.predict(text, size + 5)[size:] == plain.predict(text, size + 5)[size:]


TEXTS = [
    "",
    "Anna walked to Paris. Boris wrote from Paris. Then she looked at ",
    "Clara dreamed of the river. Clara came back from the ri",
    "He came back from Vienna. He ",
    "The old man walked to the station. The old man looked at the st",
    "Galina walked to Moscow.\n\nGalina wrote from Mo",
    "zzz qqq. ",
]


def _agree(a, b):
    """Within the format's tolerance: scores within 1, order only swapped between them."""
    assert [w for w, _ in a] == [w for w, _ in b] or all(
        abs(sa - sb) <= 1 for (_, sa), (_, sb) in zip(a, b, strict=True)
    )
    scores_a, scores_b = dict(a), dict(b)
    for word in set(scores_a) & set(scores_b):
        assert abs(scores_a[word] - scores_b[word]) <= 1


def test_onnxruntime_agrees_with_the_numpy_reference(built):
    _ort_or_skip()
    with_it, _, _ = built
    with (
        keyglide.open(with_it.path, engine="reference") as ref,
        keyglide.open(with_it.path, engine="native") as fast,
    ):
        assert (ref.info["reranker"], fast.info["reranker"]) == ("reference", "onnxruntime")
        assert fast.compat.status == "full"
        for text in TEXTS:
            for k in (1, 3, 12, 20):
                _agree(ref.predict(text, k), fast.predict(text, k))
        story_text = story(5, 40)
        assert abs(ref.logprob(story_text) - fast.logprob(story_text)) <= 0.02


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES + PLACES + VERBS + [". ", "\n\n", " ", "x"]), max_size=40),
    st.integers(0, 3),
)
def test_onnxruntime_agrees_on_arbitrary_text(built_files, words, cut):
    _ort_or_skip()
    ref, fast = built_files
    text = " ".join(words)
    text = text[: len(text) - cut] if cut < len(text) else text
    _agree(ref.predict(text, 5), fast.predict(text, 5))


@pytest.fixture(scope="module")
def built_files(built):
    with_it, _, _ = built
    ref = keyglide.open(with_it.path, engine="reference")
    fast = keyglide.open(with_it.path, engine="native" if HAVE_ORT else "reference")
    yield ref, fast
    ref.close()
    fast.close()


def test_typing_a_letter_at_a_time_equals_asking_afresh(built):
    """The engine keeps the history of the previous call; a keyboard's growing text must
    give what a fresh engine gives, and an edit must not reuse stale history."""
    with_it, _, _ = built
    text = story(9, 40)[:900] + " Ünïcode ‘quotes’ yes,no end.The don' "
    engines = ["reference", "native"] if HAVE_ORT else ["reference"]
    ends = [*range(0, len(text), 37), 500, 120, 880, *range(len(text) - 30, len(text) + 1)]
    for engine in engines:
        with keyglide.open(with_it.path, engine=engine) as typing:
            reranked = typing._engine
            count = reranked.reranker.info.history_words
            for end in ends:
                with keyglide.open(with_it.path, engine=engine) as fresh:
                    assert typing.predict(text[:end], 3) == fresh.predict(text[:end], 3)
                # The history the cache gives is the one read afresh, and the tail it asks
                # the n-gram model and the sentence of reads as the whole text.
                typed = text[:end]
                settled, _ = reranked._settle(typed)
                around = reranked.base.context_ids(typed, count, 0)
                want = history_feed(around.history, count, reranked._vocab_size)
                got = reranked._history(typed, settled, around.typed)
                assert got.tolist() == want.tolist(), typed[-30:]
                tail = typed[reranked._cache.tail_start :]
                for history, sentence in ((0, reranked.reranker.info.context_words), (3, 0)):
                    a = reranked.base.context_ids(tail, history, sentence)
                    b = reranked.base.context_ids(typed, history, sentence)
                    assert (a.history.tolist(), a.sentence, a.typed) == (
                        b.history.tolist(),
                        b.sentence,
                        b.typed,
                    )
                assert reranked.base.candidates(tail, 20) == reranked.base.candidates(typed, 20)
            assert len(tail) < 200 < len(typed)  # typing on, the tail became short


def test_threads_typing_on_one_handle_get_what_one_thread_gets(built):
    """Each thread keeps its own history cache; onnxruntime runs one session from all."""
    import threading

    with_it, _, _ = built
    engine = "native" if HAVE_ORT else "reference"
    texts = [story(20 + t, 40)[:400] for t in range(4)]
    steps = [range(0, len(text), 7) for text in texts]
    with keyglide.open(with_it.path, engine=engine) as db:
        serial = [
            [db.predict(text[:end], 3) for end in ends]
            for text, ends in zip(texts, steps, strict=True)
        ]
        results: list = [None] * len(texts)
        barrier = threading.Barrier(len(texts))

        reranked = db._engine
        count = reranked.reranker.info.history_words
        stale = []

        def typing(t: int) -> None:
            barrier.wait()
            results[t] = []
            for end in steps[t]:
                text = texts[t][:end]
                results[t].append(db.predict(text, 3))
                # The history this thread's cache gives is the one read afresh.
                settled, _ = reranked._settle(text)
                around = reranked.base.context_ids(text, count, 0)
                got = reranked._history(text, settled, around.typed).tolist()
                if got != history_feed(around.history, count, reranked._vocab_size).tolist():
                    stale.append((t, end))

        threads = [threading.Thread(target=typing, args=(t,)) for t in range(len(texts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == serial and stale == []


def test_perplexity_with_the_reranker(built):
    with_it, without, work = built
    held = (work / "held.txt").read_text(encoding="utf-8")[:3000]
    with (
        keyglide.open(with_it.path, engine="reference") as db,
        keyglide.open(without.path, engine="reference") as plain,
    ):
        assert db.perplexity(held) < plain.perplexity(held)
        # A text with nothing in any shortlist scores as the n-gram model.
        assert db.logprob("qqq zzz.") == plain.logprob("qqq zzz.")


@pytest.mark.parametrize(
    "engine, sentences, words",
    # The numpy reference runs the graph about ten times slower than onnxruntime: it types
    # the first 400 words of a story of 5 chapters, the kernel 3000 words of 40 chapters.
    [("reference", 100, 400), ("native", 800, 3000)],
)
def test_evaluation_feeds_the_history(built, engine, sentences, words):
    with_it, without, work = built
    if engine == "native":
        from keyglide.engines import native

        if not native.available()[0]:
            pytest.skip("the native kernel is not available")
        _ort_or_skip()
    held = story(3, sentences)
    a = keyglide.evaluate(with_it.path, held, limit_words=words, engine=engine)
    b = keyglide.evaluate(without.path, held, limit_words=words, engine=engine)
    assert a.engine == b.engine == engine
    assert a.words == b.words == words
    assert a.keys_with < b.keys_with  # the cache saves keys on a story that repeats itself


# --- degraded and refused -----------------------------------------------------------------


def test_without_onnxruntime_the_file_opens_degraded(built, monkeypatch, capsys):
    with_it, without, _ = built
    monkeypatch.setattr(ort, "check_onnxruntime", lambda minimum: "onnxruntime is not installed")
    with keyglide.open(with_it.path, engine="auto") as db, keyglide.open(without.path) as plain:
        if db.engine == "reference":  # no kernel: the numpy reference runs the reranker
            pytest.skip("the native kernel is not available")
        assert db.compat.status == "degraded" and "NEURAL" in db.compat.ignored_features
        assert "onnxruntime is not installed" in db.compat.message
        assert "fully" not in db.compat.message  # one answer: degraded, and why
        assert db.info["reranker"] is None
        assert db.predict(TEXTS[1], 5) == plain.predict(TEXTS[1], 5)
    # `keyglide compat check` gives the same answer, and `keyglide predict` says it once.
    assert cli.main(["compat", "check", str(with_it.path), "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["status"] == "degraded" and "onnxruntime is not installed" in checked["message"]
    assert cli.main(["predict", "--db", str(with_it.path), TEXTS[1]]) == 0
    err = capsys.readouterr().err
    assert err.count("degraded") == 1 and "onnxruntime is not installed" in err


def test_older_releases_read_it_degraded(built):
    with_it, _, _ = built
    releases = [("1.0.0", "degraded"), ("1.2.0", "degraded"), (keyglide.__version__, "full")]
    for sdk, status in releases:
        outcome = compat.negotiate(with_it.path, sdk)
        assert outcome.status == status
        if status == "degraded":
            assert outcome.ignored_features == ("NEURAL",)


def _with_sections(path, info=None, onnx=None) -> bytes:
    from keyglide.builder.write import write_langdb
    from keyglide.convert import read_model

    with LangDBFile.open(path) as f:
        model = read_model(f)
    old_info, old_onnx = model.neural
    model.neural = (info if info is not None else old_info, onnx if onnx is not None else old_onnx)
    out = path.with_name("edited.langdb")
    write_langdb(out, model)
    return out


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"info": {"interface": 1}}, "interface"),
        ({"info": {"interface": "keyglide-rerank-1"}}, "must be"),
        ({"onnx": b"\x08"}, "ONNX|protobuf|truncated|varint"),
        ({"onnx": b"not a graph"}, "."),
    ],
)
def test_a_malformed_reranker_is_a_clear_error(built, change, problem):
    with_it, _, _ = built
    edited = _with_sections(with_it.path, **change)
    for engine in ("reference", "auto"):
        with pytest.raises(NeuralModelError, match=problem):
            keyglide.open(edited, engine=engine)
    assert issubclass(NeuralModelError, CorruptLangDB)


def test_a_later_interface_opens_degraded_with_the_reason(built):
    """A graph with an interface this SDK does not run: the file is sound, its reranker
    cannot run here, as without onnxruntime."""
    with_it, without, _ = built
    with LangDBFile.open(with_it.path) as f:
        info = json.loads(f.neural[0])
    info["interface"] = "keyglide-rerank-9"
    edited = _with_sections(with_it.path, info=info)
    for engine in ("reference", "auto"):
        with keyglide.open(edited, engine=engine) as db, keyglide.open(without.path) as plain:
            assert db.info["reranker"] is None
            assert db.compat.status == "degraded" and "NEURAL" in db.compat.ignored_features
            assert "keyglide-rerank-9" in db.compat.message
            assert db.predict(TEXTS[1], 5) == plain.predict(TEXTS[1], 5)


def _interface_graph(body) -> bytes:
    """A graph with the interface's inputs and output; ``body(g)`` adds the nodes."""
    from keyglide.neural.graph import GraphBuilder

    g = GraphBuilder("crafted")
    g.input("context", np.int64, [1, SETTINGS.context_words])
    g.input("history", np.int64, [1, SETTINGS.history_words])
    g.input("typed", np.int64, [1])
    g.input("candidates", np.int64, ["batch", "shortlist"])
    g.input("ngram", np.float32, ["batch", "shortlist"])
    g.output("adjust", np.float32, ["batch", "shortlist"])
    body(g)
    return g.model(opset=rerank.OPSET, ir_version=rerank.IR_VERSION)


def test_a_graph_that_would_allocate_too_much_is_not_run(built):
    """Candidates x history x 20,000 float32: 12 * 80 * 20,000 elements, over the limit:
    the file opens without its reranker, before onnxruntime (which would allocate them)
    ever sees the graph."""

    def body(g):
        g.initializer("as_column", np.array([-1, 1, 1], dtype=np.int64))
        g.initializer("as_row", np.array([1, -1, 1], dtype=np.int64))
        g.initializer("wide", np.ones((1, 1, 20_000), dtype=np.float32))
        g.initializer("axes", np.array([1, 2], dtype=np.int64))
        g.initializer("out", np.array([1, -1], dtype=np.int64))
        cand = g.node("Reshape", ["candidates", "as_column"], "cand")
        hist = g.node("Reshape", ["history", "as_row"], "hist")
        seen = g.node("Cast", [g.node("Equal", [cand, hist], "eq")], "seen", to=1)
        big = g.node("Mul", [seen, "wide"], "big")  # [L, H, 20000]
        total = g.node("ReduceSum", [big, "axes"], "total", keepdims=0)
        g.node("Reshape", [total, "out"], "adjust")

    with_it, without, _ = built
    edited = _with_sections(with_it.path, onnx=_interface_graph(body))
    for engine in ("reference", "auto"):
        with keyglide.open(edited, engine=engine) as db, keyglide.open(without.path) as plain:
            assert db.compat.status == "degraded" and db.info["reranker"] is None
            assert "would make a tensor of 19,200,000 elements" in db.compat.message
            assert db.predict(TEXTS[1], 5) == plain.predict(TEXTS[1], 5)


def test_a_graph_that_computes_a_shape_is_not_run(built):
    def body(g):
        shape = g.node("Shape", ["ngram"], "shape")
        g.node("Reshape", ["ngram", shape], "adjust")

    with_it, _, _ = built
    edited = _with_sections(with_it.path, onnx=_interface_graph(body))
    with keyglide.open(edited, engine="reference") as db:
        assert db.compat.status == "degraded" and "computed" in db.compat.message


def test_a_graph_with_another_interface_is_refused(built):
    with_it, _, _ = built
    wrong = rerank.graph(np.zeros((3, 8)), dataclasses.replace(SETTINGS, history_words=80))
    model = proto.decode(wrong)
    renamed = dataclasses.replace(
        model,
        graph=dataclasses.replace(
            model.graph,
            outputs=tuple(dataclasses.replace(o, name="scores") for o in model.graph.outputs),
        ),
    )
    with pytest.raises(NeuralModelError):  # refused before anything runs
        keyglide.open(_with_sections(with_it.path, onnx=proto.encode(renamed)))


def test_convert_drops_the_reranker_for_older_releases(built, tmp_path):
    with_it, without, _ = built
    out = tmp_path / "old.langdb"
    result = convert(with_it.path, out, target_sdk=">=1.2")
    assert (result.format, result.dropped) == ("1.0", ["NEURAL"])
    with LangDBFile.open(out) as f:
        assert f.neural is None and f.meta["dropped"] == ["NEURAL"]


def test_the_recipe_table(tmp_path):
    toml = tmp_path / "r.toml"

    def recipe_with(settings: str) -> Recipe:
        head = 'name = "r"\norder = 3\n[[inputs]]\npaths = ["a.txt"]\n[neural]\ntext = "b.txt"\n'
        toml.write_text(head + settings, encoding="utf-8")
        return Recipe.from_toml(toml)

    recipe = recipe_with("shortlist = 20\nhistory_words = 500\nnetwork_steps = 7\n")
    assert recipe.neural.settings.shortlist == 20 and recipe.neural.settings.history_words == 500
    assert recipe.neural.settings.network() == network.NetworkSettings(steps=7)
    assert recipe.to_record()["neural"]["shortlist"] == 20
    assert recipe.to_record()["neural"]["network_steps"] == 7
    with pytest.raises(BuildError, match="shortlist"):
        recipe_with("shortlist = 0\n")
    with pytest.raises(BuildError, match="network_steps"):
        recipe_with("network_steps = -1\n")
    assert recipe_with("network_steps = 0\n").neural.settings.network() is None


def test_a_network_needs_text_to_learn_from(tmp_path):
    (tmp_path / "pairs.txt").write_text("the cat 5\ncat sat 3\n", encoding="utf-8")
    (tmp_path / "held.txt").write_text(story(3, 40), encoding="utf-8")
    recipe = Recipe(
        name="counted",
        order=2,
        inputs=(Input(kind="counts", paths=("pairs.txt",)),),
        discount_fallback=(0.5, 1.0, 1.5),
        lowest_order="raw",
        base_dir=tmp_path,
        neural=Reranking(
            files=Input(kind="text", paths=("held.txt",)),
            settings=dataclasses.replace(SETTINGS, network_steps=5),
        ),
    )
    with pytest.raises(BuildError, match="network_steps needs text inputs"):
        build(recipe, tmp_path / "out.langdb", jobs=1, progress=False, source_commit=None)
    assert not (tmp_path / "out.langdb").exists()


# --- hostile rerankers ------------------------------------------------------------------------


def _graph_of(path) -> proto.Model:
    with LangDBFile.open(path) as f:
        return proto.decode(f.neural[1])


def _refused_everywhere(path, tmp_path, match: str) -> None:
    """Both engines refuse the file at open, and a store does not install it."""
    for engine in ("reference", "auto"):
        with pytest.raises(NeuralModelError, match=match):
            keyglide.open(path, engine=engine)
    store = keyglide.Store(tmp_path / "store")
    with pytest.raises(NeuralModelError, match=match):
        store.install(path)
    assert store.list() == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("spread", ["one", "every"])
def test_a_weight_that_is_not_a_number_is_refused(built, tmp_path, value, spread):
    with_it, _, _ = built
    model = _graph_of(with_it.path)
    floats = [t for t in model.graph.initializers if t.array.dtype == np.float32]
    target = max(floats, key=lambda t: t.array.size)
    poisoned = target.array.copy()
    if spread == "one":
        poisoned.flat[poisoned.size // 2] = value
    else:
        poisoned[...] = value
    initializers = tuple(
        proto.Tensor(t.name, poisoned) if t is target else t for t in model.graph.initializers
    )
    onnx = proto.encode(
        dataclasses.replace(
            model, graph=dataclasses.replace(model.graph, initializers=initializers)
        )
    )
    edited = _with_sections(with_it.path, onnx=onnx)
    _refused_everywhere(edited, tmp_path, f"initializer {target.name!r}.*not finite")


def test_two_nodes_of_one_name_are_refused(built, tmp_path):
    """onnxruntime refuses such a graph: so do the reference and the store."""
    with_it, _, _ = built
    model = _graph_of(with_it.path)
    nodes = list(model.graph.nodes)
    nodes[-1] = dataclasses.replace(nodes[-1], name=nodes[0].name)
    onnx = proto.encode(
        dataclasses.replace(model, graph=dataclasses.replace(model.graph, nodes=tuple(nodes)))
    )
    _refused_everywhere(_with_sections(with_it.path, onnx=onnx), tmp_path, "same name")


def _nan_once_typing(g) -> None:
    """adjust = ngram - max(ngram, e^(100 typed) - e^(100 typed)): finite for the next word,
    a NaN inside the graph once a letter is typed, which onnxruntime's ReduceMax drops
    (its adjust stays finite) where numpy's keeps it."""
    typed = g.node("Cast", ["typed"], "typed_float", to=1)
    scaled = g.node("Mul", [typed, g.initializer("k", np.array(100, np.float32))], "x")
    big = g.node("Exp", [scaled], "e")
    nan = g.node("Sub", [big, big], "nan")
    column = g.node("Reshape", [nan, g.initializer("one_by_one", np.array([1, 1]))], "nan11")
    both = g.node("Concat", ["ngram", column], "both", axis=1)
    top = g.node("ReduceMax", [both], "top", axes=[1], keepdims=1)
    g.node("Sub", ["ngram", top], "adjust")


def _inf_once_typing(g) -> None:
    """adjust = e^(100 typed) * ngram: -inf once a letter is typed."""
    typed = g.node("Cast", ["typed"], "typed_float", to=1)
    big = g.node(
        "Exp", [g.node("Mul", [typed, g.initializer("k", np.array(100, np.float32))], "x")], "e"
    )
    g.node("Mul", ["ngram", big], "adjust")


@pytest.mark.parametrize("body", [_nan_once_typing, _inf_once_typing], ids=["nan", "inf"])
def test_a_run_that_is_not_finite_is_not_applied(built, body):
    """Finite weights, and a graph that makes a NaN or an infinite adjust only on some
    inputs: those questions get the n-gram answers, in both engines."""
    with_it, without, _ = built
    edited = _with_sections(with_it.path, onnx=_interface_graph(body))
    engines = ["reference", "native"] if HAVE_ORT else ["reference"]
    typing = [TEXTS[2], TEXTS[4], TEXTS[5], "Anna walked to Pa"]
    with keyglide.open(without.path, engine="reference") as plain:
        for engine in engines:
            with keyglide.open(edited, engine=engine) as db:
                assert db.info["reranker"] is not None and db.compat.status == "full"
                for text in typing:
                    assert db.predict(text, 5) == plain.predict(text, 5)
                # Next-word questions run the graph (adjust 0: the n-gram order again).
                assert [w for w, _ in db.predict(TEXTS[1], 5)] == [
                    w for w, _ in plain.predict(TEXTS[1], 5)
                ]


def test_a_nan_that_no_sensitive_operator_reads_does_not_stop_the_run(built):
    """adjust = where(nan == nan, 0, id / 1000): a NaN made and then dropped by Equal, as
    every runtime drops it, reaches no NAN_SENSITIVE operator and not adjust, so the run is
    applied, the same way by both engines."""
    with_it, without, _ = built

    def body(g):
        zero = g.initializer("zero", np.zeros((1, 1), np.float32))
        nan = g.node("Div", [zero, zero], "nan")
        never = g.node("Equal", [nan, nan], "never")
        ids = g.node("Cast", ["candidates"], "ids", to=1)
        scaled = g.node("Mul", [ids, g.initializer("milli", np.array(1e-3, np.float32))], "s")
        g.node("Where", [never, zero, scaled], "adjust")

    edited = _with_sections(with_it.path, onnx=_interface_graph(body))
    engines = ["reference", "native"] if HAVE_ORT else ["reference"]
    with keyglide.open(without.path, engine="reference") as plain:
        plain_answers = [plain.predict(text, 12) for text in TEXTS]
    answers = []
    for engine in engines:
        with keyglide.open(edited, engine=engine) as db:
            answers.append([db.predict(text, 12) for text in TEXTS])
    assert answers[0] != plain_answers  # applied
    assert all(a == answers[0] for a in answers)


@pytest.mark.parametrize("weight", [1e300, 1e308])
def test_reranked_scores_are_bounded(built, weight):
    """adjust(c) = c's id, times a huge weight: raw scores far apart (1e300: scores no lower
    than log10 -99) or beyond float64 (1e308: the run is not applied)."""
    with_it, without, _ = built

    def body(g):
        g.node("Cast", ["candidates"], "adjust", to=1)

    with LangDBFile.open(with_it.path) as f:
        info = json.loads(f.neural[0])
    info["weight"] = weight
    edited = _with_sections(with_it.path, info=info, onnx=_interface_graph(body))
    engines = ["reference", "native"] if HAVE_ORT else ["reference"]
    answers = []
    with keyglide.open(without.path, engine="reference") as plain:
        for engine in engines:
            with keyglide.open(edited, engine=engine) as db:
                got = [db.predict(text, 12) for text in TEXTS]
                answers.append(got)
                scores = [s for answer in got for _, s in answer]
                assert all(-990000 <= s <= 0 for s in scores)
                assert math.isfinite(db.logprob(TEXTS[1])) and math.isfinite(
                    db.perplexity(TEXTS[1])
                )
                if weight == 1e308:
                    assert got == [plain.predict(text, 12) for text in TEXTS]
    assert all(a == answers[0] for a in answers)


# --- scoring a text costs the same for every token ----------------------------------------------

FIXTURE = os.path.join(
    os.path.dirname(__file__), "..", "langdb", "fixtures", "1.3", "neural-3.langdb"
)
FIXTURE_WORDS = "the old man walked to the river and the market in the morning station".split()


def _engines_here() -> list[str]:
    from keyglide.engines import native

    return ["reference", "native"] if native.available()[0] and HAVE_ORT else ["reference"]


@pytest.mark.parametrize("engine", ["reference", "native"])
def test_scoring_a_text_reads_each_token_a_bounded_number_of_times(engine, monkeypatch):
    """Count the characters of text the n-gram engine is asked about while a text of one
    long sentence is scored: a constant per token, however long the sentence."""
    if engine not in _engines_here():
        pytest.skip("the native engine or onnxruntime is not available")
    from keyglide.engines.native import NativeEngine
    from keyglide.engines.reference import ReferenceEngine

    cls = NativeEngine if engine == "native" else ReferenceEngine
    asked: list[int] = []
    original = cls.candidates

    def counting(self, text, k):
        asked.append(len(text))
        return original(self, text, k)

    monkeypatch.setattr(cls, "candidates", counting)
    rng = random.Random(3)
    per_token = {}
    with keyglide.open(FIXTURE, engine=engine) as db:
        for n in (100, 800):
            text = " ".join(rng.choice(FIXTURE_WORDS) for _ in range(n))
            asked.clear()
            db.logprob(text)
            assert len(asked) > n // 2  # most tokens are in a shortlist: asked about
            per_token[n] = sum(asked) / n
    # The n-gram model reads two words before each token: "word word " at most.
    longest = max(map(len, FIXTURE_WORDS))
    assert per_token[800] <= 2 * longest + 2 and per_token[100] <= 2 * longest + 2


def _defined_score_sum(engine, text: str) -> tuple[int, int]:
    """FORMAT.md section 11 as written: each token's scoring shortlist asked after the whole
    of its sentence, and the graph fed its whole history."""
    from keyglide import text as contract
    from keyglide.neural.rerank import rerank_scores

    total, tokens = engine.base.score_sum(text)
    info = engine.reranker.info
    history: list[int] = []
    for sentence in contract.sentences(text):
        ids = [engine._lookup(w) for w in sentence]
        for i, word in enumerate(ids):
            if word >= 3:
                found = engine.base.candidates(" ".join(sentence[:i]) + " ", info.shortlist)
                shortlist = np.array(found, dtype=np.int64).reshape(-1, 2)
                where = np.flatnonzero(shortlist[:, 0] == word)
                if len(where):
                    feed = history_feed(history, info.history_words, engine._vocab_size)
                    scores = rerank_scores(
                        engine.reranker, shortlist, ids[:i], feed, 0, engine._vocab_size
                    )
                    total += int(scores[where[0]] - shortlist[where[0], 1])
            history.append(word)
    return total, tokens


@pytest.fixture(scope="module")
def fixture_dbs():
    dbs = [keyglide.open(FIXTURE, engine=engine) for engine in _engines_here()]
    yield dbs
    for db in dbs:
        db.close()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*FIXTURE_WORDS, "Mary", "London", "sea.", "qqq", ". ", "\n\n", "'"]),
            st.text(max_size=6),
        ),
        max_size=60,
    )
)
def test_scoring_a_text_is_the_definition(fixture_dbs, words):
    text = " ".join(words)
    for db in fixture_dbs:
        assert db._engine.score_sum(text) == _defined_score_sum(db._engine, text)


def test_suggest_reranks_the_next_word_and_decodes_a_word_being_typed(built):
    with_it, _, _ = built
    with keyglide.open(with_it.path) as db:
        for text in TEXTS:
            nxt = db.suggest(text.rstrip() + " ")
            assert nxt.typed is None and nxt.suggestions == db.predict(text.rstrip() + " ")
        typing = db.suggest(TEXTS[1].rstrip() + " th")
        assert typing.typed == "th"
        assert typing == db._engine.base.suggest(  # the n-gram decoder's strip
            TEXTS[1].rstrip() + " th",
            None,
            keyglide.Layout.named("qwerty"),
            3,
            keyglide.DEFAULT_THRESHOLD,
        )
