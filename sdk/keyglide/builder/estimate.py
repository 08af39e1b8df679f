"""Interpolated modified Kneser-Ney (Chen & Goodman 1998, as KenLM's ``lmplz``), stored in
backoff form.

From the raw counts of every order:

* **Adjusted counts** a(g): the raw count for the highest order and for n-grams that start
  with ``<s>``; otherwise the number of distinct words seen before g (its continuation
  count). With ``lowest_order="raw"`` the unigrams keep their raw counts. ``<s>`` is never
  predicted, so its unigram adjusted count is 0.
* **Discounts** per order, from the counts of counts t1..t4 of the adjusted counts:
  Y = t1 / (t1 + 2 t2), D1 = 1 - 2 Y t2/t1, D2 = 2 - 3 Y t3/t2, D3+ = 3 - 4 Y t4/t3.
* **Interpolation**: p(w | h) = (a(hw) - D(a(hw))) / S(h) + gamma(h) p(w | h'), with
  S(h) = sum of a(h .), gamma(h) = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / S(h), h' the
  context without its first word. Unigrams interpolate with the uniform distribution over
  the vocabulary without ``<s>``.
* **Backoff form**: each n-gram stores log10 p(w | h), each context log10 gamma(h) (0 for an
  n-gram without children), so that the scoring of FORMAT.md section 5 gives back p exactly.
* **Pruning** drops n-grams by raw count, keeps the probabilities of the others and
  recomputes each context's backoff so that its distribution still sums to 1:
  bo(h) = (1 - sum_kept p(w | h)) / (1 - sum_kept p(w | h')), computed as
  gamma(h) + (the discounted mass of the dropped children) / (1 - sum_kept p(w | h')), which
  is the same number without the cancellation in the numerator.

Everything is computed on whole orders at once with numpy, in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keyglide.builder.count import NGramCounts
from keyglide.errors import BuildError
from keyglide.format import BOS, SCORE_NEVER, SCORE_SCALE

# The log10 probability stored for <s>, which is never predicted (ARPA's -99).
LOG_PROB_NEVER = SCORE_NEVER / SCORE_SCALE


@dataclass(frozen=True)
class Discount:
    """The discounts of one order for adjusted counts 1, 2 and 3 or more."""

    d1: float
    d2: float
    d3: float
    fallback: bool = False  # taken from the recipe's discount_fallback

    def of(self, adjusted: np.ndarray) -> np.ndarray:
        """D(a) for each adjusted count (D(0) = 0)."""
        table = np.array([0.0, self.d1, self.d2, self.d3])
        return table[np.minimum(adjusted, 3)]

    def as_list(self) -> list[float]:
        return [self.d1, self.d2, self.d3]


@dataclass
class BackoffOrder:
    """One order of the model, trie-sorted like the counts it came from.

    ``log_prob``: log10 p(w | h) of each n-gram. ``log_backoff``: log10 of each n-gram's
    backoff as a context (orders below the highest).
    """

    parent: np.ndarray
    word: np.ndarray
    log_prob: np.ndarray
    log_backoff: np.ndarray | None

    def __len__(self) -> int:
        return len(self.word)


@dataclass
class BackoffModel:
    vocab: list[str]
    orders: list[BackoffOrder]
    discounts: list[Discount]

    @property
    def order(self) -> int:
        return len(self.orders)


def estimate(
    counts: NGramCounts,
    *,
    lowest_order: str = "continuation",
    discount_fallback: Sequence[float] | None = None,
    prune: Sequence[int] | None = None,
) -> BackoffModel:
    """The backoff-form model of interpolated modified Kneser-Ney over ``counts``.

    ``prune``: count thresholds per order 1..N (order 1 must be 0); n-grams whose raw count
    is at most their order's threshold are dropped. They must not decrease with the order.
    """
    adjusted = adjusted_counts(counts, lowest_order)
    discounts = [
        compute_discounts(a, n, discount_fallback) for n, a in enumerate(adjusted, 1)
    ]
    probs, gammas, shares = _interpolate(counts, adjusted, discounts)
    keep = _keep_masks(counts, prune)
    backoffs = _backoffs(counts, probs, gammas, shares, keep)
    return _backoff_model(counts, probs, backoffs, keep, discounts)


def adjusted_counts(counts: NGramCounts, lowest_order: str = "continuation") -> list[np.ndarray]:
    """The Kneser-Ney adjusted count of every n-gram of every order."""
    top = counts.order
    starts_with_bos = [counts.orders[0].word == BOS]
    for level in counts.orders[1:]:
        starts_with_bos.append(starts_with_bos[-1][level.parent])
    adjusted = [np.empty(0, np.int64)] * top
    adjusted[top - 1] = counts.orders[top - 1].count
    for n in range(top - 1, 0, -1):
        # Each n+1-gram (v g) is one distinct left extension of its suffix g.
        left = np.bincount(counts.orders[n].suffix, minlength=len(counts.orders[n - 1]))
        adjusted[n - 1] = np.where(starts_with_bos[n - 1], counts.orders[n - 1].count, left)
    if lowest_order == "raw":
        adjusted[0] = counts.orders[0].count.copy()
    adjusted[0][BOS] = 0
    return adjusted


def compute_discounts(
    adjusted: np.ndarray, n: int, fallback: Sequence[float] | None = None
) -> Discount:
    """Modified Kneser-Ney discounts of order n (Chen & Goodman, equation 26)."""
    t = np.bincount(adjusted[(adjusted >= 1) & (adjusted <= 4)], minlength=5)[1:5]
    t1, t2, t3, t4 = (int(x) for x in t)
    problem = None
    missing = [k for k, tk in ((1, t1), (2, t2), (3, t3)) if tk == 0]
    if missing:
        problem = f"no {n}-gram has adjusted count {missing[0]}"
    else:
        y = t1 / (t1 + 2 * t2)
        values = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
        for k, d in enumerate(values, 1):
            if not 0 < d <= k:
                problem = f"D{k if k < 3 else '3+'} = {d:.4f} is outside (0, {k}]"
                break
        else:
            return Discount(*values)
    if fallback is not None:
        return Discount(*(float(d) for d in fallback), fallback=True)
    raise BuildError(
        f"cannot estimate Kneser-Ney discounts for {n}-grams: {problem} (counts of adjusted "
        f"counts 1..4: {t1}, {t2}, {t3}, {t4}). The corpus is too small or not natural text; "
        f"to use fixed discounts when this happens, pass --discount-fallback to "
        f"`keyglide build --corpus ...`, or set discount_fallback in the recipe (e.g. "
        f"discount_fallback = [0.5, 1.0, 1.5]; Recipe.from_args(discount_fallback=True))"
    )


def _interpolate(
    counts: NGramCounts,
    adjusted: list[np.ndarray],
    discounts: list[Discount],
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Interpolated p of every n-gram, gamma of every context (orders 0..N-1; order 0 is the
    empty context) and each n-gram's discounted share (a - D(a)) / S(h)."""
    vocab_size = len(counts.vocab)
    a = adjusted[0].astype(np.float64)
    d = discounts[0].of(adjusted[0])
    total = a.sum()
    if total <= 0:
        raise BuildError("the inputs hold no tokens to estimate unigrams from")
    gamma = np.array([d.sum() / total])
    share = (a - d) / total
    # The uniform distribution covers every word but <s>, <unk> included.
    p = share + gamma[0] / (vocab_size - 1)
    p[BOS] = 0.0
    probs, gammas, shares = [p], [gamma], [share]
    for n in range(2, counts.order + 1):
        level = counts.orders[n - 1]
        contexts = len(counts.orders[n - 2])
        a = adjusted[n - 1].astype(np.float64)
        d = discounts[n - 1].of(adjusted[n - 1])
        total = np.bincount(level.parent, weights=a, minlength=contexts)
        discounted = np.bincount(level.parent, weights=d, minlength=contexts)
        has_mass = total > 0
        safe_total = np.where(has_mass, total, 1.0)
        # A context with no counted children gives all of its mass to the lower order.
        gamma = np.where(has_mass, discounted / safe_total, 1.0)
        share = (a - d) / safe_total[level.parent]
        p = share + gamma[level.parent] * probs[-1][level.suffix]
        probs.append(p)
        gammas.append(gamma)
        shares.append(share)
    return probs, gammas, shares


