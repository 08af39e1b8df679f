"""Quantization: each order's log10 probabilities, and separately its log10 backoffs, become
codes into a codebook of fixed-point scores (FORMAT.md section 4.2).

A column with at most 2^bits distinct fixed-point scores is stored losslessly, one code per
score. Otherwise two values keep exact codes of their own: the probability of ``<s>``
(``SCORE_NEVER``, far below every real score, so code 0) and a backoff of exactly 0 (an
n-gram without children, the most common backoff). The other values are sorted and cut into
bins of equal count, one per remaining code, each bin standing for the mean of its members
(as KenLM's quantizer, after Federico & Bertoldi 2006); each value takes the code of the
nearest bin value, so a higher value never gets a lower code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keyglide.builder.estimate import LOG_PROB_NEVER, BackoffModel
from keyglide.format import SCORE_SCALE
from keyglide.model import Order, QuantizedModel

METHOD = "equal-count bins, bin mean, nearest code; lossless when the scores fit"


def to_fixed(log10_values: np.ndarray) -> np.ndarray:
    """Fixed-point scores: round(log10 value * SCORE_SCALE), half to even."""
    return np.rint(log10_values * SCORE_SCALE).astype(np.int64)


def quantize_scores(
    values: np.ndarray, bits: int, *, exact: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Codes (uint8 for up to 8 bits, else uint16) and the codebook (int32, non-decreasing,
    padded with its last value to 256 or 65536 entries) of float log10 ``values``.

    ``exact``: values that get a code of their own when binning is needed.
    """
    fixed = to_fixed(values)
    distinct = np.unique(fixed)
    if len(distinct) <= 1 << bits:
        levels = distinct
        codes = np.searchsorted(levels, fixed)
    else:
        is_exact = np.isin(values, np.asarray(exact, dtype=np.float64))
        reserved = np.unique(fixed[is_exact])
        centers = _bin_centers(values[~is_exact], (1 << bits) - len(reserved))
        levels = np.union1d(centers, reserved)
        codes = np.empty(len(values), dtype=np.int64)
        codes[is_exact] = np.searchsorted(levels, fixed[is_exact])
        codes[~is_exact] = np.searchsorted(levels, centers)[_nearest(centers, fixed[~is_exact])]
    width = 1 if bits <= 8 else 2
    codebook = np.full(1 << (8 * width), levels[-1] if len(levels) else 0, dtype=np.int32)
    codebook[: len(levels)] = levels
    return codes.astype(np.uint8 if width == 1 else np.uint16), codebook


def _bin_centers(values: np.ndarray, bins: int) -> np.ndarray:
    """Fixed-point means of ``bins`` equal-count bins of the sorted values, distinct."""
    ordered = np.sort(values)
    bounds = (len(ordered) * np.arange(bins + 1, dtype=np.int64)) // bins
    sizes = np.diff(bounds)
    starts = bounds[:-1][sizes > 0]
    means = np.add.reduceat(ordered, starts) / sizes[sizes > 0]
    return np.unique(to_fixed(means))


def _nearest(levels: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The index of the level nearest to each fixed-point value (the lower on a tie)."""
    above = np.minimum(np.searchsorted(levels, fixed), len(levels) - 1)
    below = np.maximum(above - 1, 0)
    take_below = fixed - levels[below] <= levels[above] - fixed
    return np.where(take_below, below, above)


def quantize_model(
    model: BackoffModel,
    prob_bits: Sequence[int],
    backoff_bits: Sequence[int],
    meta: dict[str, Any],
) -> QuantizedModel:
    """The langdb-shaped model: trie arrays and quantized scores of every order."""
    orders = []
    top = model.order
    for n, level in enumerate(model.orders, 1):
        prob_codes, prob_codebook = quantize_scores(
            level.log_prob, prob_bits[n - 1], exact=(LOG_PROB_NEVER,) if n == 1 else ()
        )
        order = Order(
            words=level.word.astype(np.uint32),
            prob_codes=prob_codes,
            prob_codebook=prob_codebook,
        )
        if n < top:
            order.backoff_codes, order.backoff_codebook = quantize_scores(
                level.log_backoff, backoff_bits[n - 1], exact=(0.0,)
            )
            # Children are grouped by parent: n-gram i's start where parent i begins.
            order.children = np.searchsorted(
                model.orders[n].parent, np.arange(len(level) + 1)
            ).astype(np.uint32)
        orders.append(order)
    return QuantizedModel(vocab=list(model.vocab), orders=orders, meta=meta)
