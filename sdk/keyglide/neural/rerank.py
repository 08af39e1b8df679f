"""The reranker of format 1.3 (FORMAT.md section 11), applied to an engine's answers.

``RerankedEngine`` wraps an engine (reference or native) and a ``Reranker`` (the file's graph
with something to run it: the numpy reference or onnxruntime). A prediction takes the
engine's n-gram shortlist, feeds the graph the words around the cursor, and reorders the
shortlist by

    raw(c)    = ln(10) * (ngram(c) + weight * adjust(c))
    score'(c) = round(10000 * (log10(mass of the shortlist) + (raw(c) - logsumexp(raw)) / ln(10)))

Scoring a text applies the same to each token that is in the next-word shortlist at its
place, so perplexity measures the reranked model.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyglide import text as contract
from keyglide.engines import Engine, Suggestion
from keyglide.errors import NeuralModelError
from keyglide.format import BOS, SCORE_SCALE

INTERFACE = "keyglide-rerank-1"
LN10 = math.log(10.0)
# The inputs and output of the interface, with their ONNX element types (1 float, 7 int64).
INPUTS = {"context": 7, "history": 7, "typed": 7, "candidates": 7, "ngram": 1}
OUTPUTS = {"adjust": 1}
MAX_SHORTLIST = 256
_SPACE = re.compile(r"\s")
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.S)

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class NeuralInfo:
    """NEURAL_INFO, checked (FORMAT.md section 11)."""

    onnx_ir_version: int
    onnx_opset: int
    min_onnxruntime: str
    shortlist: int
    context_words: int
    history_words: int
    weight: float
    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> NeuralInfo:
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise NeuralModelError(f"NEURAL_INFO is not UTF-8 JSON ({e})") from None
        if not isinstance(raw, dict):
            raise NeuralModelError("NEURAL_INFO is not a JSON object")
        if raw.get("interface") != INTERFACE:
            raise NeuralModelError(
                f"NEURAL_INFO names the interface {raw.get('interface')!r}; this SDK runs "
                f"{INTERFACE!r}"
            )

        def integer(key: str, lo: int, hi: int) -> int:
            value = raw.get(key)
            if type(value) is not int or not lo <= value <= hi:
                raise NeuralModelError(f"NEURAL_INFO {key!r} must be an integer {lo}..{hi}")
            return value

        weight = raw.get("weight")
        if type(weight) not in (int, float) or not math.isfinite(weight):
            raise NeuralModelError("NEURAL_INFO 'weight' must be a finite number")
        minimum = raw.get("min_onnxruntime")
        if not isinstance(minimum, str) or not _is_version(minimum):
            raise NeuralModelError("NEURAL_INFO 'min_onnxruntime' must be a version string")
        return cls(
            onnx_ir_version=integer("onnx_ir_version", 3, 1000),
            onnx_opset=integer("onnx_opset", 1, 1000),
            min_onnxruntime=minimum,
            shortlist=integer("shortlist", 1, MAX_SHORTLIST),
            context_words=integer("context_words", 1, 1024),
            history_words=integer("history_words", 1, 65536),
            weight=float(weight),
            raw=raw,
        )


def _is_version(value: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        Version(value)
    except InvalidVersion:
        return False
    return True


class Reranker:
    """A file's graph, checked, with what runs it: ``"reference"`` (numpy) or
    ``"onnxruntime"``."""

    def __init__(self, info: NeuralInfo, onnx: bytes, runner: Runner, runtime: str) -> None:
        self.info, self.onnx, self._runner, self.runtime = info, onnx, runner, runtime

    @classmethod
    def load(cls, sections: tuple[bytes, bytes], runtime: str) -> Reranker:
        """Check NEURAL_INFO and the graph's interface, and prepare ``runtime``. Raises
        ``NeuralModelError`` for a bad section, ``RuntimeUnavailable`` when onnxruntime
        cannot run it here."""
        from keyglide.neural import proto, reference

        info = NeuralInfo.parse(sections[0])
        model = proto.decode(sections[1])
        check_interface(model, info)
        reference.check(model)
        if runtime == "reference":
            return cls(
                info, sections[1], lambda feeds: reference.run(model, feeds)["adjust"], "reference"
            )
        from keyglide.neural import runtime as ort

        reason = ort.check_onnxruntime(info.min_onnxruntime)
        if reason is not None:
            raise RuntimeUnavailable(reason)
        session = ort.Session(sections[1])
        return cls(info, sections[1], lambda feeds: session.run(feeds)["adjust"], "onnxruntime")

    def adjust(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        out = np.asarray(self._runner(feeds))
        expected = feeds["candidates"].shape
        if out.shape != expected or out.dtype != np.float32:
            raise NeuralModelError(
                f"the reranker's output 'adjust' is {out.dtype}{list(out.shape)}, not "
                f"float32{list(expected)}"
            )
        return out[0].astype(np.float64)


class RuntimeUnavailable(Exception):
    """onnxruntime is not installed here, or older than the file asks for."""


def check_interface(model: Any, info: NeuralInfo) -> None:
    """The graph's inputs and outputs are exactly those of ``keyglide-rerank-1``."""
    inputs = {v.name: v.elem_type for v in model.graph.inputs}
    outputs = {v.name: v.elem_type for v in model.graph.outputs}
    if inputs != INPUTS or outputs != OUTPUTS:
        raise NeuralModelError(
            f"the graph's inputs {inputs} and outputs {outputs} are not those of {INTERFACE} "
            f"({INPUTS} and {OUTPUTS})"
        )
    if model.ir_version != info.onnx_ir_version or model.opset() != info.onnx_opset:
        raise NeuralModelError(
            f"the graph has IR version {model.ir_version} and opset {model.opset()}; "
            f"NEURAL_INFO says {info.onnx_ir_version} and {info.onnx_opset}"
        )


