"""Typing with mistakes, simulated on held-out text, and what the decoder makes of it.

    from keyglide.noisy import NoiseModel, evaluate_noisy

    result = evaluate_noisy(db, text, model=NoiseModel(seed=1), limit_words=5000)
    print(result.f_score, result.completion_topk, result.wer_after)

This is what ``keyglide eval --noise`` runs. The text is read with the tokenization
contract, as ``keyglide.evaluate`` reads it; every word is typed by a simulated user.

**The noise model** (``NoiseModel``). The user means the folded word w. Each character is
touched at its key's centre plus Gaussian noise of ``touch_sigma`` key widths in x and key
heights in y; the character typed is the key whose centre is nearest in key sizes (a
character off the layout, a digit say, is typed as itself, without a touch). Before that,
the word's characters are mistyped as people do: each character is dropped with
probability ``drop``, doubled with ``double``, or swapped with the next with ``swap`` (at
most one of these per character, the first two letters included). The draws come from
``random.Random(seed)``: a run is reproducible.

**What is measured** (the context of every word is the true words before it in its
sentence: earlier mistakes are assumed fixed).

* Auto-correction: the user types the whole noisy word, then a space. The word left is
  ``strip.correction`` when ``strip.autocorrect``, else what was typed. A *typo* is a word
  typed differently from w. Precision = typos corrected to w / words changed; recall =
  typos corrected to w / typos; F = their harmonic mean. ``clean_changed`` is the share of
  correctly typed words that were changed (a false alarm); ``wer_before`` and ``wer_after``
  are the shares of words wrong before and after the space.
* Completion under noise: for each word of two or more characters, the noisy keystrokes of
  its first n characters (n uniform in 1 .. len - 1) are typed; a hit when w is among the
  strip's k words.
* Next word: w is among the k words predicted before any of it is typed.
* KSR under noise: before each keystroke the user looks at the strip (the next-word list
  before the first); a hit costs one key (accept, with its space). Otherwise the word costs
  its keystrokes and a space; if the word left is wrong, fixing it costs deleting it and
  typing w and a space again. KSR = 1 - keys / (characters + spaces of the text).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from keyglide import text as contract
from keyglide.decoder import DEFAULT_THRESHOLD
from keyglide.evaluate import iter_sentences
from keyglide.keyboard import Layout, resolve

if TYPE_CHECKING:
    from keyglide import LangDB

__all__ = ["NoiseModel", "NoisyEvaluation", "Typist", "evaluate_noisy"]

# progress(words done, words to do, calls so far): as keyglide.evaluate's
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class NoiseModel:
    """How the simulated user mistypes (see the module docstring)."""

    touch_sigma: float = 0.2
    drop: float = 0.01
    double: float = 0.01
    swap: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.touch_sigma) and 0 <= self.touch_sigma <= 10):
            raise ValueError("touch_sigma must be a finite number from 0 to 10 (key sizes)")
        for name in ("drop", "double", "swap"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability from 0 to 1, not {value!r}")
        if self.drop + self.double + self.swap > 1:
            raise ValueError("drop + double + swap must not exceed 1")


class Typist:
    """A simulated user typing words on a layout with a noise model."""

    def __init__(self, layout: Layout, model: NoiseModel) -> None:
        self.layout, self.model = layout, model
        self.rng = random.Random(model.seed)

    def mistype(self, word: str) -> str:
        """The characters the user meant to press: w with dropped, doubled, swapped letters."""
        model, rng = self.model, self.rng
        chars = list(word)
        out: list[str] = []
        i = 0
        while i < len(chars):
            draw = rng.random()
            if draw < model.drop:
                i += 1
            elif draw < model.drop + model.double:
                out += [chars[i], chars[i]]
                i += 1
            elif draw < model.drop + model.double + model.swap and i + 1 < len(chars):
                out += [chars[i + 1], chars[i]]
                i += 2
            else:
                out.append(chars[i])
                i += 1
        return "".join(out)

    def touch(self, chars: str) -> tuple[str, list[tuple[float, float] | None]]:
        """Touch each character's key with noise: (the characters typed, the touch points)."""
        typed: list[str] = []
        points: list[tuple[float, float] | None] = []
        sigma = self.model.touch_sigma
        for char in chars:
            index = self.layout.key_of(char)
            if index is None:
                typed.append(char)
                points.append(None)
                continue
            key = self.layout.keys[index]
            x = key.x + self.rng.gauss(0.0, sigma) * key.width
            y = key.y + self.rng.gauss(0.0, sigma) * key.height
            typed.append(self._nearest(x, y, char, index))
            points.append((x, y))
        return "".join(typed), points

    def _nearest(self, x: float, y: float, char: str, meant: int) -> str:
        best, best_distance = meant, math.inf
        for index, key in enumerate(self.layout.keys):
            distance = ((x - key.x) / key.width) ** 2 + ((y - key.y) / key.height) ** 2
            if distance < best_distance:
                best, best_distance = index, distance
        # An accented letter stays itself when its own key is the one touched.
        return char if best == meant else self.layout.keys[best].char


