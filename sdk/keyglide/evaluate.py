"""Evaluate a langdb on held-out text: keystroke savings, accuracy, perplexity and speed.

    import keyglide

    result = keyglide.evaluate("novels-3.langdb", text, k=3, hide_offered=True)
    print(result.ksr, result.next_word_topk_accuracy, result.perplexity)
    result.to_dict()                    # what ``keyglide eval --json`` writes

The text is read with the tokenization contract (``keyglide.text``): it is a sequence of
sentences of folded tokens, and every metric is defined on those tokens. Punctuation, case
and line breaks are not typed by the simulated user; a word is its folded token, and its
length is the number of Unicode code points of that token.

**Keystroke savings (KSR).** Without prediction a word costs its characters plus one space.
With prediction, before each character the user types (including before the first) they
look at the k suggestions for the text so far; if the word is among them they spend one key
to accept it (which also inserts the space); otherwise they type the next character. A word
typed to the end still costs a space. So a word of L characters accepted after n typed
characters costs n + 1 keys, and one never accepted costs L + 1. KSR = 1 - keys with
prediction / keys without. The text so far is the previous words of the word's sentence,
written as ``" ".join(words) + " "``, followed by the characters typed; only its last N-1
words matter to an order-N model (FORMAT.md section 5), so only those are sent, which gives
the same answers. A word that is not in the vocabulary can never be suggested: it costs
L + 1 and no prediction is asked for it.

**Hide offered** (``hide_offered=True``): a word that was offered for the current word and
not taken is not offered again for that word: each list is the k best words not yet shown
(the engine is asked for k more words than the hidden ones that could still match, the
hidden ones are removed and the first k kept). Its KSR is reported beside the plain one.

**Next-word accuracy**: the share of words that are the first suggestion (top-1) or among
the k suggestions (top-k) before any character of them is typed. **Completion accuracy
after n letters**: among the words longer than n characters, the share that are among the k
suggestions once their first n characters are typed. A word's rank can only improve as it
is typed (each character only removes competitors), so both follow from the number of
characters after which the word was first suggested; the simulation stops asking for a word
once it is accepted.

**Perplexity** is computed over the whole text (also when ``limit_words`` limits the other
metrics) by the engine's ``score_sum``: every token is scored, an unknown word as ``<unk>``,
and every sentence's end as one ``</s>`` (FORMAT.md section 5); perplexity is
10^(-log10 probability / tokens), tokens counting words and ``</s>``.

**Speed**: predictions per second over the simulation loop (the engine's calls and the
loop's own work; not the tokenization of the text or the perplexity pass).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyglide import text as contract
from keyglide.engines import MAX_K, Engine
from keyglide.engines import sentences as split_sentences
from keyglide.format import FIRST_WORD_ID, SCORE_SCALE
from keyglide.textfile import decode_utf8

if TYPE_CHECKING:
    from keyglide import LangDB

DEFAULT_K = 3
# Completion accuracy is reported after this many typed letters.
COMPLETION_LETTERS = (1, 2, 3)
# Accuracy by typed-prefix length is tabulated for 0 .. PREFIX_TABLE typed characters.
PREFIX_TABLE = 10
CHARACTERS = "Unicode code points of the folded token (tokenization contract keyglide-text-1)"
PERPLEXITY_COUNTING = (
    "whole text; unknown words scored as <unk>; one </s> per sentence; tokens = words + sentences"
)

# progress(words done, words to do, predictions so far)
Progress = Callable[[int, int, int], None]


@dataclass
class Evaluation:
    """The result of ``evaluate``: counts, and the rates as properties.

    Every count is over the evaluated words (the first ``limit_words`` of the text, or all),
    except the ``perplexity_*`` fields, which are over the whole text.
    """

    db: str
    engine: str
    k: int
    hide_offered: bool
    limit_words: int | None
    sentences: int = 0
    words: int = 0
    characters: int = 0
    oov_words: int = 0
    keys_without: int = 0
    keys_with: int = 0
    keys_with_hide_offered: int | None = None
    next_word_top1: int = 0
    next_word_topk: int = 0
    # by_prefix[n] = [words in the k suggestions after n typed characters, words longer
    # than n], n = 0 .. PREFIX_TABLE.
    by_prefix: list[list[int]] = field(default_factory=list)
    # accepted_after[n]: words accepted after n typed characters; never_accepted the rest.
    accepted_after: list[int] = field(default_factory=list)
    never_accepted: int = 0
    # saved_after[n]: keys saved by the words accepted after n typed characters.
    saved_after: list[int] = field(default_factory=list)
    predictions: int = 0
    prediction_seconds: float = 0.0
    perplexity: float = math.nan
    log10prob: float = 0.0
    perplexity_tokens: int = 0
    perplexity_sentences: int = 0
    perplexity_oov: int = 0
    details: list[dict[str, Any]] | None = None

    # --- rates ---------------------------------------------------------------------------

    @property
    def ksr(self) -> float:
        return _share(self.keys_without - self.keys_with, self.keys_without)

    @property
    def ksr_hide_offered(self) -> float | None:
        if self.keys_with_hide_offered is None:
            return None
        return _share(self.keys_without - self.keys_with_hide_offered, self.keys_without)

    @property
    def oov_rate(self) -> float:
        return _share(self.oov_words, self.words)

    @property
    def next_word_top1_accuracy(self) -> float:
        return _share(self.next_word_top1, self.words)

    @property
    def next_word_topk_accuracy(self) -> float:
        return _share(self.next_word_topk, self.words)

    def completion_accuracy(self, letters: int) -> float:
        """Share of the words longer than ``letters`` characters suggested after them."""
        hits, eligible = self.by_prefix[letters]
        return _share(hits, eligible)

    @property
    def predictions_per_second(self) -> float:
        return self.predictions / self.prediction_seconds if self.prediction_seconds else 0.0

    def ksr_up_to(self, typed: int) -> float:
        """The KSR of a user who looks at the suggestions only until ``typed`` characters
        of a word are typed (the full KSR once ``typed`` reaches the longest word)."""
        return _share(sum(self.saved_after[: typed + 1]), self.keys_without)

    # --- output --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the settings, the counts and the rates (no details). A rate
        without a denominator (no words, say) is None."""
        return _finite(self._as_dict())

    def _as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "engine": self.engine,
            "k": self.k,
            "hide_offered": self.hide_offered,
            "limit_words": self.limit_words,
            "characters": CHARACTERS,
            "text": {
                "sentences": self.sentences,
                "words": self.words,
                "characters": self.characters,
                "oov_words": self.oov_words,
                "oov_rate": self.oov_rate,
            },
            "ksr": {
                "plain": self.ksr,
                "hide_offered": self.ksr_hide_offered,
                "keys_without": self.keys_without,
                "keys_with": self.keys_with,
                "keys_with_hide_offered": self.keys_with_hide_offered,
            },
            "next_word": {
                "top1": self.next_word_top1_accuracy,
                "topk": self.next_word_topk_accuracy,
                "words": self.words,
            },
            "completion": {
                str(n): {"accuracy": self.completion_accuracy(n), "words": self.by_prefix[n][1]}
                for n in COMPLETION_LETTERS
            },
            "by_prefix": [
                {
                    "typed": n,
                    "accuracy": _share(hits, eligible),
                    "words": eligible,
                    "ksr_up_to": self.ksr_up_to(n),
                }
                for n, (hits, eligible) in enumerate(self.by_prefix)
            ],
            "accepted_after": list(self.accepted_after),
            "never_accepted": self.never_accepted,
            "perplexity": {
                "value": self.perplexity,
                "log10prob": self.log10prob,
                "tokens": self.perplexity_tokens,
                "sentences": self.perplexity_sentences,
                "oov": self.perplexity_oov,
                "counting": PERPLEXITY_COUNTING,
            },
            "speed": {
                "predictions": self.predictions,
                "seconds": self.prediction_seconds,
                "predictions_per_second": self.predictions_per_second,
            },
        }

    def summary(self) -> str:
        """A few aligned lines for a terminal (what ``keyglide eval`` prints)."""
        rows = [
            ("db", f"{self.db} ({self.engine} engine)"),
            ("text", f"{self.words:,} words in {self.sentences:,} sentences, "
                     f"{self.characters:,} characters"),
            ("characters", CHARACTERS),
            ("OOV rate", f"{_pct(self.oov_rate)} ({self.oov_words:,} words)"),
            (f"KSR (k={self.k})",
             f"{_pct(self.ksr)} ({self.keys_with:,} keys instead of {self.keys_without:,})"),
        ]  # fmt: skip
        if self.keys_with_hide_offered is not None:
            rows.append(
                ("KSR hide-offered",
                 f"{_pct(self.ksr_hide_offered)} ({self.keys_with_hide_offered:,} keys)")
            )  # fmt: skip
        rows += [
            ("next word top-1", _pct(self.next_word_top1_accuracy)),
            (f"next word top-{self.k}", _pct(self.next_word_topk_accuracy)),
        ]
        for n in COMPLETION_LETTERS:
            rows.append(
                (f"after {n} letter{'s' if n > 1 else ''}",
                 f"{_pct(self.completion_accuracy(n))} "
                 f"(top-{self.k}, {self.by_prefix[n][1]:,} words longer than {n})")
            )  # fmt: skip
        rows += [
            ("perplexity", f"{self.perplexity:.3f} ({self.perplexity_tokens:,} tokens, "
                           f"{self.perplexity_oov:,} OOV)"),
            ("", PERPLEXITY_COUNTING),
            ("speed", f"{self.predictions_per_second:,.0f} predictions/s "
                      f"({self.predictions:,} predictions in {self.prediction_seconds:.2f} s)"),
        ]  # fmt: skip
        width = max(len(label) for label, _ in rows) + 2
        return "\n".join(f"{label:<{width}}{value}" for label, value in rows)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