class RerankedEngine(Engine):
    """An engine whose answers a ``Reranker`` reorders (FORMAT.md section 11)."""

    def __init__(
        self, base: Engine, reranker: Reranker, vocab_size: int, order: int, lookup
    ) -> None:
        self.name = base.name
        self.base, self.reranker = base, reranker
        self._vocab_size = vocab_size
        # Words of the sentence before the cursor that anything reads, and one more for the
        # word being typed.
        self._tail_words = max(reranker.info.context_words, order - 1) + 1
        self._lookup = lookup  # folded word -> id (UNK when absent)
        self._ids: dict[str, int] = {}
        # Per thread, the history of the previous call: a keyboard's text grows a letter at a
        # time, so the tokens up to its last space are kept and only what follows is read.
        self._cache = threading.local()
        # The contract's tokenizer: the kernel's when the kernel answers (much faster).
        if base.name == "native":
            from keyglide.engines import native

            self._cursor = native.cursor
            self._tokens = lambda text: [w for s in native.sentences(text) for w in s]
        else:
            self._cursor = contract.cursor
            self._tokens = lambda text: [w for s in contract.sentences(text) for w in s]

    # --- prediction ------------------------------------------------------------------

    def predict(self, text: str, k: int) -> list[Suggestion]:
        return [Suggestion(self.base.display(i), s) for i, s in self.candidates(text, k)]

    def candidates(self, text: str, k: int) -> list[tuple[int, int]]:
        if k == 0:
            return []
        size = self.reranker.info.shortlist
        # The n-gram model reads the last N-1 words of the sentence and the graph the last
        # C: a tail of the text that holds more words than both reads the same.
        tail = text[self._tail_start(text, self._tail_words) :]
        found = self.base.candidates(tail, max(k, size))
        shortlist, rest = found[:size], found[size:]
        if not shortlist:  # a prefix no word starts with
            return []
        cursor = self._cursor(tail)
        sentence = [self._id(w) for w in cursor.context]
        history = self._history(text, cursor.prefix is not None)
        typed = len(cursor.prefix) if cursor.prefix is not None else 0
        reranked = self._rerank(shortlist, sentence, history, typed)
        return (reranked + rest)[:k]

    def predict_ids(self, data: bytes, k: int) -> list[int]:
        """The word ids ``predict`` suggests (for the evaluation)."""
        return [i for i, _ in self.candidates(data.decode("utf-8", errors="replace"), k)]

    def _history(self, text: str, typing: bool) -> list[int]:
        """The ids of the last H tokens of ``text`` before the word being typed."""
        count = self.reranker.info.history_words
        cache = self._cache
        settled_text = getattr(cache, "text", "")
        if settled_text and text.startswith(settled_text):
            start, ids = len(settled_text), list(cache.ids)
        else:
            start, ids = self._tail_start(text, count), []
        last_space = _UP_TO_LAST_SPACE.match(text, start)
        settled = last_space.end() if last_space else start
        ids = (ids + self._ids_between(text, start, settled))[-count:]
        cache.text, cache.ids = text[:settled], ids
        rest = self._ids_between(text, settled, len(text))
        if typing and rest:
            rest.pop()  # the word being typed is not history
        return (ids + rest)[-count:]

    def _ids_between(self, text: str, start: int, end: int) -> list[int]:
        """The ids of the tokens of text[start:end], which must begin and end at a space (or
        the text's ends), where a token cannot continue."""
        return [self._id(word) for word in self._tokens(text[start:end])]

    def _tail_start(self, text: str, count: int) -> int:
        """A position just after a space from which the text still holds more than
        ``count`` tokens (0: the whole text), so that the last ``count`` are read without
        the rest."""
        length = 16 * (count + 2)
        while length < len(text):
            space = _SPACE.search(text, len(text) - length)
            if space and len(self._tokens(text[space.end() :])) > count + 1:
                return space.end()
            length *= 2
        return 0

    def _rerank(
        self,
        shortlist: list[tuple[int, int]],
        sentence: list[int],
        history: list[int],
        typed: int,
    ) -> list[tuple[int, int]]:
        scores = rerank_scores(self.reranker, shortlist, sentence, history, typed, self._vocab_size)
        order = sorted(range(len(shortlist)), key=lambda j: (-scores[j], shortlist[j][0]))
        return [(shortlist[j][0], scores[j]) for j in order]

    def display(self, word_id: int) -> str:
        return self.base.display(word_id)

    # --- scoring -----------------------------------------------------------------------

    def score_sum(self, text: str) -> tuple[int, int]:
        total, tokens = self.base.score_sum(text)
        size = self.reranker.info.shortlist
        history: list[int] = []
        for sentence in contract.sentences(text):
            ids = [self._id(w) for w in sentence]
            for i, word in enumerate(ids):
                if word < 3:  # <unk> is never in a shortlist
                    history.append(word)
                    continue
                shortlist = self.base.candidates(" ".join(sentence[:i]) + " ", size)
                position = next((j for j, (c, _) in enumerate(shortlist) if c == word), None)
                if position is not None:
                    scores = rerank_scores(
                        self.reranker,
                        shortlist,
                        ids[:i],
                        history[-self.reranker.info.history_words :],
                        0,
                        self._vocab_size,
                    )
                    total += scores[position] - shortlist[position][1]
                history.append(word)
        return total, tokens

    def close(self) -> None:
        self.base.close()

    def _id(self, word: str) -> int:
        known = self._ids.get(word)
        if known is None:
            if len(self._ids) > 100_000:
                self._ids.clear()
            known = self._ids[word] = self._lookup(word)
        return known


