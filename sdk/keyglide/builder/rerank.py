"""Training the reranker of format 1.3 (FORMAT.md section 11) and writing it as ONNX.

The reranker is log-linear. For each candidate c of the n-gram shortlist it reads eight
numbers: the n-gram score and seven *cache* features, which say whether c, or the pair
(previous word, c), was written in the text before the cursor:

    cache_50, cache_200, cache_all   ln(1 + count of c in the last 50, 200, H history words)
    recency                          max(0, 1 - ln(d) / ln(20000)), d the distance back to the
                                     latest c in the history (1: the word just before), else 0
    in_context                       ln(1 + count of c in the C context words)
    bigram                           ln(1 + count of (previous word, c) in the history)
    bigram_recency                   recency of the latest such pair

With a word network (``network_steps`` > 0) it reads a ninth number, network(c): the
score a small feed-forward language model over the sentence's last C words gives c
(``keyglide.builder.network``). The network is trained on the n-gram model's own training
text, where there are millions of words to learn from; everything else on held-out text.

The reranker gives raw(c) = ln(10) * (ngram(c) + adjust(c)) with adjust(c) = x(c) . W[b],
where x = (ngram, features) and b = min(typed letters, 2): one weight row for next-word
prediction, one after one letter, one after two or more. Novels, like most text a user
types, repeat their names and phrases, which an n-gram model trained elsewhere cannot know;
and a sentence's earlier words say more about the next one than the two an order-3 model
reads.

Training fits W on held-out text (text the n-gram model was not trained on: on its own
training text its scores are overconfident) by Newton's method on the softmax loss over the
shortlist, from the n-gram model (W = 0). It is deterministic: fixed sampling seeds, fixed
numbers of iterations and steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from keyglide.builder.network import Network, NetworkSettings, contexts
from keyglide.errors import BuildError
from keyglide.format import BOS, SCORE_SCALE, TOP_LIST_LENGTH
from keyglide.neural.graph import GraphBuilder
from keyglide.neural.proto import DataType

FEATURES = (
    "cache_50",
    "cache_200",
    "cache_all",
    "recency",
    "in_context",
    "bigram",
    "bigram_recency",
)
WINDOWS = (50, 200)
RECENCY_RANGE = 20000
BUCKETS = 3  # typed letters 0, 1, 2 or more
OPSET = 17
IR_VERSION = 8
MIN_ONNXRUNTIME = "1.19"  # the oldest that imports beside numpy 2 (keyglide.neural.runtime)
_KEY = 1 << 24  # positions < 2**24 in a key word * _KEY + position
LN10 = math.log(10)


@dataclass(frozen=True)
class Settings:
    """How the reranker is trained (a recipe's ``[neural]`` table)."""

    # The kernel keeps the best TOP_LIST_LENGTH (16) continuations of every frequent context
    # (FORMAT.md section 4.3): a shortlist that long comes from them in microseconds, a
    # longer one scans all of a context's children (up to ~100 us). Measured on the novels,
    # 40 candidates gained 0.03 point of KSR over 16, for twice the latency.
    shortlist: int = TOP_LIST_LENGTH
    context_words: int = 8
    history_words: int = 250
    examples: int = 100_000  # held-out words drawn (each gives up to one example a bucket)
    iterations: int = 12
    seed: int = 1
    # The word network (keyglide.builder.network), trained on the n-gram model's training
    # text; 0 steps: none, the reranker reads only the cache features.
    network_steps: int = 0
    network_dim: int = 64
    network_hidden: int = 512

    def network(self) -> NetworkSettings | None:
        if not self.network_steps:
            return None
        return NetworkSettings(
            steps=self.network_steps,
            dim=self.network_dim,
            hidden=self.network_hidden,
            seed=self.seed,
        )


@dataclass
class Examples:
    """Shortlists drawn from held-out text, with what the features need.

    ``position``: the index in ``stream`` of the word being predicted; ``typed``: letters
    typed of it; ``candidates``/``ngram``: the shortlist (-1 / 0 past its end); ``label``:
    the word's index in its shortlist.
    """

    stream: np.ndarray
    sentence_start: np.ndarray  # per stream position: where its sentence starts
    position: np.ndarray
    typed: np.ndarray
    candidates: np.ndarray
    ngram: np.ndarray
    label: np.ndarray


def collect(
    sentences: Sequence[Sequence[int]],
    words: Sequence[str],
    candidates: Callable[[str, int], list[tuple[int, int]]],
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> Examples:
    """Training examples from held-out text given as sentences of word ids (``words``
    spells them, folded): at up to ``settings.examples`` words drawn with the seed, and for
    each with 0, 1 and 2 letters typed, the n-gram shortlist (``candidates``, an engine's)
    and where the word is in it. Words outside their shortlist teach nothing: left out."""
    lengths = [len(s) for s in sentences]
    stream = np.array([w for s in sentences for w in s], dtype=np.int64)
    if len(stream) >= _KEY:
        raise BuildError(f"held-out text of {len(stream):,} words; at most {_KEY - 1:,}")
    starts = np.repeat(np.cumsum([0, *lengths])[:-1], lengths).astype(np.int64)
    eligible = np.flatnonzero(stream >= 3)
    rng = np.random.default_rng(settings.seed)
    if len(eligible) > settings.examples:
        eligible = np.sort(rng.choice(eligible, settings.examples, replace=False))
    size = settings.shortlist
    rows = len(eligible) * BUCKETS
    found_candidates = np.full((rows, size), -1, dtype=np.int64)
    found_ngram = np.zeros((rows, size), dtype=np.float64)
    position = np.zeros(rows, dtype=np.int64)
    typed_letters = np.zeros(rows, dtype=np.int64)
    label = np.zeros(rows, dtype=np.int64)
    m = 0
    for n, t in enumerate(eligible.tolist()):
        s = int(starts[t])
        spelled = [words[w] for w in stream[s : t + 1].tolist()]
        before = " ".join(spelled[:-1]) + " " if len(spelled) > 1 else ""
        word = spelled[-1]
        for typed in range(BUCKETS):
            if typed and typed >= len(word):
                break
            shortlist = candidates(before + word[:typed], size)
            ids = [c for c, _ in shortlist]
            if stream[t] in ids:
                found_candidates[m, : len(ids)] = ids
                found_ngram[m, : len(ids)] = [score / SCORE_SCALE for _, score in shortlist]
                position[m], typed_letters[m], label[m] = t, typed, ids.index(stream[t])
                m += 1
        if progress and (n + 1) % 20_000 == 0:
            progress(f"reranker: {n + 1:,} of {len(eligible):,} words, {m:,} examples")
    return Examples(
        stream=stream,
        sentence_start=starts,
        position=position[:m],
        typed=typed_letters[:m],
        candidates=found_candidates[:m],
        ngram=found_ngram[:m],
        label=label[:m],
    )


def features(
    examples: Examples, settings: Settings, network: Network | None = None
) -> np.ndarray:
    """x = (ngram, the seven cache features[, network]) of every shortlist entry: [M, L, 8]
    or [M, L, 9], float64, exactly what the graph computes from its inputs (up to float32
    rounding)."""
    stream, t = examples.stream, examples.position[:, None]
    c = np.where(examples.candidates < 0, -1, examples.candidates)
    H, C = settings.history_words, settings.context_words
    words = _Occurrences(stream)
    x = [examples.ngram]
    for window in (*WINDOWS, H):
        x.append(np.log1p(words.count(c, t - min(window, H), t)))
    x.append(_recency(t - words.latest(c, t - H, t)))
    context_start = np.maximum(examples.sentence_start[examples.position][:, None], t - C)
    x.append(np.log1p(words.count(c, context_start, t)))
    at_start = examples.sentence_start[examples.position] == examples.position
    previous = np.where(at_start, BOS, stream[np.maximum(examples.position - 1, 0)])[:, None]
    # Pairs are coded previous * width + word, width above every id on either side.
    width = max(int(stream.max(initial=0)), int(c.max(initial=0)), BOS) + 1
    pairs = _Occurrences.pairs(stream, width)
    code = np.where(c < 0, -1, previous * width + c)
    x.append(np.log1p(pairs.count(code, t - H + 1, t)))
    x.append(_recency(t - pairs.latest(code, t - H + 1, t)))
    if network is not None:
        x.append(_network_scores(network, examples, C))
    return np.stack(x, axis=-1)


def _network_scores(network: Network, examples: Examples, width: int) -> np.ndarray:
    """network(c) of every shortlist entry [M, L] (padding entries scored as the padding
    row), a block of examples at a time to bound the memory of the [block, L, D] rows."""
    pad = network.vocab_size
    candidates = np.where(examples.candidates < 0, pad, examples.candidates)
    scores = np.zeros(candidates.shape, dtype=np.float64)
    block = 8192
    for lo in range(0, len(candidates), block):
        hi = lo + block
        context = contexts(
            examples.stream, examples.sentence_start, examples.position[lo:hi], width, pad
        )
        scores[lo:hi] = network.score(network.query(context), candidates[lo:hi])
    return scores


def _recency(distance: np.ndarray) -> np.ndarray:
    """max(0, 1 - ln(d) / ln(RECENCY_RANGE)), 0 where nothing was found (d <= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 1.0 - np.log(np.maximum(distance, 1)) / math.log(RECENCY_RANGE)
    return np.where(distance > 0, np.maximum(value, 0.0), 0.0)


class _Occurrences:
    """Where each value occurs in a sequence: sorted keys value * _KEY + position."""

    def __init__(self, values: np.ndarray, positions: np.ndarray | None = None) -> None:
        positions = np.arange(len(values)) if positions is None else positions
        self.codes, inverse = np.unique(values, return_inverse=True)
        self.keys = np.sort(inverse.astype(np.int64) * _KEY + positions)

    @classmethod
    def pairs(cls, stream: np.ndarray, width: int) -> _Occurrences:
        """Occurrences of (stream[u], stream[u+1]), coded stream[u] * width + stream[u+1],
        at position u + 1."""
        return cls(stream[:-1] * width + stream[1:], np.arange(1, len(stream)))

    def _index(self, values: np.ndarray) -> np.ndarray:
        if len(self.codes) == 0:
            return np.full(np.shape(values), -1)
        i = np.searchsorted(self.codes, values)
        found = (i < len(self.codes)) & (self.codes[np.minimum(i, len(self.codes) - 1)] == values)
        return np.where(found & (values >= 0), i, -1)

    def count(self, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """How many times each value occurs at positions [lo, hi)."""
        i = self._index(values)
        base = np.where(i < 0, 0, i) * _KEY
        n = np.searchsorted(self.keys, base + hi) - np.searchsorted(
            self.keys, base + np.maximum(lo, 0)
        )
        return np.where(i < 0, 0, n).astype(np.float64)

    def latest(self, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The last position in [lo, hi) holding each value, or hi (not found)."""
        i = self._index(values)
        base = np.where(i < 0, 0, i) * _KEY
        if len(self.keys) == 0:
            return np.broadcast_to(hi, np.shape(values)).copy()
        j = np.searchsorted(self.keys, base + hi) - 1
        key = self.keys[np.maximum(j, 0)]
        ok = (i >= 0) & (j >= 0) & (key // _KEY == i) & (key % _KEY >= np.maximum(lo, 0))
        return np.where(ok, key % _KEY, hi)


def fit(x: np.ndarray, examples: Examples, settings: Settings) -> np.ndarray:
    """W [BUCKETS, F]: for each bucket, Newton's method on the mean softmax loss over the
    shortlists, from W = 0 (the n-gram model), with a small ridge for a well-posed Hessian.

    The loss is over raw = ln(10) * (ngram + x . W), what the reader computes; Newton's
    method runs on ln(10) * x, whose weights are then W itself."""
    weights = np.zeros((BUCKETS, x.shape[-1]))
    bucket = np.minimum(examples.typed, BUCKETS - 1)
    valid = examples.candidates >= 0
    for b in range(BUCKETS):
        rows = np.flatnonzero(bucket == b)
        if len(rows):
            weights[b] = _newton(
                x[rows] * LN10, valid[rows], examples.label[rows], settings.iterations
            )
    return weights


def _newton(x: np.ndarray, valid: np.ndarray, label: np.ndarray, iterations: int) -> np.ndarray:
    """argmin over w of mean -log softmax(ngram + x . w)[label] + ridge |w|^2 (x in ln units,
    x[..., 0] the n-gram score, which the raw score always holds once)."""
    m, _, f = x.shape
    w = np.zeros(f)
    ridge = 1e-4
    rows = np.arange(m)

    def loss_and_probs(w: np.ndarray) -> tuple[float, np.ndarray]:
        raw = np.where(valid, x[..., 0] + x @ w, -np.inf)
        top = raw.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(raw - top).sum(axis=1))
        loss = float(np.mean(log_z - raw[rows, label])) + ridge * float(w @ w)
        return loss, np.exp(raw - log_z[:, None])

    loss, p = loss_and_probs(w)
    for _ in range(iterations):
        mean_x = np.einsum("ml,mlf->mf", p, x)
        gradient = (mean_x - x[rows, label]).mean(axis=0) + 2 * ridge * w
        weighted = (x * np.sqrt(p)[..., None]).reshape(-1, f)
        second = weighted.T @ weighted / m
        hessian = second - mean_x.T @ mean_x / m + 2 * ridge * np.eye(f)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-3:  # backtracking: Newton's step may overshoot far from the optimum
            trial, p_trial = loss_and_probs(w - scale * step)
            if trial <= loss:
                w, loss, p = w - scale * step, trial, p_trial
                break
            scale /= 2
        else:
            break
    return w


# --- the graph ---------------------------------------------------------------------------


def graph(weights: np.ndarray, settings: Settings, network: Network | None = None) -> bytes:
    """The ONNX model of the reranker with ``weights`` (interface keyglide-rerank-1), and
    its word network when there is one (``weights`` then has a ninth column).

    The work is on [L, H] matrices (each candidate against each history word), so the
    graph does it in as few operators as it can: one comparison, one matrix product for
    every count (three windows and the pairs), one product and maximum for both
    recencies."""
    H, C = settings.history_words, settings.context_words
    g = GraphBuilder("keyglide-rerank-1 cache features")
    g.input("context", np.int64, [1, C])
    g.input("history", np.int64, [1, H])
    g.input("typed", np.int64, [1])
    g.input("candidates", np.int64, ["batch", "shortlist"])
    g.input("ngram", np.float32, ["batch", "shortlist"])
    g.output("adjust", np.float32, ["batch", "shortlist"])
    f32 = np.float32
    windows = np.zeros((H, len(WINDOWS) + 1), dtype=f32)
    for j, window in enumerate((*WINDOWS, H)):
        windows[H - min(window, H) :, j] = 1
    distance = H - np.arange(H, dtype=np.float64)  # history[j] is H - j words back
    recency = np.maximum(0.0, 1 - np.log(distance) / math.log(RECENCY_RANGE)).astype(f32)
    # The graph's columns: ngram, the three windows, bigram, recency, bigram_recency,
    # in_context[, network]; the weights' rows follow FEATURES (then network, as in info()).
    columns = [0, 1, 2, 3, 6, 4, 7, 5, *([8] if network is not None else [])]
    g.initializer("windows", windows)
    g.initializer("recency", recency[None, :])
    g.initializer("column", np.array([-1, 1], dtype=np.int64))
    g.initializer("row", np.array([1, -1], dtype=np.int64))
    g.initializer("axis1", np.array([1], dtype=np.int64))
    g.initializer("last", np.array([C - 1], dtype=np.int64))
    g.initializer("before_last", np.arange(H - 1, dtype=np.int64))
    g.initializer("nothing_before", np.zeros((1, 1), dtype=f32))
    g.initializer("one", np.array(1, dtype=f32))
    g.initializer("bucket_min", np.array(0, dtype=np.int64))
    g.initializer("bucket_max", np.array(BUCKETS - 1, dtype=np.int64))
    g.initializer("weights_t", np.ascontiguousarray(weights.T[columns].astype(f32)))

    def matches(a: str, b: str, name: str) -> str:
        equal = g.node("Equal", [a, b], f"{name}_eq")
        return g.node("Cast", [equal], name, to=DataType.FLOAT)

    cand = g.node("Reshape", ["candidates", "column"], "cand")  # [L, 1]
    seen = matches(cand, "history", "seen")  # [L, H]
    # after_previous[j]: history[j - 1] is the word before the cursor (0 for j = 0), so
    # seen * after_previous marks the pairs (previous word, candidate).
    previous = g.node("Gather", ["context", "last"], "previous", axis=1)  # [1, 1]
    before = g.node("Gather", ["history", "before_last"], "history_before", axis=1)
    after_previous = g.node(
        "Concat",
        ["nothing_before", matches(before, previous, "previous_then")],
        "after_previous",
        axis=1,
    )  # [1, H]
    sums = g.node(
        "MatMul",
        [
            seen,
            g.node(
                "Concat",
                ["windows", g.node("Transpose", [after_previous], "pair_column", perm=[1, 0])],
                "sum_columns",
                axis=1,
            ),
        ],
        "sums",
    )  # [L, 4]: counts in the windows, pairs
    latest = g.node(
        "ReduceMax",
        [
            g.node(
                "Mul",
                [
                    g.node("Unsqueeze", [seen, "axis1"], "seen_3d"),  # [L, 1, H]
                    g.node(
                        "Concat",
                        ["recency", g.node("Mul", [after_previous, "recency"], "pair_recency")],
                        "recencies",
                        axis=0,
                    ),  # [2, H]
                ],
                "seen_recency",
            ),
        ],
        "latest",
        axes=[2],
        keepdims=0,
    )  # [L, 2]: recency of the latest candidate, of the latest pair
    in_context = g.node(
        "ReduceSum",
        [matches(cand, "context", "in_context_eq"), "axis1"],
        "in_context_n",
        keepdims=1,
    )  # [L, 1]
    x = g.node(
        "Concat",
        [
            g.node("Reshape", ["ngram", "column"], "ngram_column"),
            g.node("Log", [g.node("Add", [sums, "one"], "sums_plus_1")], "log_sums"),
            latest,
            g.node("Log", [g.node("Add", [in_context, "one"], "in_context_plus_1")], "in_ctx"),
            *([_network_nodes(g, network, C)] if network is not None else []),
        ],
        "x",
        axis=1,
    )  # [L, 8] or [L, 9]
    bucket = g.node("Clip", ["typed", "bucket_min", "bucket_max"], "bucket")  # [1]
    w = g.node("Gather", ["weights_t", bucket], "w", axis=1)  # [8, 1]
    g.node("Reshape", [g.node("MatMul", [x, w], "adjust_column"), "row"], "adjust")
    return g.model(opset=OPSET, ir_version=IR_VERSION)


def _network_nodes(g: GraphBuilder, network: Network, width: int) -> str:
    """The nodes computing network(c) of every candidate from the feeds ``context`` and
    ``candidates`` (keyglide.builder.network); returns the [L, 1] column."""
    dim = network.table.shape[1]
    g.initializer("net_table", network.table)  # int8 [V + 1, D]
    g.initializer("net_scale", network.scale[:, None])  # [V + 1, 1]
    g.initializer("net_bias", network.bias[:, None])  # [V + 1, 1]
    g.initializer("net_w1", network.w1)
    g.initializer("net_b1", network.b1)
    g.initializer("net_w2", network.w2)
    g.initializer("net_b2", network.b2)
    g.initializer("net_flat", np.array([1, width * dim], dtype=np.int64))
    g.initializer("net_all", np.array([-1], dtype=np.int64))

    def rows(ids: str, name: str) -> str:  # E[ids]: the int8 rows times their scales
        quantized = g.node("Gather", ["net_table", ids], f"{name}_int8", axis=0)
        values = g.node("Cast", [quantized], f"{name}_float", to=DataType.FLOAT)
        scale = g.node("Gather", ["net_scale", ids], f"{name}_scale", axis=0)
        return g.node("Mul", [values, scale], name)

    x = g.node("Reshape", [rows("context", "net_context_rows"), "net_flat"], "net_x")
    hidden = g.node(
        "Tanh",
        [g.node("Add", [g.node("MatMul", [x, "net_w1"], "net_xw1"), "net_b1"], "net_a1")],
        "net_hidden",
    )
    query = g.node(
        "Add", [g.node("MatMul", [hidden, "net_w2"], "net_hw2"), "net_b2"], "net_query"
    )  # [1, D]
    words = g.node("Reshape", ["candidates", "net_all"], "net_words")  # [L]
    dot = g.node(
        "MatMul",
        [rows(words, "net_word_rows"), g.node("Transpose", [query], "net_query_t", perm=[1, 0])],
        "net_dot",
    )  # [L, 1]
    bias = g.node("Gather", ["net_bias", words], "net_word_bias", axis=0)  # [L, 1]
    return g.node("Add", [dot, bias], "network")


def info(
    weights: np.ndarray,
    settings: Settings,
    examples: Examples,
    network: dict | None = None,
) -> dict:
    """NEURAL_INFO for the graph (FORMAT.md section 11), with the training's provenance
    (``network``: the word network's training record, when there is one)."""
    record = {
        "interface": "keyglide-rerank-1",
        "onnx_ir_version": IR_VERSION,
        "onnx_opset": OPSET,
        "min_onnxruntime": MIN_ONNXRUNTIME,
        "shortlist": settings.shortlist,
        "context_words": settings.context_words,
        "history_words": settings.history_words,
        "weight": 1.0,
        "model": "log-linear, cache features" + (", word network" if network else ""),
        "features": ["ngram", *FEATURES, *(["network"] if network else [])],
        "weights": [[round(float(v), 6) for v in row] for row in weights],
        "training": {
            "examples": int(len(examples.label)),
            "held_out_words": int(len(examples.stream)),
            "per_bucket": settings.examples,
            "iterations": settings.iterations,
            "seed": settings.seed,
        },
    }
    if network:
        record["network"] = network
    return record
