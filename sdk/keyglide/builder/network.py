"""The reranker's word network: a small feed-forward language model over the sentence so far.

The n-gram model sees the two words before the cursor. The network sees the reranker's
``context`` feed (FORMAT.md section 11): the last C tokens of ``<s>`` followed by the
sentence's words, oldest first, padded in front with the id ``vocab_size``. It gives every
word w a score in natural-log units, up to a constant per context:

    x = E[c_1] ... E[c_C]                 (the C rows, concatenated)
    q = tanh(x W1 + b1) W2 + b2
    network(w) = q . E[w] + bias[w]

This is Bengio et al.'s neural probabilistic language model (2003) with one table E for
the words read and the words scored (tied embeddings, Press and Wolf 2017): D numbers a
word, rows 0 .. vocab_size - 1 the langdb's word ids, row vocab_size the padding.

**Training** is on the text the n-gram model is built from (the recipe's inputs), not on
the reranker's held-out text: the network needs millions of words, the log-linear
reranker only its few weights, which it fits on held-out text where the n-gram scores are
not overconfident (``keyglide.builder.rerank``). Each step takes ``batch`` words drawn at
random with their contexts and minimises the sampled softmax loss (Jean et al. 2015):
each word's score against ``negatives`` words drawn from the unigram distribution raised
to 0.75, every score corrected by ln(its sampling probability), so that the scores learn
log-probabilities without summing over the vocabulary. The optimiser is Adam, the rows of
E and bias updated lazily (only the rows a step touched), the learning rate falling
linearly to a tenth. Every random draw comes from one generator seeded by ``seed`` and
the number of steps is fixed: the same inputs give the same network on machines whose
BLAS kernels round alike (AVX2 and AVX-512 ones do not: ``keyglide.report.release.differs``).

**Stored**, E is quantized to int8 with one float32 scale per row (a quarter of the size;
the graph multiplies back). ``train`` returns the quantized network, so the reranker's
weights are fitted on exactly the scores the graph computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from keyglide.errors import BuildError
from keyglide.format import BOS, FIRST_WORD_ID

F32 = np.float32


@dataclass(frozen=True)
class NetworkSettings:
    """How the network is trained: ``steps`` of ``batch`` words, each scored against
    ``negatives`` sampled words; ``dim`` numbers a word, ``hidden`` units."""

    steps: int
    dim: int = 64
    hidden: int = 512
    batch: int = 2048
    negatives: int = 1024
    learning_rate: float = 2e-3
    seed: int = 1


@dataclass(frozen=True)
class Network:
    """A trained network, as the graph stores it (see the module docstring)."""

    table: np.ndarray  # int8 [vocab_size + 1, D]
    scale: np.ndarray  # float32 [vocab_size + 1]: row r of E is table[r] * scale[r]
    bias: np.ndarray  # float32 [vocab_size + 1]
    w1: np.ndarray  # float32 [C * D, hidden]
    b1: np.ndarray  # float32 [hidden]
    w2: np.ndarray  # float32 [hidden, D]
    b2: np.ndarray  # float32 [D]

    @property
    def vocab_size(self) -> int:
        return self.table.shape[0] - 1

    @property
    def context_words(self) -> int:
        return self.w1.shape[0] // self.table.shape[1]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """E[ids] as float32, shape ids.shape + (D,)."""
        return self.table[ids].astype(F32) * self.scale[ids][..., None]

    def layers(self) -> dict[str, np.ndarray]:
        """The dense layers w1, b1, w2, b2 by name (what ``head`` reads)."""
        return {"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2}

    def query(self, context: np.ndarray) -> np.ndarray:
        """q for each row of ``context`` [N, C] (ids, oldest first): [N, D] float32."""
        return head(self.layers(), self.rows(context).reshape(len(context), -1))[1]

    def score(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """network(w) for ``candidates`` [N, L] (any id, padding included) given ``query``
        [N, D]: [N, L] float32."""
        return np.einsum("nld,nd->nl", self.rows(candidates), query) + self.bias[candidates]


def head(layers: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hidden, q) for the concatenated context rows ``x`` [N, C * D]: the network's one
    definition of q, for training and for scoring."""
    hidden = np.tanh(x @ layers["w1"] + layers["b1"])
    return hidden, hidden @ layers["w2"] + layers["b2"]