def rerank_scores(
    reranker: Reranker,
    shortlist: Sequence[tuple[int, int]],
    sentence: list[int],
    history: list[int],
    typed: int,
    vocab_size: int,
) -> list[int]:
    """score' of every shortlist entry (FORMAT.md section 11), in shortlist order."""
    info = reranker.info
    context = [BOS, *sentence][-info.context_words :]
    context = [vocab_size] * (info.context_words - len(context)) + context
    recent = history[-info.history_words :]
    recent = [vocab_size] * (info.history_words - len(recent)) + recent
    ngram = np.array([s for _, s in shortlist], dtype=np.int64)
    feeds = {
        "context": np.array([context], dtype=np.int64),
        "history": np.array([recent], dtype=np.int64),
        "typed": np.array([typed], dtype=np.int64),
        "candidates": np.array([[c for c, _ in shortlist]], dtype=np.int64),
        "ngram": (ngram / SCORE_SCALE).astype(np.float32)[None, :],
    }
    adjust = reranker.adjust(feeds)
    raw = LN10 * (ngram / SCORE_SCALE + info.weight * adjust)
    log_mass = _logsumexp(LN10 * ngram / SCORE_SCALE) / LN10
    final = log_mass + (raw - _logsumexp(raw)) / LN10
    return [int(v) for v in np.rint(final * SCORE_SCALE)]


def _logsumexp(values: np.ndarray) -> float:
    top = float(np.max(values))
    return top + math.log(float(np.sum(np.exp(values - top))))


def attach(engine: Engine, file: Any, runtime: str) -> tuple[Engine, str | None]:
    """``engine`` wrapped by the file's reranker when it has one that can run here, and the
    reason it is not when it cannot (None when it runs or the file has none)."""
    sections = file.neural
    if sections is None:
        return engine, None
    try:
        reranker = Reranker.load(sections, runtime)
    except RuntimeUnavailable as e:
        return engine, str(e)
    lookup = file.lookup
    return RerankedEngine(engine, reranker, file.vocab_size, file.order, lookup), None
