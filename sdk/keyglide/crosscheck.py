"""Cross-check the native kernel against the reference engine on real text.

    from keyglide.crosscheck import crosscheck

    result = crosscheck("novels-3.langdb", text, limit=2000, k=5)
    print(result.report())          # what ``keyglide crosscheck`` prints
    assert result.ok

The text is read word by word, as the contract tokenizes it (``keyglide.text.spans``). For
each of its first ``limit`` words (a *position*), both engines are asked

* the next-word prediction before the word: the text up to the word, which ends in the gap
  before it (a space, punctuation, a line break), so that it asks for the next word;
* the completion of every prefix of the word as written, one character more each time
  (``W``, ``Wh``, ``Whe``, ``When`` after the same text): a prefix may end in a joiner
  (``don'``) or run past ``MAX_WORD_BYTES`` (then it completes to nothing);

and, for every sentence that starts at one of those positions, ``score_sum`` of that
sentence's text. Each question is one *call*. The answers must be identical: the same words
with the same scores in the same order; the same integer sum and token count. An engine that
raises answers with its error's type and message, so one engine failing where the other
answers is a difference too.

A query does not start at the beginning of the text but at a sentence start: the earliest
one at most ``WINDOW`` characters before the word, or the start of the word's own sentence if
that is further back. The contract's context is the current sentence, and a sentence
boundary is decided by the gap there and the word before it alone, so this asks exactly the
question the whole text up to the word asks (``tests/test_crosscheck.py`` checks it), while
the preceding sentences in the window still exercise the engines' sentence splitting, and
the cost of a call does not grow with its position in the text.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from keyglide import text as contract
from keyglide.engines import MAX_K, Engine, Suggestion, create_engine
from keyglide.engines.reference import ReferenceEngine
from keyglide.reader import LangDBFile

# A query starts at the earliest sentence start at most this many characters before its word.
WINDOW = 400
# Differences kept in a result (all are counted).
MAX_KEPT = 10
DEFAULT_LIMIT = 2000
DEFAULT_K = 5

NEXT_WORD = "next word"
COMPLETION = "completion"
SENTENCE = "score_sum"

# progress(positions done, positions in all, calls so far)
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Error:
    """An engine's answer that is an exception: compared by type and message."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"error {self.type}: {self.message}"


Answer = list[Suggestion] | tuple[int, int] | Error


@dataclass(frozen=True)
class Difference:
    """One call the engines answered differently."""

    kind: str  # NEXT_WORD, COMPLETION or SENTENCE
    position: int  # index of the word in the text (for SENTENCE: its first word)
    query: str  # the exact text both engines were given
    reference: Answer
    native: Answer


@dataclass
class CrosscheckResult:
    """What a cross-check compared and the differences it found (the first ``MAX_KEPT``
    in ``differences``, all of them in ``difference_count``)."""

    k: int
    words: int  # words in the whole text
    positions: int  # words checked
    next_word_calls: int = 0
    completion_calls: int = 0
    sentence_calls: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)
    difference_count: int = 0

    @property
    def calls(self) -> int:
        return self.next_word_calls + self.completion_calls + self.sentence_calls

    @property
    def ok(self) -> bool:
        return self.difference_count == 0

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verdict = (
            "identical answers"
            if self.ok
            else f"{self.difference_count} difference{'s' if self.difference_count != 1 else ''}"
        )
        return (
            f"{self.calls} calls checked: {verdict} "
            f"({self.positions} of {self.words} words: {self.next_word_calls} next-word, "
            f"{self.completion_calls} completion, {self.sentence_calls} sentence score_sum; "
            f"k={self.k}; {self.seconds:.1f} s, {self.calls_per_second:.0f} calls/s)"
        )

    def report(self, shown: int = MAX_KEPT) -> str:
        """The summary line and, for the first ``shown`` differences, the text before the
        cursor (its end) and both answers."""
        lines = [self.summary()]
        for i, d in enumerate(self.differences[:shown], start=1):
            lines.append("")
            lines.append(f"difference {i}: {d.kind}, word {d.position}, k={self.k}")
            lines.append(f"  text       {_tail(d.query)}")
            lines.append(f"  reference  {format_answer(d.reference)}")
            lines.append(f"  native     {format_answer(d.native)}")
        if self.difference_count > shown:
            lines.append("")
            lines.append(f"... and {self.difference_count - shown} more")
        return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    if isinstance(answer, Error):
        return str(answer)
    if isinstance(answer, tuple):
        total, tokens = answer
        return f"score_sum {total}, {tokens} tokens"
    if not answer:
        return "(no suggestions)"
    return "  ".join(f"{s.word} {s.score}" for s in answer)


