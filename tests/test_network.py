"""The reranker's word network (keyglide.builder.network): its contexts, its training, its
quantization. That the graph computes what training fits on is in test_rerank.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide.builder import network
from keyglide.errors import BuildError
from keyglide.format import BOS

# Sentences "a_i b c d x_i": the last word follows from the first, four words back, which a
# trigram model cannot see and a window of five words can.
FIRST = [10 + i for i in range(6)]
LAST = [20 + i for i in range(6)]
MIDDLE = [3, 4, 5]
VOCAB = 26
SMALL = network.NetworkSettings(
    steps=300, dim=8, hidden=32, batch=128, negatives=16, learning_rate=1e-2
)


def _sentences(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[FIRST[i], *MIDDLE, LAST[i]] for i in rng.integers(0, len(FIRST), n)]


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    width=st.integers(1, 6),
    data=st.data(),
)
def test_contexts_are_the_sentence_so_far_after_bos(lengths, width, data):
    stream = np.arange(100, 100 + sum(lengths))
    starts = np.repeat(np.cumsum([0, *lengths])[:-1], lengths)
    positions = np.array(
        data.draw(st.lists(st.integers(0, len(stream) - 1), min_size=1, max_size=8))
    )
    got = network.contexts(stream, starts, positions, width, pad=99)
    for row, t in zip(got, positions, strict=True):
        window = [BOS, *stream[starts[t] : t]][-width:]
        assert row.tolist() == [99] * (width - len(window)) + window


def test_training_learns_what_a_trigram_cannot_see():
    net, record = network.train(_sentences(400), VOCAB, 5, SMALL)
    assert record["steps"] == 300 and record["training_words"] == 2000
    hits = 0
    for first, last in zip(FIRST, LAST, strict=True):
        context = np.array([[BOS, first, *MIDDLE]])
        scores = net.score(net.query(context), np.array([LAST]))[0]
        hits += LAST[int(np.argmax(scores))] == last
    assert hits == len(FIRST)


def test_the_gradients_are_the_slope_of_the_loss():
    """head_gradients, the backward pass training takes, against finite differences of a
    loss that weighs q arbitrarily (its gradient with respect to q is the weights)."""
    rng = np.random.default_rng(4)
    layers = {
        "w1": rng.normal(size=(6, 5)),
        "b1": rng.normal(size=5),
        "w2": rng.normal(size=(5, 3)),
        "b2": rng.normal(size=3),
    }
    x, weigh = rng.normal(size=(4, 6)), rng.normal(size=(4, 3))

    def loss(layers, x) -> float:
        return float(np.sum(network.head(layers, x)[1] * weigh))

    hidden, _ = network.head(layers, x)
    dense, grad_x = network.head_gradients(layers, x, hidden, weigh)
    for name, value in [*layers.items(), ("x", x)]:
        grad = grad_x if name == "x" else dense[name]
        for index in np.ndindex(value.shape):
            value[index] += 1e-6
            up = loss(layers, x)
            value[index] -= 2e-6
            down = loss(layers, x)
            value[index] += 1e-6
            assert grad[index] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8), name


def test_training_is_deterministic():
    tiny = network.NetworkSettings(steps=20, dim=4, hidden=8, batch=64, negatives=8)
    a, _ = network.train(_sentences(100), VOCAB, 5, tiny)
    b, _ = network.train(_sentences(100), VOCAB, 5, tiny)
    c, _ = network.train(_sentences(100), VOCAB, 5, dataclasses.replace(tiny, seed=2))
    for name in ("table", "scale", "bias", "w1", "b1", "w2", "b2"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.w1, c.w1)


def test_quantized_rows_are_within_half_a_step():
    rng = np.random.default_rng(3)
    E = rng.normal(size=(50, 12)).astype(np.float32)
    E[7] = 0  # a row never trained stays zero
    params = {"E": E, "bias": np.zeros(50, np.float32)}
    params |= {k: np.zeros((1, 1), np.float32) for k in ("w1", "b1", "w2", "b2")}
    net = network.quantize(params)
    assert net.table.dtype == np.int8 and net.scale.dtype == np.float32
    rows = net.rows(np.arange(50))
    assert np.all(np.abs(rows - E) <= net.scale[:, None] / 2 + 1e-7)
    assert np.abs(net.table).max() == 127 and not rows[7].any()


def test_text_without_known_words_is_refused():
    with pytest.raises(BuildError, match="no known words"):
        network.train([[0, 1], [2]], VOCAB, 3, SMALL)
