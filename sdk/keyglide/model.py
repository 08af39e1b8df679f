"""The in-memory form of a quantized n-gram model: what the builder hands to the writer.

It mirrors the sections of FORMAT.md one to one, as numpy arrays, so that the writer only
lays bytes out and the estimator never thinks about bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Order:
    """The n-grams of one order n, numbered 0 .. count - 1 (see FORMAT.md 4.2).

    words: last word id of each n-gram (for order 1: ``arange(V)``).
    prob_codes, prob_codebook: probability code of each n-gram and the score of each code
        (``len(codebook) == 2 ** (8 * prob_codes.itemsize)``, non-decreasing, int32).
    backoff_codes, backoff_codebook: likewise, for every order but the highest.
    children: ``count + 1`` indices into the next order (for every order but the highest).
    """

    words: np.ndarray
    prob_codes: np.ndarray
    prob_codebook: np.ndarray
    backoff_codes: np.ndarray | None = None
    backoff_codebook: np.ndarray | None = None
    children: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.words)


@dataclass
class QuantizedModel:
    """Vocabulary (ids 0..V-1, specials first, then words in UTF-8 byte order), the orders
    1..N and the metadata that goes into the META section."""

    vocab: list[str]
    orders: list[Order]
    meta: dict[str, Any] = field(default_factory=dict)
    # Format 1.1: word ids (>= 3) never suggested, and whether a reader must understand them
    # (``required_features``) or may ignore them (``optional_features``). None: no blocklist.
    blocklist: Any = None
    blocklist_required: bool = False
    # Format 1.2: how words are shown, word id -> display form (FORMAT.md section 10), written
    # as an optional feature. None: no display forms (an empty dict writes empty sections).
    display_forms: dict[int, str] | None = None
    # Format 1.3: the reranker, as the NEURAL_INFO JSON object and the ONNX model's bytes
    # (FORMAT.md section 11), written as an optional feature. None: no reranker.
    neural: tuple[dict[str, Any], bytes] | None = None

    @property
    def order(self) -> int:
        return len(self.orders)