def _tail(query: str, width: int = 100) -> str:
    """The end of a query, quoted so that its spaces and line breaks show."""
    if len(query) <= width:
        return repr(query)
    return "..." + repr(query[-width:])


def crosscheck(
    db: str | os.PathLike,
    text: str,
    *,
    limit: int | None = DEFAULT_LIMIT,
    k: int = DEFAULT_K,
    progress: Progress | None = None,
) -> CrosscheckResult:
    """Compare the reference and native engines on ``text`` with the langdb ``db``.

    ``limit``: the number of words checked, from the start of the text (None: all).
    Raises ``EngineUnavailable`` when the native kernel is not installed, and the reader's
    ``LangDBError`` for a file that does not open.
    """
    with LangDBFile.open(db) as file:
        reference = ReferenceEngine(file)
        native = create_engine("native", file)
        try:
            return compare_engines(reference, native, text, limit=limit, k=k, progress=progress)
        finally:
            native.close()


def compare_engines(
    reference: Engine,
    native: Engine,
    text: str,
    *,
    limit: int | None = DEFAULT_LIMIT,
    k: int = DEFAULT_K,
    progress: Progress | None = None,
) -> CrosscheckResult:
    """The cross-check of two engines over the same langdb (see the module docstring)."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0, not {limit!r}")
    spans = contract.spans(text)
    positions = len(spans) if limit is None else min(limit, len(spans))
    result = CrosscheckResult(k=k, words=len(spans), positions=positions)
    counters = {
        NEXT_WORD: "next_word_calls",
        COMPLETION: "completion_calls",
        SENTENCE: "sentence_calls",
    }
    started = time.perf_counter()
    last_position = -1
    for question in _questions(text, spans, positions, WINDOW):
        if progress is not None and question.position != last_position and last_position >= 0:
            progress(question.position, positions, result.calls)
        last_position = question.position
        query = text[question.start : question.end]
        if question.kind == SENTENCE:
            theirs, ours = _answer(reference.score_sum, query), _answer(native.score_sum, query)
        else:
            theirs = _answer(reference.predict, query, k)
            ours = _answer(native.predict, query, k)
        setattr(result, counters[question.kind], getattr(result, counters[question.kind]) + 1)
        if theirs != ours:
            result.difference_count += 1
            if len(result.differences) < MAX_KEPT:
                result.differences.append(
                    Difference(question.kind, question.position, query, theirs, ours)
                )
    if progress is not None and positions:
        progress(positions, positions, result.calls)
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Question:
    """One call of a cross-check: the engines are given ``text[start:end]``."""

    kind: str  # NEXT_WORD, COMPLETION or SENTENCE
    position: int  # index of the word in the text (for SENTENCE: the sentence's first word)
    start: int
    end: int


def questions(text: str, limit: int | None = None, window: int = WINDOW) -> Iterator[Question]:
    """The calls a cross-check of ``text`` makes, in order (see the module docstring)."""
    spans = contract.spans(text)
    positions = len(spans) if limit is None else min(limit, len(spans))
    return _questions(text, spans, positions, window)


def _questions(
    text: str, spans: list[tuple[int, int]], positions: int, window: int
) -> Iterator[Question]:
    starts = _sentence_starts(text, spans)  # indices into spans, increasing
    starts_at = [spans[i][0] for i in starts]
    sentence = 0  # index into starts of the sentence of the current word
    for position in range(positions):
        word_start, word_end = spans[position]
        while sentence + 1 < len(starts) and starts[sentence + 1] <= position:
            sentence += 1
        if starts[sentence] == position:
            end = starts_at[sentence + 1] if sentence + 1 < len(starts) else len(text)
            yield Question(SENTENCE, position, word_start, end)
        # The earliest sentence start at most `window` characters back, else this sentence's.
        begin = starts_at[bisect.bisect_left(starts_at, word_start - window, 0, sentence)]
        yield Question(NEXT_WORD, position, begin, word_start)
        for cut in range(word_start + 1, word_end + 1):
            yield Question(COMPLETION, position, begin, cut)


def _answer(ask, *args) -> Answer:
    try:
        return ask(*args)
    except Exception as e:  # an engine's failure is its answer, compared like any other
        return Error(type(e).__name__, " ".join(str(e).split()))


def _sentence_starts(text: str, spans: list[tuple[int, int]]) -> list[int]:
    """The indices of the words that start a sentence (the contract's sentence rule)."""
    starts = [0] if spans else []
    for i, (_, end) in enumerate(spans):
        gap_end = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        token = contract.fold(text[spans[i][0] : end])
        if i + 1 < len(spans) and contract.ends_sentence(
            text[end:gap_end], token, at_end=gap_end == len(text)
        ):
            starts.append(i + 1)
    return starts
