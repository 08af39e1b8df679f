"""The reference engine: FORMAT.md section 5, written to be read.

This is the definition other engines (the C kernel) are checked against, so it follows the
specification's shape rather than chasing speed. A prediction takes three steps.

1. Context. ``text.cursor`` splits the text before the cursor into the tokens of the current
   sentence and the word being typed (the prefix), if any. The context is ``<s>`` followed
   by the tokens' ids (``<unk>`` for a word not in the vocabulary), of which the last N-1
   are kept.

2. The score of every word at once. The backoff recursion

       score(w | h) = P(h, w)                       if (h, w) is in the trie
                    = backoff(h) + score(w | h[1:])  otherwise,     score(w | ()) = P(w)

   is unrolled from the shortest context to the longest. Start from the unigram scores:
   the value for the empty context. Then for each suffix s of the context, of length 1 up
   to N-1: add backoff(s) to every word's score, and overwrite the words that follow s in
   the trie (the children of s) with their stored probability scores. After processing s,
   entry w holds score(w | s) exactly as the recursion defines it; a suffix that is not in
   the trie has backoff 0 and no children, and changes nothing. The trie does not need
   every suffix of an n-gram to be present: each suffix is looked up on its own.

   Scores are integers and every sum is an int64 (or Python int) sum, so the result is
   exact: any correct engine gets the same numbers, bit for bit.

3. Ranking. The candidates are the ids >= 3 (``<unk>``, ``<s>``, ``</s>`` are never
   suggested), restricted, when a word is being typed, to the id range of the words that
   start with its bytes (the vocabulary is sorted by UTF-8 bytes). They are ordered by
   score descending, then id ascending (which is the words' byte order), and the first k
   are returned. Words of the file's blocklist (format 1.1) are removed from the candidates
   before the first k are taken; their scores, and the scores of the others, are unchanged.
   Each suggestion is spelled as the file's display form of the word (format 1.2), or as
   the folded word when it has none.

Scoring a text (``score_sum``) applies the same recursion to one word at a time.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from keyglide import decoder
from keyglide import text as contract
from keyglide.decoder import Strip
from keyglide.engines import MAX_CONTEXT, ContextIds, Engine, Suggestion
from keyglide.errors import CorruptLangDB
from keyglide.format import BOS, EOS, FIRST_WORD_ID, Kind
from keyglide.keyboard import Layout, check_touches
from keyglide.reader import LangDBFile


class ReferenceEngine(Engine):
    name = "reference"

    def __init__(self, file: LangDBFile) -> None:
        self._file = file
        self._order = file.order
        self._unigram_scores = file.scores(Kind.PROB, 1)
        self._prob_codebooks = {
            n: _whole(file, Kind.PROB_CODEBOOK, n) for n in range(1, file.order + 1)
        }
        self._backoff_codebooks = {
            n: _whole(file, Kind.BACKOFF_CODEBOOK, n) for n in range(1, file.order)
        }
        self._blocked = file.blocklist.astype(np.int64)

    # --- prediction ------------------------------------------------------------------------

    def predict(self, text: str, k: int) -> list[Suggestion]:
        return [Suggestion(self.display(i), score) for i, score in self.candidates(text, k)]

    def candidates(self, text: str, k: int) -> list[tuple[int, int]]:
        cursor = contract.cursor(text)
        context = self._context([BOS, *map(self._file.lookup, cursor.context)])
        lo, hi = self._candidates(cursor.prefix)
        scores = self._scores_of_every_word(context)[lo:hi]
        ids = np.arange(lo, hi)
        allowed = ~np.isin(ids, self._blocked)
        ids, scores = ids[allowed], scores[allowed]
        return [(int(ids[i]), int(scores[i])) for i in _best(scores, k)]

    def suggest(
        self,
        text: str,
        touches: Sequence[tuple[float, float] | None] | None,
        layout: Layout,
        k: int,
        threshold: int,
    ) -> Strip:
        cursor = contract.cursor(text)
        if cursor.prefix is None:
            return Strip(None, self.predict(text, k), None, None, False)
        points = check_touches(touches, len(cursor.prefix))
        if len(cursor.prefix.encode("utf-8")) > contract.MAX_WORD_BYTES:
            return Strip(contract.fold(cursor.prefix), [], None, None, False)
        typed = decoder.keystrokes(cursor.prefix, points, layout)
        context = self._context([BOS, *map(self._file.lookup, cursor.context)])
        lm = self._scores_of_every_word(context)
        walk = decoder.Decoder(self._file.word_bytes, self._file.vocab_size, layout)
        strip, correction, confidence, autocorrect = decoder.decode(
            walk, typed, lm, self._blocked, self._file.lookup(typed.chars), k, threshold
        )
        return Strip(
            typed.chars,
            [Suggestion(self.display(i), score) for i, score in strip],
            None if correction is None else Suggestion(self.display(correction[0]), correction[1]),
            confidence,
            autocorrect,
        )

    def context_ids(self, text: str, history: int, sentence: int) -> ContextIds:
        if not (0 <= history <= MAX_CONTEXT and 0 <= sentence <= MAX_CONTEXT):
            raise ValueError(f"history and sentence must be 0 to {MAX_CONTEXT}")
        cursor = contract.cursor(text)
        tokens = [word for words in contract.sentences(text) for word in words]
        if cursor.prefix is not None:
            tokens.pop()  # the word being typed
        lookup = self._file.lookup
        recent = [lookup(word) for word in tokens[max(0, len(tokens) - history) :]]
        context = cursor.context[max(0, len(cursor.context) - sentence) :]
        in_sentence = [lookup(word) for word in context]
        if cursor.prefix is None:
            typed = 0
        elif len(cursor.prefix.encode("utf-8")) > contract.MAX_WORD_BYTES:
            typed = contract.MAX_WORD_BYTES + 1
        else:
            typed = len(cursor.prefix)
        return ContextIds(np.array(recent, dtype=np.int64), in_sentence, typed)

    def display(self, word_id: int) -> str:
        return self._file.display(word_id)

    def _context(self, ids: list[int]) -> list[int]:
        """The last N-1 ids: all a model of order N looks at."""
        return ids[-(self._order - 1) :]

    def _candidates(self, prefix: str | None) -> tuple[int, int]:
        """The id range [lo, hi) of the words that may be suggested."""
        if prefix is None:
            return FIRST_WORD_ID, self._file.vocab_size
        return self._file.prefix_range(prefix.encode("utf-8"))

    def _scores_of_every_word(self, context: list[int]) -> np.ndarray:
        """score(w | context) for every word id w, as int64 (step 2 of the module docstring)."""
        scores = self._unigram_scores.copy()
        for start in reversed(range(len(context))):
            suffix = context[start:]
            node = self._find(suffix)
            if node is None:
                continue
            n = len(suffix)
            scores += self._backoff(n, node)
            first, last = self._children(n, node)
            scores[self._child_words(n + 1, first, last)] = self._probs(n + 1, first, last)
        return scores

    # --- scoring text -----------------------------------------------------------------------

    def score_sum(self, text: str) -> tuple[int, int]:
        """Sum of score(w_i | <s> w_1 .. w_{i-1}) over every token and one </s> per sentence."""
        total = tokens = 0
        for sentence in contract.sentences(text):
            ids = [BOS, *map(self._file.lookup, sentence), EOS]
            for i in range(1, len(ids)):
                total += self._score(ids[i], self._context(ids[:i]))
                tokens += 1
        return total, tokens

    def _score(self, word: int, context: list[int]) -> int:
        """score(word | context) by the recursion, longest context first."""
        backoff = 0
        for start in range(len(context)):
            suffix = context[start:]
            node = self._find(suffix)
            if node is None:
                continue  # backoff(suffix) is 0 and (suffix, word) is not in the trie
            n = len(suffix)
            child = self._child(n, node, word)
            if child is not None:
                return backoff + self._prob(n + 1, child)
            backoff += self._backoff(n, node)
        return backoff + self._prob(1, word)

    # --- the trie ---------------------------------------------------------------------------

    def _find(self, ngram: list[int]) -> int | None:
        """The index of ``ngram`` at order len(ngram), or None if it is not in the trie."""
        node = ngram[0]  # unigram i is word i
        for n, word in enumerate(ngram[1:], start=1):
            node = self._child(n, node, word)
            if node is None:
                return None
        return node

    def _child(self, n: int, node: int, word: int) -> int | None:
        """The index at order n+1 of the child of ``node`` (order n) ending in ``word``."""
        first, last = self._children(n, node)
        words = self._file.column(Kind.WORDS, n + 1)
        i = bisect.bisect_left(words, word, first, last)  # children are sorted by word id
        return i if i < last and words[i] == word else None

    def _children(self, n: int, node: int) -> tuple[int, int]:
        children = self._file.column(Kind.CHILDREN, n)
        return children[node], children[node + 1]

    def _child_words(self, n: int, first: int, last: int) -> np.ndarray:
        words = self._file.column(Kind.WORDS, n).slice(first, last)
        if len(words) and words.max() >= self._file.vocab_size:
            raise CorruptLangDB(f"{self._file.name}: WORDS_{n} holds an id outside the vocabulary")
        return words

    def _prob(self, n: int, i: int) -> int:
        return int(self._prob_codebooks[n][self._file.column(Kind.PROB, n)[i]])

    def _probs(self, n: int, first: int, last: int) -> np.ndarray:
        return self._prob_codebooks[n][self._file.column(Kind.PROB, n).slice(first, last)]

    def _backoff(self, n: int, i: int) -> int:
        return int(self._backoff_codebooks[n][self._file.column(Kind.BACKOFF, n)[i]])


def _best(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores: score descending, then position (id) ascending."""
    count = len(scores)
    if 0 < k < count:
        # Only scores at least the k-th highest can rank among the first k: sort just those.
        kth = np.partition(scores, count - k)[count - k]
        positions = np.flatnonzero(scores >= kth)
    else:
        positions = np.arange(count)
    return positions[np.lexsort((positions, -scores[positions]))][:k]


def _whole(file: LangDBFile, kind: Kind, order: int) -> np.ndarray:
    column = file.column(kind, order)
    return column.slice(0, len(column))