@dataclass
class NoisyEvaluation:
    """Counts of a noisy typing run; the figures are properties (module docstring)."""

    k: int
    threshold: int
    layout: str
    model: NoiseModel
    words: int = 0
    calls: int = 0
    typos: int = 0
    changed: int = 0
    corrected: int = 0  # typos changed to the intended word
    clean_changed: int = 0
    wrong_after: int = 0
    completion_asked: int = 0
    completion_hits: int = 0
    next_word_hits: int = 0
    keys: int = 0
    keys_without: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return _share(self.corrected, self.changed)

    @property
    def recall(self) -> float:
        return _share(self.corrected, self.typos)

    @property
    def f_score(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def clean_changed_rate(self) -> float:
        return _share(self.clean_changed, self.words - self.typos)

    @property
    def wer_before(self) -> float:
        return _share(self.typos, self.words)

    @property
    def wer_after(self) -> float:
        return _share(self.wrong_after, self.words)

    @property
    def completion_topk(self) -> float:
        return _share(self.completion_hits, self.completion_asked)

    @property
    def next_word_topk(self) -> float:
        return _share(self.next_word_hits, self.words)

    @property
    def ksr(self) -> float:
        return 1 - self.keys / self.keys_without if self.keys_without else 0.0

    def to_dict(self) -> dict[str, Any]:
        counts = {
            name: getattr(self, name)
            for name in (
                "words", "typos", "changed", "corrected", "clean_changed", "wrong_after",
                "completion_asked", "completion_hits", "next_word_hits", "keys", "keys_without",
            )
        }  # fmt: skip
        figures = {
            name: getattr(self, name)
            for name in (
                "precision", "recall", "f_score", "clean_changed_rate", "wer_before",
                "wer_after", "completion_topk", "next_word_topk", "ksr",
            )
        }  # fmt: skip
        return {
            "k": self.k,
            "threshold": self.threshold,
            "layout": self.layout,
            "noise": asdict(self.model),
            "counts": counts,
            **figures,
            "examples": self.examples,
        }

    def summary(self) -> str:
        rows = [
            ("words", f"{self.words} ({self.typos} mistyped: {_pct(self.wer_before)})"),
            ("auto-correction precision", _pct(self.precision)),
            ("auto-correction recall", _pct(self.recall)),
            ("auto-correction F-score", f"{self.f_score:.3f}"),
            ("correct words changed", _pct(self.clean_changed_rate)),
            ("word errors after the space", _pct(self.wer_after)),
            (f"completion top-{self.k} under noise", _pct(self.completion_topk)),
            (f"next-word top-{self.k}", _pct(self.next_word_topk)),
            ("KSR under noise", _pct(self.ksr)),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def evaluate_noisy(
    db: LangDB,
    text: str,
    *,
    model: NoiseModel | None = None,
    layout: Layout | str | None = None,
    k: int = 3,
    threshold: int = DEFAULT_THRESHOLD,
    limit_words: int | None = None,
    touches: bool = True,
    keep_examples: int = 20,
    progress: Progress | None = None,
) -> NoisyEvaluation:
    """Type ``text`` with mistakes on ``db`` and count what the decoder does (module doc).

    ``touches=False`` gives the decoder only the characters typed, as a keyboard without
    touch coordinates would."""
    model = model or NoiseModel()
    board = resolve(layout)
    typist = Typist(board, model)
    result = NoisyEvaluation(k=k, threshold=threshold, layout=board.name, model=model)
    todo = limit_words if limit_words is not None else sum(len(s) for s in iter_sentences(text))
    for context, word in _words(text, db.info["metadata"].get("order", 3), limit_words):
        _type_word(db, result, typist, context, word, touches, keep_examples)
        if progress is not None and result.words % 200 == 0:
            progress(result.words, todo, result.calls)
    if progress is not None:
        progress(result.words, todo, result.calls)
    return result


def _type_word(
    db: LangDB,
    result: NoisyEvaluation,
    typist: Typist,
    context: str,
    word: str,
    touches: bool,
    keep_examples: int,
) -> None:
    k, threshold, board = result.k, result.threshold, typist.layout
    typed, points = typist.touch(typist.mistype(word))
    if not typed:  # every letter dropped: the user typed nothing, and sees it
        typed, points = typist.touch(word)
    given = points if touches else None

    def strip_after(n: int):
        result.calls += 1
        return _suggest(db, context, typed[:n], given[:n] if given else None, board, k, threshold)

    result.words += 1
    result.keys_without += len(word) + 1
    next_words = [s.word for s in db.predict(context, k)]
    result.calls += 2
    hit_next = _shown(word, next_words)
    result.next_word_hits += hit_next

    # Completion: the noisy keystrokes of the first n intended characters.
    if len(word) >= 2:
        n = typist.rng.randint(1, len(word) - 1)
        part, part_points = typist.touch(typist.mistype(word[:n]) or word[:1])
        strip = _suggest(db, context, part, part_points if touches else None, board, k, threshold)
        result.completion_asked += 1
        result.completion_hits += _shown(word, [s.word for s in strip.suggestions])

    # Typing the whole word, looking at the strip before each keystroke.
    keys = None
    if hit_next:
        keys = 1
    else:
        for n in range(1, len(typed)):
            if _shown(word, [s.word for s in strip_after(n).suggestions]):
                keys = n + 1
                break
    final = strip_after(len(typed))
    left = final.correction.word if final.autocorrect and final.correction else typed
    if keys is None and _shown(word, [s.word for s in final.suggestions]):
        keys = len(typed) + 1
    is_typo = typed != word
    right = contract.fold(left) == word
    result.typos += is_typo
    if contract.fold(left) != contract.fold(typed):
        result.changed += 1
        result.corrected += is_typo and right
        result.clean_changed += not is_typo
    result.wrong_after += not right
    if keys is None:
        keys = len(typed) + 1 + (0 if right else len(typed) + len(word) + 1)
    result.keys += keys
    if len(result.examples) < keep_examples and (is_typo or not right):
        result.examples.append(
            {"context": context[-60:], "intended": word, "typed": typed, "left": left}
        )


def _suggest(db, context: str, typed: str, points, board: Layout, k: int, threshold: int):
    """``db.suggest`` after ``context`` and the keystrokes ``typed``, with the touches of the
    characters the decoder reads as the word being typed (a mistyped joiner can split what
    was typed: ``'spose`` is the word ``spose``)."""
    text = context + typed
    if points is not None:
        prefix = contract.cursor(text).prefix
        points = (
            points[len(typed) - len(prefix) :] if prefix and len(prefix) <= len(typed) else None
        )
    return db.suggest(text, touches=points, layout=board, k=k, threshold=threshold)


def _shown(word: str, shown: list[str]) -> bool:
    return any(contract.fold(s) == word for s in shown)


def _words(text: str, order: int, limit: int | None) -> Iterator[tuple[str, str]]:
    """(text before the word, the word) for the first ``limit`` words of the text."""
    count = 0
    for sentence in iter_sentences(text):
        for i, word in enumerate(sentence):
            if limit is not None and count >= limit:
                return
            before = sentence[max(0, i - (order - 1)) : i]
            yield ("".join(w + " " for w in before) if before else ""), word
            count += 1
        # Each sentence starts afresh: its context is "" (the start of a sentence).


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"