# --- the simulation -------------------------------------------------------------------------


def evaluate(
    db_or_path: LangDB | str | os.PathLike,
    text: str,
    *,
    k: int = DEFAULT_K,
    hide_offered: bool = False,
    limit_words: int | None = None,
    details: bool = False,
    engine: str = "auto",
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate a langdb (an open ``LangDB`` or a path) on ``text`` (see the module docstring).

    ``k``: suggestions shown (1 to ``MAX_K``). ``limit_words``: evaluate typing on the first
    words of the text only (perplexity still covers all of it). ``details``: keep one record
    per sentence in ``Evaluation.details``. ``engine`` applies when a path is given (``auto``
    uses the native kernel, else the reference engine with a warning).
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
    if limit_words is not None and (
        isinstance(limit_words, bool) or not isinstance(limit_words, int) or limit_words < 1
    ):
        raise ValueError(f"limit_words must be a positive integer or None, not {limit_words!r}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    from keyglide import LangDB

    if isinstance(db_or_path, LangDB):
        return _evaluate(db_or_path, text, k, hide_offered, limit_words, details, progress)
    with LangDB(db_or_path, engine=engine) as db:
        return _evaluate(db, text, k, hide_offered, limit_words, details, progress)


def _evaluate(
    db: LangDB,
    text: str,
    k: int,
    hide_offered: bool,
    limit_words: int | None,
    details: bool,
    progress: Progress | None,
) -> Evaluation:
    file, engine = db._live()
    vocab = [w.decode("utf-8", "replace") for w in file.all_word_bytes()]
    ids = {w: i for i, w in enumerate(vocab) if i >= FIRST_WORD_ID}
    result = Evaluation(
        db=db.path,
        engine=engine.name,
        k=k,
        hide_offered=hide_offered,
        limit_words=limit_words,
        keys_with_hide_offered=0 if hide_offered else None,
        details=[] if details else None,
    )
    _perplexity(result, engine, text, ids)
    total = result.perplexity_tokens - result.perplexity_sentences
    if limit_words is not None:
        total = min(total, limit_words)
    simulation = _Simulation(_asker(engine, ids), file.order, k, hide_offered, vocab, ids)
    reranker = getattr(engine, "reranker", None)
    if reranker is not None:  # it reads the words before the sentence too (format 1.3)
        simulation.history_words = reranker.info.history_words
    simulation.run(result, iter_sentences(text), total, progress)
    return result


def _perplexity(result: Evaluation, engine: Engine, text: str, ids: dict[str, int]) -> None:
    total, tokens = engine.score_sum(text)
    sentences = split_sentences(engine.name, text)
    result.log10prob = total / SCORE_SCALE
    result.perplexity_tokens = tokens
    result.perplexity_sentences = len(sentences)
    result.perplexity_oov = sum(1 for s in sentences for w in s if w not in ids)
    if tokens:
        try:
            result.perplexity = 10.0 ** (-result.log10prob / tokens)
        except OverflowError:
            result.perplexity = math.inf


# A run of two line breaks with only spaces between them always ends a sentence and never
# lies inside a token, so text cut just after one reads as the same sentences.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
_CHUNK = 1 << 16


def iter_sentences(text: str) -> Iterator[list[str]]:
    """``contract.sentences(text)``, a block of paragraphs at a time, so that evaluating the
    first words of a long text does not tokenize all of it."""
    start = 0
    while start < len(text):
        match = _PARAGRAPH_BREAK.search(text, start + _CHUNK)
        end = match.end() if match else len(text)
        yield from contract.sentences(text[start:end])
        start = end


def _asker(engine: Engine, ids: dict[str, int]) -> Callable[[bytes, int], list[int]]:
    """ask(UTF-8 text before the cursor, k) -> the suggested word ids, best first."""
    fast = getattr(engine, "predict_ids", None)
    if fast is not None:
        return fast

    def ask(data: bytes, k: int) -> list[int]:
        # Suggestions are shown as display forms (format 1.2); the simulation compares words.
        return [ids[contract.fold(s.word)] for s in engine.predict(data.decode("utf-8"), k)]

    return ask


class _Simulation:
    def __init__(self, ask, order: int, k: int, hide_offered: bool, vocab, ids) -> None:
        self.ask = ask
        self.context_words = order - 1
        self.k = k
        self.hide_offered = hide_offered
        self.vocab = vocab
        self.ids = ids
        # The words of earlier sentences sent with each prediction: none for an n-gram
        # model, which reads only the last N-1 words of the sentence.
        self.history_words = 0

    def run(
        self,
        result: Evaluation,
        sentences: Iterator[list[str]],
        total: int,
        progress: Progress | None,
    ) -> None:
        """Type ``sentences`` (their first ``result.limit_words`` words), adding the counts
        to ``result``; ``progress`` is told at the start, every thousand words or so, and at
        the end."""
        result.by_prefix = [[0, 0] for _ in range(PREFIX_TABLE + 1)]
        result.accepted_after = []
        result.saved_after = []
        history = _History(self.history_words)
        next_report = 1000
        if progress is not None:
            progress(0, total, 0)
        for index, sentence in enumerate(_first_words(sentences, result.limit_words)):
            self._type_sentence(result, index, sentence, history)
            if progress is not None and result.words >= next_report:
                progress(result.words, total, result.predictions)
                next_report = result.words + 1000
        if progress is not None:
            progress(result.words, total, result.predictions)

    def _type_sentence(
        self, result: Evaluation, index: int, words: list[str], history: _History
    ) -> None:
        """Type sentence ``index`` word by word, adding its counts (and its details) to
        ``result``."""
        sentence = _Sentence(words, history, self.context_words)
        record = [] if result.details is not None else None
        keys_without = keys_with = 0
        started = time.perf_counter()
        for position, word in enumerate(words):
            length = len(word)
            word_id = self.ids.get(word)
            if word_id is None:  # never suggested: typed in full, no prediction asked
                accepted = hidden_accepted = rank = None
            else:
                accepted, hidden_accepted, rank, calls = self._type(
                    sentence.context(position), word, sentence.encoded[position], word_id, length
                )
                result.predictions += calls
            keys_without += length + 1
            keys_with += self._count_word(result, length, accepted, hidden_accepted, rank)
            if word_id is None:
                result.oov_words += 1
            if record is not None:
                record.append((word, accepted, hidden_accepted, word_id is None))
        result.prediction_seconds += time.perf_counter() - started
        result.words += len(words)
        result.sentences += 1
        result.keys_without += keys_without
        result.keys_with += keys_with
        if record is not None:
            result.details.append(
                _detail(index, record, keys_without, keys_with, self.hide_offered)
            )

    def _count_word(
        self,
        result: Evaluation,
        length: int,
        accepted: int | None,
        hidden_accepted: int | None,
        rank: int | None,
    ) -> int:
        """Add a typed word of ``length`` characters to the counts of ``result`` (all but the
        per-sentence ones); return the keys it cost."""
        if self.hide_offered:
            result.keys_with_hide_offered += (
                length if hidden_accepted is None else hidden_accepted
            ) + 1
        if rank == 0:
            result.next_word_top1 += 1
        if accepted is None:
            result.never_accepted += 1
        else:
            if accepted == 0:
                result.next_word_topk += 1
            while len(result.accepted_after) <= accepted:
                result.accepted_after.append(0)
                result.saved_after.append(0)
            result.accepted_after[accepted] += 1
            result.saved_after[accepted] += length - accepted
        for n in range(min(length, PREFIX_TABLE + 1)):
            result.by_prefix[n][1] += 1
            if accepted is not None and accepted <= n:
                result.by_prefix[n][0] += 1
        result.characters += length
        return (length if accepted is None else accepted) + 1

    def _type(
        self, context: bytes, word: str, encoded: bytes, word_id: int, length: int
    ) -> tuple[int | None, int | None, int | None, int]:
        """Type ``word`` after ``context``: (characters typed when it was accepted, the same
        with offered words hidden, its rank before any character, predictions asked)."""
        k, ask = self.k, self.ask
        hide = self.hide_offered
        hidden: set[int] = set()
        hidden_accepted = rank = None
        ascii_word = len(encoded) == length
        for typed in range(length):
            prefix = encoded[:typed] if ascii_word else word[:typed].encode("utf-8")
            want = k
            if hide and hidden_accepted is None and hidden:
                # Hidden words that still match what is typed may come back: ask past them.
                start = word[:typed]
                want = min(MAX_K, k + sum(1 for h in hidden if self.vocab[h].startswith(start)))
            suggested = ask(context + prefix, want)
            if typed == 0 and word_id in suggested:
                rank = suggested.index(word_id)
            if hide and hidden_accepted is None:
                shown = [i for i in suggested if i not in hidden][:k]
                if word_id in shown:
                    hidden_accepted = typed
                else:
                    hidden.update(shown)
            if word_id in suggested[:k]:
                # Shown in the plain list, the word is also in the hide-offered one (hiding
                # only removes words ranked above it), so hidden_accepted is set by now.
                return typed, hidden_accepted, rank, typed + 1
        return None, hidden_accepted, rank, length


def _first_words(sentences: Iterator[list[str]], limit: int | None) -> Iterator[list[str]]:
    """The sentences up to ``limit`` words in all (the last one cut), or all of them."""
    if limit is None:
        yield from sentences
        return
    words = 0
    for sentence in sentences:
        if words >= limit:
            return
        if words + len(sentence) > limit:
            sentence = sentence[: limit - words]
        yield sentence
        words += len(sentence)


class _History:
    """The last ``words`` words of the earlier sentences, which an engine that reads them
    (``history_words``) is sent before a sentence's own words; none for an n-gram model."""

    def __init__(self, words: int) -> None:
        self.words = words
        self._earlier: list[bytes] = []

    def before(self, encoded: list[bytes]) -> bytes:
        """The text sent before the sentence of UTF-8 words ``encoded``, which then joins
        the history: the earlier words and a blank line, which ends them."""
        if not self.words:
            return b""
        before = b" ".join(self._earlier) + b"\n\n" if self._earlier else b""
        self._earlier = (self._earlier + encoded)[-self.words :]
        return before


class _Sentence:
    """A sentence being typed: its words, UTF-8 encoded, and the text before each word."""

    __slots__ = ("words", "encoded", "_before", "_keep")

    def __init__(self, words: list[str], history: _History, context_words: int) -> None:
        self.words = words
        self.encoded = [w.encode("utf-8", "surrogatepass") for w in words]
        self._before = history.before(self.encoded)
        # With a history, every earlier word of the sentence is sent; otherwise the last
        # N-1, all that an order-N model reads.
        self._keep = len(words) if history.words else context_words

    def context(self, position: int) -> bytes:
        """The UTF-8 text before the cursor when word ``position`` is about to be typed."""
        start = max(0, position - self._keep)
        return self._before + b" ".join(self.encoded[start:position]) + b" "


def _detail(
    index: int,
    record: list[tuple[str, int | None, int | None, bool]],
    without: int,
    with_: int,
    hide: bool,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "sentence": index,
        "words": [w for w, *_ in record],
        "accepted_after": [a for _, a, _, _ in record],
        "keys_without": without,
        "keys_with": with_,
        "keys_saved": without - with_,
        "oov": [i for i, (*_, oov) in enumerate(record) if oov],
    }
    if hide:
        detail["hide_offered_accepted_after"] = [h for _, _, h, _ in record]
    return detail


def read_text(path: str | os.PathLike) -> str:
    """A text file, which must be UTF-8 (``InvalidText`` names the file and the offset of
    the first byte that is not)."""
    with open(path, "rb") as f:
        return decode_utf8(f.read(), os.fsdecode(path))


def read_texts(paths: Sequence[str | os.PathLike]) -> str:
    """Several text files as one text: a blank line between them, so that each file's last
    sentence ends with it (the same sentences as reading each file on its own)."""
    return "\n\n".join(read_text(p) for p in paths)
