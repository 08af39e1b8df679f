"""Prediction engines: what answers ``LangDB.predict`` and scores text.

Every engine implements the same definition (FORMAT.md section 5) and must give exactly the
same suggestions and integer scores; the reference engine is that definition, written to
be read. An engine provides ``predict`` and ``score_sum``; log-probability and perplexity
follow from ``score_sum`` here, so that they are computed once, the same way, for all.
"""

from __future__ import annotations

import abc
import math
import warnings
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from keyglide.errors import EngineUnavailable
from keyglide.format import SCORE_SCALE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keyglide.decoder import Strip
    from keyglide.keyboard import Layout
    from keyglide.reader import LangDBFile

# Limits of the C interface (native/include/keyglide.h), here for the engines that run
# without the kernel; tests/test_constants.py checks them against the header.
# The most suggestions one call returns (KG_MAX_K).
MAX_K = 256
# The most ids one list of ``context_ids`` holds (KG_MAX_CONTEXT).
MAX_CONTEXT = 65536

ENGINE_NAMES = ("auto", "native", "reference")


class Suggestion(NamedTuple):
    """A suggested word and its score: round(log10(p) * 10000) of the word in its context.

    ``word`` is spelled as it is shown: the langdb's display form (format 1.2: ``I``,
    ``London``) or else the folded word; ``keyglide.text.fold(word)`` is always the word
    of the vocabulary.

    An immutable named tuple, so ``for word, score in db.predict(text)`` works; it is a
    tuple because the keyboard makes three of them per keystroke and a tuple is the
    cheapest immutable value Python has.
    """

    word: str
    score: int


class ContextIds(NamedTuple):
    """The words before the cursor as ids, for a reranker (FORMAT.md section 11).

    ``history``: the ids of the last tokens before the word being typed, from any sentence,
    oldest first (int64). ``sentence``: the last of them that belong to the current
    sentence, oldest first (fewer than asked for: the sentence starts there). ``typed``:
    the length in code points of the folded word being typed, 0 when the next word is
    predicted, ``MAX_WORD_BYTES + 1`` for a word longer than any can be. Unknown words are
    ``<unk>``.
    """

    history: np.ndarray
    sentence: list[int]
    typed: int


class Engine(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def predict(self, text: str, k: int) -> list[Suggestion]:
        """The k best words for the text before the cursor (FORMAT.md section 5)."""

    @abc.abstractmethod
    def suggest(
        self,
        text: str,
        touches: Sequence[tuple[float, float] | None] | None,
        layout: Layout,
        k: int,
        threshold: int,
    ) -> Strip:
        """The typing decoder's strip and correction (keyglide.decoder) for ``text``."""

    @abc.abstractmethod
    def score_sum(self, text: str) -> tuple[int, int]:
        """The integer sum of the scores of a text's tokens and the number of tokens."""

    @abc.abstractmethod
    def candidates(self, text: str, k: int) -> list[tuple[int, int]]:
        """``predict``'s first k answers as (word id, score), before they are spelled."""

    @abc.abstractmethod
    def display(self, word_id: int) -> str:
        """How word ``word_id`` is shown in a suggestion (FORMAT.md section 10)."""

    @abc.abstractmethod
    def context_ids(self, text: str, history: int, sentence: int) -> ContextIds:
        """The last ``history`` ids before the cursor and the last ``sentence`` of the
        current sentence (see ``ContextIds``)."""

    def logprob(self, text: str) -> float:
        """The log10 probability of ``text``, one ``</s>`` per sentence included."""
        total, _ = self.score_sum(text)
        return total / SCORE_SCALE

    def perplexity(self, text: str) -> float:
        """10 ** (-logprob / T), T the number of scored tokens (``</s>`` included)."""
        total, tokens = self.score_sum(text)
        if tokens == 0:
            raise ValueError("perplexity is undefined for a text without words: it has no tokens")
        try:
            return 10.0 ** (-(total / SCORE_SCALE) / tokens)
        except OverflowError:
            return math.inf

    def close(self) -> None:  # noqa: B027 (a no-op unless the engine holds resources)
        """Release what the engine holds besides the file (which its owner closes)."""


def sentences(engine: str, text: str) -> list[list[str]]:
    """``keyglide.text.sentences(text)``, by the kernel when ``engine`` is ``"native"`` (many
    times faster; a token too long for any vocabulary comes back as ``"<unk>"``, which no
    vocabulary holds either)."""
    if engine == "native":
        from keyglide.engines import native

        return native.sentences(text)
    from keyglide import text as contract

    return contract.sentences(text)


def create_engine(name: str, file: LangDBFile) -> Engine:
    """The engine called ``name`` (one of ``ENGINE_NAMES``) over an open file."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name in ("auto", "native"):
        try:
            from keyglide.engines import native
        except ImportError as e:  # a broken install: say why, never crash
            ok, reason = False, f"keyglide.engines.native cannot be imported ({e})"
        else:
            ok, reason = native.available()
        if ok:
            return native.NativeEngine(file)
        if name == "native":
            raise EngineUnavailable(f"the native engine is not available: {reason}")
        warnings.warn(
            f"keyglide: using the slow reference engine: {reason}", RuntimeWarning, stacklevel=3
        )
    from keyglide.engines.reference import ReferenceEngine

    return ReferenceEngine(file)
