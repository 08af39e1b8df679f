"""The reranker of format 1.3 (FORMAT.md section 11), applied to an engine's answers.

``RerankedEngine`` wraps an engine (reference or native) and a ``Reranker`` (the file's graph
with something to run it: the numpy reference or onnxruntime). A prediction takes the
engine's n-gram shortlist, feeds the graph the words around the cursor, and reorders the
shortlist by

    raw(c)    = ln(10) * (ngram(c) + weight * adjust(c))
    score'(c) = round(10000 * (log10(mass of the shortlist) + (raw(c) - logsumexp(raw)) / ln(10)))

Scoring a text applies the same to each token that is in the next-word shortlist at its
place, so perplexity measures the reranked model.

A run of the graph in which a NaN reaches an operator that runtimes treat differently
(``NAN_SENSITIVE``), or whose ``adjust`` is not finite, is not applied: that shortlist keeps
its n-gram scores and order, in both runtimes. A reranked score is at least -990000 (log10
-99).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyglide import text as contract
from keyglide.decoder import Strip
from keyglide.engines import ContextIds, Engine, Suggestion
from keyglide.errors import NeuralModelError
from keyglide.format import BOS, FIRST_WORD_ID, SCORE_NEVER, SCORE_SCALE

INTERFACE = "keyglide-rerank-1"
LN10 = math.log(10.0)
# The inputs and output of the interface, with their ONNX element types (1 float, 7 int64).
INPUTS = {"context": 7, "history": 7, "typed": 7, "candidates": 7, "ngram": 1}
OUTPUTS = {"adjust": 1}
MAX_SHORTLIST = 256
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.S)

# The range of a reranked score: from ARPA's log10 probability -99 (a probability of zero,
# the score of "<s>") to the largest int32 (the kernel's scores are int32).
SCORE_MIN, SCORE_MAX = SCORE_NEVER, (1 << 31) - 1

# The operators whose result on a NaN is not the same in every runtime: numpy's maximum keeps
# a NaN that onnxruntime's ReduceMax, Relu and Clip may drop, and a NaN cast to an integer is
# undefined. Every other operator keyglide runs carries a NaN to its output as IEEE
# arithmetic does, or drops it the same way everywhere (Equal, Where, Gather), so a run is
# checked for NaN at the float inputs of these and nowhere else but ``adjust``.
NAN_SENSITIVE = frozenset({"ReduceMax", "Relu", "Clip", "Cast"})

# A runner returns the graph's ``adjust`` and whether any node made a NaN.
Runner = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, bool]]


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
        interface = raw.get("interface")
        if not isinstance(interface, str):
            raise NeuralModelError("NEURAL_INFO 'interface' must be a string")
        if interface != INTERFACE:
            # A later interface: the file is sound, this SDK cannot run its graph.
            raise RuntimeUnavailable(
                f"the reranker has the interface {interface!r}; this keyglide runs "
                f"{INTERFACE!r} (a newer keyglide may run it)"
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
        ``NeuralModelError`` for a bad section, ``RuntimeUnavailable`` when the graph cannot
        run here (another interface, onnxruntime missing or too old)."""
        from keyglide.neural import proto, reference

        info = NeuralInfo.parse(sections[0])
        model = proto.decode(sections[1])
        check_interface(model, info)
        reference.check(model)
        watched = check_sizes(model, info)
        if runtime == "reference":

            def run_reference(feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, bool]:
                made: dict[str, np.ndarray] = {}
                adjust = reference.run(model, feeds, made)["adjust"]
                return adjust, _holds_nan(made[name] for name in watched)

            return cls(info, sections[1], run_reference, "reference")
        from keyglide.neural import runtime as ort

        reason = ort.check_onnxruntime(info.min_onnxruntime)
        if reason is not None:
            raise RuntimeUnavailable(reason)
        # The graph was checked above, and the feeds are made here to the interface. The
        # watched tensors are outputs too, so that onnxruntime's run is checked where the
        # reference's is.
        session = ort.Session(_with_outputs(model, watched), check=False)

        def run_onnxruntime(feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, bool]:
            outputs = session.run(feeds)
            return outputs["adjust"], _holds_nan(outputs[name] for name in watched)

        return cls(info, sections[1], run_onnxruntime, "onnxruntime")

    def adjust(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        """The graph's ``adjust`` for ``feeds``, as float64, or None when a NaN reached a
        ``NAN_SENSITIVE`` operator or ``adjust`` is not finite (FORMAT.md section 11: the run
        is not applied)."""
        out, nan = self._runner(feeds)
        out = np.asarray(out)
        expected = feeds["candidates"].shape
        if out.shape != expected or out.dtype != np.float32:
            raise NeuralModelError(
                f"the reranker's output 'adjust' is {out.dtype}{list(out.shape)}, not "
                f"float32{list(expected)}"
            )
        if nan or not np.isfinite(out).all():
            return None
        return out[0].astype(np.float64)


def _holds_nan(values: Iterable[np.ndarray]) -> bool:
    """Whether any of the float tensors holds a NaN."""
    return any(np.isnan(v).any() for v in values)


def _nan_watched(model: Any, made: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The float32 tensors that nodes make (``made``, by a run of the reference: a node's
    element type does not change with the feeds) and a ``NAN_SENSITIVE`` node reads. Graph
    inputs and initializers are finite (the feeds are made so, weights are checked)."""
    read = {
        name for node in model.graph.nodes if node.op_type in NAN_SENSITIVE for name in node.inputs
    }
    return tuple(name for name, value in made.items() if name in read and value.dtype == np.float32)


def _with_outputs(model: Any, names: tuple[str, ...]) -> Any:
    """``model`` with the tensors ``names`` also outputs (float32, as ``_nan_watched`` found)."""
    from keyglide.neural.proto import DataType, ValueInfo

    graph = model.graph
    declared = {v.name for v in graph.outputs}
    extra = tuple(ValueInfo(name, DataType.FLOAT, None) for name in names if name not in declared)
    return dataclasses.replace(
        model, graph=dataclasses.replace(graph, outputs=graph.outputs + extra)
    )


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


# The inputs that give shapes or axes. A reranker's are constants, so that the size of every
# tensor follows from the shortlist's length alone.
_SHAPE_INPUTS = {"Reshape": 1, "Unsqueeze": 1, "Squeeze": 1, "ReduceSum": 1}


def check_sizes(model: Any, info: NeuralInfo) -> tuple[str, ...]:
    """The graph makes no tensor larger than ``reference.MAX_ELEMENTS`` on any input, or
    ``RuntimeUnavailable``: an onnxruntime session, unlike the reference, does not ask
    before it allocates, so keyglide does not run such a graph (the file is not damaged:
    it is read without its reranker). A graph that fails on the inputs, or whose run on
    them would not be applied (a NaN read by a ``NAN_SENSITIVE`` node, an ``adjust`` that
    is not finite), is ``NeuralModelError``. Returns the tensors a run checks for NaN
    (``_nan_watched``).

    With constant shapes and axes, a tensor's size grows with the shortlist's length L and
    nothing else the inputs hold, so one run of the reference, which checks every node's
    size before computing it, with L at its largest (S) bounds every run."""
    from keyglide.neural import reference

    constants = {t.name for t in model.graph.initializers} - {v.name for v in model.graph.inputs}
    for node in model.graph.nodes:
        position = _SHAPE_INPUTS.get(node.op_type)
        if position is None or len(node.inputs) <= position or not node.inputs[position]:
            continue
        if node.inputs[position] not in constants:
            raise RuntimeUnavailable(
                f"the reranker's {node.op_type} node {node.name!r} takes its shape or axes "
                f"from {node.inputs[position]!r}, which is computed; keyglide runs graphs "
                "whose shapes and axes are initializers"
            )
    size = info.shortlist
    longest = {
        "context": np.zeros((1, info.context_words), dtype=np.int64),
        "history": np.zeros((1, info.history_words), dtype=np.int64),
        "typed": np.zeros(1, dtype=np.int64),
        "candidates": np.full((1, size), FIRST_WORD_ID, dtype=np.int64),
        "ngram": np.full((1, size), -1, dtype=np.float32),
    }
    made: dict[str, np.ndarray] = {}
    try:
        adjust = reference.run(model, longest, made)["adjust"]
    except reference.TensorTooLarge as e:
        raise RuntimeUnavailable(f"the reranker is too large to run: {e}") from None
    watched = _nan_watched(model, made)
    if _holds_nan(made[name] for name in watched) or not np.isfinite(adjust).all():
        raise NeuralModelError(
            "the reranker's run on the longest shortlist with an empty history is not "
            "finite (a NaN where runtimes differ, or in 'adjust')"
        )
    return watched


class RerankedEngine(Engine):
    """An engine whose answers a ``Reranker`` reorders (FORMAT.md section 11)."""

    def __init__(
        self, base: Engine, reranker: Reranker, vocab_size: int, order: int, lookup
    ) -> None:
        self.name = base.name
        self.base, self.reranker = base, reranker
        self._vocab_size = vocab_size
        self._order = order
        # The n-gram model reads N-1 words of the sentence and the graph C: a tail of the text
        # with more tokens than both (and the word being typed) reads the same.
        self._tail_tokens = max(order, reranker.info.context_words + 1)
        self._lookup = lookup  # folded word -> id (UNK when absent)
        self._ids: dict[str, int] = {}
        # Per thread, the history read by the previous call: a keyboard's text grows a letter
        # at a time, so the ids up to its last space are kept and only what follows is read.
        self._cache = threading.local()
        if base.name == "native":
            from keyglide.engines import native

            self._encode: Callable[[str], Any] = native.encode
            self._candidate_array: Callable[[Any, int], np.ndarray] = base.candidate_array
        else:
            self._encode = lambda text: text
            self._candidate_array = lambda text, k: _pairs(base.candidates(text, k))

    # --- prediction ------------------------------------------------------------------

    def predict(self, text: str, k: int) -> list[Suggestion]:
        return [Suggestion(self.base.display(i), s) for i, s in self.candidates(text, k)]

    def suggest(self, text, touches, layout, k, threshold):
        # The next word is the reranker's; a word being typed is decoded by the base engine,
        # which weighs keystrokes against the n-gram scores. Asking which first spares the
        # next word an n-gram ranking that the reranker would replace.
        if self.base.context_ids(text, 0, 0).typed == 0:
            return Strip(None, self.predict(text, k), None, None, False)
        return self.base.suggest(text, touches, layout, k, threshold)

    def candidates(self, text: str, k: int) -> list[tuple[int, int]]:
        if k == 0:
            return []
        info = self.reranker.info
        settled, asked = self._settle(text)
        if asked is None:
            # Both questions are asked of a tail (encoded once for the kernel): the whole
            # text of a long document would cost more to encode than to answer.
            asked = self._encode(text[self._cache.tail_start :])
        found = self._candidate_array(asked, max(k, info.shortlist))
        shortlist, rest = found[: info.shortlist], found[info.shortlist :]
        if not len(shortlist):  # a prefix no word starts with
            return []
        # The sentence's last C words (fewer: "<s>" comes first) and the word being typed.
        around = self.base.context_ids(asked, 0, info.context_words)
        history = self._history(text, settled, around.typed)
        scores = rerank_scores(
            self.reranker, shortlist, around.sentence, history, around.typed, self._vocab_size
        )
        ids = shortlist[:, 0]
        order = np.lexsort((ids, -scores))[:k]  # ties by word id (FORMAT.md section 7)
        reranked = list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))
        if len(reranked) < k:
            reranked += [(int(i), int(s)) for i, s in rest[: k - len(reranked)]]
        return reranked

    def predict_ids(self, data: bytes, k: int) -> list[int]:
        """The word ids ``predict`` suggests (for the evaluation)."""
        return [i for i, _ in self.candidates(data.decode("utf-8", errors="replace"), k)]

    def _settle(self, text: str) -> tuple[int, Any]:
        """Read the history up to the text's last space into this thread's cache, and return
        where that is, with the whole text encoded when it had to be encoded (else None).
        A keyboard's text grows a letter at a time: only what follows the previous call's
        last space is read. The cache also keeps where tails may start (``tail_start``):
        just after a space, with more than ``_tail_tokens`` tokens after."""
        count = self.reranker.info.history_words
        cache = self._cache
        settled_text = getattr(cache, "text", None)
        hit = settled_text is not None and text.startswith(settled_text)
        start = len(settled_text) if hit else 0
        last_space = _UP_TO_LAST_SPACE.match(text, start)
        settled = last_space.end() if last_space else start
        data = None
        if hit and settled == start:
            return settled, data
        if hit:
            # Read from just after a space to just after one: the same tokens as in the text.
            new = self.base.context_ids(text[start:settled], count, 0).history
            cache.ids = np.concatenate([cache.ids, new])[-count:]
            # Where a tail may start, with the tokens before it (at most count are counted
            # in a fragment: an undercount, which only keeps the tail longer).
            cache.marks.append((start, cache.tokens))
            cache.tokens += len(new)
        else:
            # Encoded once, for this and for the caller: the settled part is a prefix of it.
            data = self._encode(text)
            cut = len(data) - len(self._encode(text[settled:]))
            cache.ids = self.base.context_ids(data[:cut], count, 0).history
            cache.marks, cache.tokens = [(0, 0)], 0  # the whole text: always a valid tail
        cache.feed = history_feed(cache.ids, count, self._vocab_size)
        cache.text = text[:settled]
        marks = cache.marks
        while len(marks) > 1 and cache.tokens - marks[1][1] > self._tail_tokens:
            del marks[0]
        cache.tail_start = marks[0][0]
        return settled, data

    def _history(self, text: str, settled: int, typed: int) -> np.ndarray:
        """The feed ``history``: the ids of the last H tokens of ``text`` before the word
        being typed (``typed`` code points long; 0: none), ``_settle`` having read them up
        to ``settled``."""
        cache = self._cache
        rest = text[settled:]
        if not rest or (typed and rest.isascii() and rest.isalnum()):
            return cache.feed  # nothing after the last space, or only the word being typed
        count = self.reranker.info.history_words
        more = self.base.context_ids(rest, count, 0).history
        if not len(more):
            return cache.feed
        return history_feed(np.concatenate([cache.ids, more]), count, self._vocab_size)

    def display(self, word_id: int) -> str:
        return self.base.display(word_id)

    def context_ids(self, text: str, history: int, sentence: int) -> ContextIds:
        return self.base.context_ids(text, history, sentence)

    # --- scoring -----------------------------------------------------------------------

    def score_sum(self, text: str) -> tuple[int, int]:
        """The engine's sum, with each token in its scoring shortlist rescored. Each token
        costs the same whatever its place: the n-gram model reads the last N-1 words of
        the sentence and the graph the last C, so only those are asked about."""
        total, tokens = self.base.score_sum(text)
        info = self.reranker.info
        size, count, words = info.shortlist, info.history_words, info.context_words
        history: list[int] = []
        for sentence in contract.sentences(text):
            ids = [self._id(w) for w in sentence]
            for i, word in enumerate(ids):
                if word < 3:  # <unk> is never in a shortlist
                    history.append(word)
                    continue
                # "<s>" and the sentence's last N-1 words: its tokens, spaced, read back the
                # same, and the engine puts "<s>" first when the sentence is shorter.
                asked = " ".join(sentence[max(0, i - self._order + 1) : i]) + " "
                shortlist = _pairs(self.base.candidates(asked, size))
                where = np.flatnonzero(shortlist[:, 0] == word)
                if len(where):
                    feed = history_feed(history[-count:], count, self._vocab_size)
                    sentence_ids = ids[max(0, i - words) : i]
                    scores = rerank_scores(
                        self.reranker, shortlist, sentence_ids, feed, 0, self._vocab_size
                    )
                    total += int(scores[where[0]] - shortlist[where[0], 1])
                history.append(word)
                if len(history) > 2 * count:
                    del history[:-count]
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


def history_feed(history: Sequence[int] | np.ndarray, count: int, vocab_size: int) -> np.ndarray:
    """The feed ``history`` for the ids of the tokens before the cursor: the last ``count``,
    after as many ``vocab_size`` (no word) as they fall short of ``count``."""
    recent = np.asarray(history, dtype=np.int64)[-count:]  # count >= 1 (NeuralInfo)
    feed = np.full((1, count), vocab_size, dtype=np.int64)
    feed[0, count - len(recent) :] = recent
    return feed


def _pairs(candidates: list[tuple[int, int]]) -> np.ndarray:
    """(word id, score) pairs as an int64 array of shape [n, 2]."""
    return np.array(candidates, dtype=np.int64).reshape(-1, 2)


def rerank_scores(
    reranker: Reranker,
    shortlist: np.ndarray,
    sentence: list[int],
    history: np.ndarray,
    typed: int,
    vocab_size: int,
) -> np.ndarray:
    """score' of every shortlist entry (FORMAT.md section 11), in shortlist order: for the
    shortlist as (word id, n-gram score) rows, the words of the sentence before the cursor
    and the feed ``history`` (``history_feed``)."""
    info = reranker.info
    context = [BOS, *sentence][-info.context_words :]
    context = [vocab_size] * (info.context_words - len(context)) + context
    ngram = shortlist[:, 1] / SCORE_SCALE
    feeds = {
        "context": np.array([context], dtype=np.int64),
        "history": history,
        "typed": np.array([typed], dtype=np.int64),
        "candidates": shortlist[None, :, 0].copy(),
        "ngram": ngram.astype(np.float32)[None, :],
    }
    adjust = reranker.adjust(feeds)
    if adjust is None:
        return shortlist[:, 1].copy()  # a run that made a NaN is not applied
    with np.errstate(all="ignore"):
        raw = LN10 * (ngram + info.weight * adjust)
        if not np.isfinite(raw).all():  # weight * adjust beyond float64
            return shortlist[:, 1].copy()
        log_mass = _logsumexp(LN10 * ngram) / LN10
        final = log_mass + (raw - _logsumexp(raw)) / LN10
        return np.clip(np.rint(final * SCORE_SCALE), SCORE_MIN, SCORE_MAX).astype(np.int64)


def _logsumexp(values: np.ndarray) -> float:
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()))


def check_sections(sections: tuple[bytes, bytes] | None) -> None:
    """Raise ``NeuralModelError`` when a file's reranker (``LangDBFile.neural``) is damaged:
    when every engine would refuse to open the file (FORMAT.md section 11). A reranker that
    cannot run here (another interface, a graph too large) is not damage: the file opens
    without it. Runs the reference once; onnxruntime is not needed."""
    if sections is None:
        return
    try:
        Reranker.load(sections, "reference")
    except RuntimeUnavailable:
        pass


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