def head_gradients(
    layers: dict[str, np.ndarray], x: np.ndarray, hidden: np.ndarray, grad_q: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Back through ``head``: the gradients of w1, b1, w2, b2 and of ``x``, given the
    loss's gradient ``grad_q`` with respect to q (summed over the batch, as given)."""
    grad_hidden = (grad_q @ layers["w2"].T) * (1 - hidden * hidden)
    dense = {
        "w2": hidden.T @ grad_q,
        "b2": grad_q.sum(axis=0),
        "w1": x.T @ grad_hidden,
        "b1": grad_hidden.sum(axis=0),
    }
    return dense, grad_hidden @ layers["w1"].T


def contexts(
    stream: np.ndarray, sentence_start: np.ndarray, positions: np.ndarray, width: int, pad: int
) -> np.ndarray:
    """The ``context`` feed of the word at each of ``positions`` in ``stream`` [N, width]:
    the last ``width`` of <s> and the sentence's words before it, oldest first, padded in
    front with ``pad`` (``sentence_start[t]``: where the sentence of position t starts)."""
    back = np.arange(width, 0, -1)  # column j holds the word `width - j` positions back
    source = positions[:, None] - back[None, :]
    start = sentence_start[positions][:, None]
    word = stream[np.maximum(source, 0)]
    return np.where(source >= start, word, np.where(source == start - 1, BOS, pad))


def train(
    sentences: Sequence[Sequence[int]] | Sequence[np.ndarray],
    vocab_size: int,
    context_words: int,
    settings: NetworkSettings,
    progress: Callable[[str], None] | None = None,
) -> tuple[Network, dict]:
    """Train the network on ``sentences`` of word ids; returns it, quantized, and a record
    of the training for the langdb's metadata."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    stream = np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences] or [[]])
    stream = stream.astype(np.int32)  # 9 million words: 36 MB
    sentence_start = np.repeat(np.cumsum(lengths) - lengths, lengths).astype(np.int64)
    targets = np.flatnonzero(stream >= FIRST_WORD_ID)
    if len(targets) == 0:
        raise BuildError("the network's training text has no known words")
    rng = np.random.default_rng(settings.seed)
    D, C, V = settings.dim, context_words, vocab_size
    counts = np.bincount(stream[targets], minlength=V + 1).astype(np.float64)
    sampling = counts**0.75
    sampling /= sampling.sum()
    log_sampling = np.log(np.maximum(sampling, 1e-30)).astype(F32)
    cumulative = np.cumsum(sampling)
    unigram = counts / counts.sum()

    def normal(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(F32)

    params = {
        "E": normal(V + 1, D, scale=0.1),
        "bias": np.log(np.maximum(unigram, 1e-9)).astype(F32),
        "w1": normal(C * D, settings.hidden, scale=1 / np.sqrt(C * D)),
        "b1": np.zeros(settings.hidden, F32),
        "w2": normal(settings.hidden, D, scale=1 / np.sqrt(settings.hidden)),
        "b2": np.zeros(D, F32),
    }
    adam = _Adam(params)
    B, K = settings.batch, settings.negatives
    recent: list[float] = []
    last_loss = None
    for step in range(1, settings.steps + 1):
        positions = targets[rng.integers(0, len(targets), B)]
        ctx = contexts(stream, sentence_start, positions, C, V)
        words = stream[positions].astype(np.int64)
        negative = np.minimum(np.searchsorted(cumulative, rng.random(K) * cumulative[-1]), V - 1)
        E = params["E"]
        # forward
        x = E[ctx].reshape(B, C * D)
        hidden, q = head(params, x)
        out_n, out_w = E[negative], E[words]
        score_n = q @ out_n.T + (params["bias"][negative] - log_sampling[negative])
        score_n[negative[None, :] == words[:, None]] = -np.inf  # a negative that is the word
        score_w = np.einsum("bd,bd->b", q, out_w) + params["bias"][words] - log_sampling[words]
        top = np.maximum(score_n.max(axis=1), score_w)
        exp_n, exp_w = np.exp(score_n - top[:, None]), np.exp(score_w - top)
        total = exp_n.sum(axis=1) + exp_w
        recent.append(float(np.mean(np.log(total) - (score_w - top))))
        # backward: d loss / d score, averaged over the batch
        grad_n = exp_n / total[:, None] / B
        grad_w = (exp_w / total - 1) / B
        grad_q = grad_n @ out_n + grad_w[:, None] * out_w
        dense, grad_x = head_gradients(params, x, hidden, grad_q)
        grad_x = grad_x.reshape(B * C, D)
        scored = np.concatenate([negative, words])
        rows = {
            "E": (
                np.concatenate([ctx.reshape(-1), scored]),
                np.concatenate([grad_x, grad_n.T @ q, grad_w[:, None] * q]),
            ),
            "bias": (scored, np.concatenate([grad_n.sum(axis=0), grad_w])),
        }
        rate = settings.learning_rate * (1 - 0.9 * (step - 1) / max(settings.steps - 1, 1))
        adam.step(dense, rows, rate)
        if step % 500 == 0 or step == settings.steps:
            last_loss = float(np.mean(recent))
            recent = []
            if progress is not None:
                progress(f"network: step {step:,} of {settings.steps:,}, loss {last_loss:.3f}")
    record = {
        "architecture": "feed-forward, tied int8 embeddings (keyglide.builder.network)",
        "dim": D,
        "hidden": settings.hidden,
        "context_words": C,
        "steps": settings.steps,
        "batch": B,
        "negatives": K,
        "learning_rate": settings.learning_rate,
        "seed": settings.seed,
        "training_words": int(len(targets)),
        "final_loss": None if last_loss is None else round(last_loss, 4),
    }
    return quantize(params), record


def quantize(params: dict[str, np.ndarray]) -> Network:
    """The stored network: E as int8 rows with a float32 scale each (largest |value| to 127)."""
    E = params["E"]
    scale = np.abs(E).max(axis=1) / 127
    scale = np.where(scale > 0, scale, 1).astype(F32)
    table = np.clip(np.rint(E / scale[:, None]), -127, 127).astype(np.int8)
    return Network(
        table=table,
        scale=scale,
        bias=params["bias"].astype(F32),
        w1=params["w1"],
        b1=params["b1"],
        w2=params["w2"],
        b2=params["b2"],
    )


class _Adam:
    """Adam (Kingma and Ba 2015) on dense parameters, and lazily on table rows: a row's
    moments change only on the steps that touch it."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = params
        self.first = {k: np.zeros_like(v) for k, v in params.items()}
        self.second = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(
        self,
        dense: dict[str, np.ndarray],
        rows: dict[str, tuple[np.ndarray, np.ndarray]],
        rate: float,
    ) -> None:
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        rate = rate * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for name, grad in dense.items():
            m, v = self.first[name], self.second[name]
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            self.params[name] -= (rate * m / (np.sqrt(v) + eps)).astype(F32)
        for name, (index, grad) in rows.items():
            unique, inverse = np.unique(index, return_inverse=True)
            summed = np.zeros((len(unique), *grad.shape[1:]), dtype=F32)
            np.add.at(summed, inverse, grad)
            m = b1 * self.first[name][unique] + (1 - b1) * summed
            v = b2 * self.second[name][unique] + (1 - b2) * summed * summed
            self.first[name][unique], self.second[name][unique] = m, v
            self.params[name][unique] -= (rate * m / (np.sqrt(v) + eps)).astype(F32)