def _keep_masks(counts: NGramCounts, prune: Sequence[int] | None) -> list[np.ndarray] | None:
    """Which n-grams survive pruning, per order; None when nothing is pruned."""
    if prune is None or not any(prune):
        return None
    if prune[0] != 0:
        raise BuildError("unigrams cannot be pruned: every word is a unigram")
    if any(b < a for a, b in zip(prune, prune[1:], strict=False)):
        raise BuildError(f"pruning thresholds must not decrease with the order: {list(prune)}")
    keep = [np.ones(len(counts.orders[0]), dtype=bool)]
    for level, threshold in zip(counts.orders[1:], prune[1:], strict=True):
        keep.append(level.count > threshold)
    return keep


def _backoffs(
    counts: NGramCounts,
    probs: list[np.ndarray],
    gammas: list[np.ndarray],
    shares: list[np.ndarray],
    keep: list[np.ndarray] | None,
) -> list[np.ndarray]:
    """The backoff of every n-gram of orders 1..N-1 as a context (before dropping the pruned
    ones): gamma(h), or the renormalizing backoff when some of h's children are pruned, and
    1 for an n-gram without (kept) children."""
    backoffs = []
    for n in range(1, counts.order):
        children = counts.orders[n]
        gamma = gammas[n]
        if keep is None:
            has_children = np.bincount(children.parent, minlength=len(gamma)) > 0
            backoffs.append(np.where(has_children, gamma, 1.0))
            continue
        kept = keep[n]
        dropped = ~kept
        dropped_share = np.bincount(
            children.parent[dropped], weights=shares[n][dropped], minlength=len(gamma)
        )
        kept_lower = np.bincount(
            children.parent[kept], weights=probs[n - 1][children.suffix[kept]], minlength=len(gamma)
        )
        # Where a child was dropped, the lower-order mass left is positive (it includes the
        # dropped word); the floor only guards against rounding.
        free_lower = np.maximum(1.0 - kept_lower, np.finfo(np.float64).tiny)
        bo = gamma + np.where(dropped_share > 0, dropped_share / free_lower, 0.0)
        has_kept_children = np.bincount(children.parent[kept], minlength=len(gamma)) > 0
        backoffs.append(np.where(has_kept_children, bo, 1.0))
    return backoffs


def _backoff_model(
    counts: NGramCounts,
    probs: list[np.ndarray],
    backoffs: list[np.ndarray],
    keep: list[np.ndarray] | None,
    discounts: list[Discount],
) -> BackoffModel:
    """Drop the pruned n-grams, renumber parents, and take logarithms."""
    orders = []
    renumber = None  # new index of each n-gram of the order below, when pruning
    for n, level in enumerate(counts.orders, 1):
        parent, word, p = level.parent, level.word, probs[n - 1]
        bo = backoffs[n - 1] if n < counts.order else None
        if keep is not None:
            mask = keep[n - 1]
            parent = renumber[parent[mask]] if renumber is not None else parent[mask]
            word, p = word[mask], p[mask]
            bo = bo[mask] if bo is not None else None
            renumber = np.cumsum(mask) - 1
        if n == 1:
            p = p.copy()
            p[BOS] = 1.0  # not a probability: replaced below
        log_prob = np.log10(p)
        if n == 1:
            log_prob[BOS] = LOG_PROB_NEVER
        log_backoff = np.log10(bo) if bo is not None else None
        orders.append(BackoffOrder(parent, word, log_prob, log_backoff))
    return BackoffModel(vocab=counts.vocab, orders=orders, discounts=discounts)
