"""keyglide: on-device keyboard prediction.

    import keyglide

    with keyglide.open("en.langdb") as db:      # keyglide.open() opens the default English langdb
        db.predict("I would like to ", k=3)    # the next word: [Suggestion(word=..., score=...)]
        db.predict("see you tom")              # completes the word being typed
        db.perplexity("I would like to see you.")

Scores are fixed-point log10 probabilities (-12345 means 10 ** -1.2345). Every failure is
typed: ``LangDBError`` and its subclasses for files, ``BuildError`` for the builder.
"""

from __future__ import annotations

import copy
import operator
import os
from collections.abc import Sequence
from typing import Any

from keyglide._version import __version__
from keyglide.compat import degraded_here
from keyglide.convert import ConvertResult, convert
from keyglide.decoder import DEFAULT_THRESHOLD, Strip
from keyglide.engines import ENGINE_NAMES, MAX_K, Engine, Suggestion, create_engine
from keyglide.errors import (
    BuildError,
    ChecksumMismatch,
    CorruptLangDB,
    CorruptStore,
    DefaultLangDBUnavailable,
    EngineUnavailable,
    FeatureDropRefused,
    IncompatibleLangDB,
    InvalidName,
    InvalidText,
    KeyglideError,
    LangDBError,
    LayoutError,
    NeuralModelError,
    NoPreviousVersion,
    NotInstalled,
    StoreError,
    StoreReadError,
    StoreWriteError,
    TruncatedLangDB,
    UnsupportedVersion,
    VersionConflict,
)

# The function shadows its module as an attribute of the package: ``keyglide.evaluate(...)``;
# ``from keyglide.evaluate import ...`` still reaches the module.
from keyglide.evaluate import Evaluation, evaluate
from keyglide.format import Feature
from keyglide.keyboard import Layout, resolve
from keyglide.neural.rerank import attach
from keyglide.reader import LangDBFile
from keyglide.store import Store, StorePredictor, open_store

__all__ = [
    "__version__",
    "open",
    "LangDB",
    "Suggestion",
    "Strip",
    "Layout",
    "DEFAULT_THRESHOLD",
    "evaluate",
    "Evaluation",
    "MAX_K",
    "KeyglideError",
    "LangDBError",
    "CorruptLangDB",
    "TruncatedLangDB",
    "ChecksumMismatch",
    "UnsupportedVersion",
    "IncompatibleLangDB",
    "NeuralModelError",
    "BuildError",
    "FeatureDropRefused",
    "convert",
    "ConvertResult",
    "DefaultLangDBUnavailable",
    "EngineUnavailable",
    "Store",
    "StorePredictor",
    "open_store",
    "StoreError",
    "InvalidName",
    "NotInstalled",
    "NoPreviousVersion",
    "VersionConflict",
    "CorruptStore",
    "StoreWriteError",
    "StoreReadError",
    "InvalidText",
    "LayoutError",
]


def __dir__() -> list[str]:
    """The public names (``__all__``), not the modules this one imports for its own use."""
    return sorted(__all__)


def open(path: str | os.PathLike | None = None, *, engine: str = "auto") -> LangDB:
    """Open a langdb: the file at ``path``, or the default English langdb if ``path`` is None.

    ``engine`` is ``"auto"`` (the native kernel when it is installed, else the reference,
    with a warning that says why), ``"native"`` (raises ``EngineUnavailable`` without the
    kernel) or ``"reference"`` (the specification, in Python: slow). Opening checks the
    file's structure in O(1) of its size; ``verify()`` checks every byte.
    """
    _check_engine(engine)
    if path is None:
        from keyglide.default import default_langdb_path

        path = default_langdb_path()
    return LangDB(path, engine=engine)


class LangDB:
    """An open langdb and the engine that answers from it. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, engine: str = "auto") -> None:
        _check_engine(engine)
        self._path = os.fsdecode(path)
        self._file: LangDBFile | None = LangDBFile.open(path)
        try:
            base = create_engine(engine, self._file)
            # The reranker of format 1.3 runs with the engine: the numpy reference beside the
            # reference engine, onnxruntime beside the kernel (when it is installed).
            runtime = "reference" if base.name == "reference" else "onnxruntime"
            try:
                self._engine, self._neural_unavailable = attach(base, self._file, runtime)
            except BaseException:
                base.close()
                raise
        except BaseException:
            self._file.close()
            raise

    @property
    def path(self) -> str:
        return self._path

    @property
    def engine(self) -> str:
        """The name of the engine answering (``"auto"`` resolved)."""
        return self._live()[1].name

    @property
    def closed(self) -> bool:
        return self._file is None

    def predict(self, text: str, k: int = 3) -> list[Suggestion]:
        """The k best words for ``text``, the text before the cursor.

        A trailing space or sentence end asks for the next word; text ending inside a word
        completes it. Best first: score descending, ties by the word's UTF-8 bytes.
        """
        _, engine = self._live()
        return engine.predict(_check_text(text), _check_k(k))

    def suggest(
        self,
        text: str,
        *,
        touches: Sequence[tuple[float, float] | None] | None = None,
        layout: Layout | str | None = None,
        k: int = 3,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> Strip:
        """What a keyboard shows after a keystroke: the strip, and what a space would do.

        ``text`` is the text before the cursor. When it ends inside a word, the word is
        decoded as typed on ``layout`` (a ``Layout``, or ``"qwerty"`` (the default),
        ``"azerty"`` or ``"qwertz"``): the strip holds the k best completions of what the
        user probably meant, typos included (``tmorrow`` reaches ``tomorrow``), and
        ``correction`` is the best whole word to replace it with. ``autocorrect`` is True
        when that word is ``threshold`` score units (0.0001 of log10) or more likelier than
        the typed word itself: a space should then replace it. ``touches`` holds one
        ``(x, y)`` touch point (in the layout's coordinates) or None per character of the
        word being typed; without them, each character counts as typed at its key's centre.
        When the text ends after a word, the strip is ``predict(text, k)``.
        See ``keyglide.decoder`` for the model.
        """
        _, engine = self._live()
        return engine.suggest(
            _check_text(text), touches, resolve(layout), _check_k(k), _check_threshold(threshold)
        )

    def logprob(self, text: str) -> float:
        """log10 probability of ``text``: every token and one ``</s>`` per sentence."""
        _, engine = self._live()
        return engine.logprob(_check_text(text))

    def perplexity(self, text: str) -> float:
        """10 ** (-logprob / T), T the number of scored tokens; ValueError if T is 0."""
        _, engine = self._live()
        return engine.perplexity(_check_text(text))

    def verify(self) -> None:
        """Read every byte: checksums and invariants. Raises a ``LangDBError`` subclass."""
        file, _ = self._live()
        file.verify()

    @property
    def info(self) -> dict[str, Any]:
        """Format version, data version, language, engine, path and the full metadata.

        ``ignored_features`` is the mask of optional feature bits this SDK does not know and
        skipped: when it is not 0 the database is open *degraded* (it answers without them).
        """
        file, engine = self._live()
        return {
            "format": f"{file.header.major}.{file.header.minor}",
            "ignored_features": file.ignored_features,
            "data_version": file.meta.get("data_version"),
            "language": file.meta.get("language"),
            "engine": engine.name,
            # What runs the file's reranker (format 1.3): "onnxruntime", "reference" or None.
            "reranker": getattr(getattr(engine, "reranker", None), "runtime", None),
            "path": self._path,
            "metadata": copy.deepcopy(file.meta),
        }

    @property
    def compat(self) -> Any:
        """This SDK's verdict on the file (``keyglide.compat.Outcome``): ``status``
        (``"full"`` or ``"degraded"``), ``ignored_features`` (names), ``row`` (the matrix's
        release range), ``effects`` and ``message``. A reranker (format 1.3) that cannot run
        here (onnxruntime missing or too old) makes it degraded, with the reason."""
        file, _ = self._live()
        outcome = file.compat_outcome
        if self._neural_unavailable is None:
            return outcome
        why = f"the reranker is not applied: {self._neural_unavailable}"
        return degraded_here(outcome, "NEURAL", Feature.NEURAL, why)

    def close(self) -> None:
        """Release the file. Idempotent; any other use afterwards raises ValueError."""
        if self._file is None:
            return
        file, engine = self._file, self._engine
        self._file = self._engine = None
        engine.close()
        file.close()

    def __enter__(self) -> LangDB:
        self._live()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"engine={self.engine!r}"
        return f"<keyglide.LangDB {self._path!r} {state}>"

    def _live(self) -> tuple[LangDBFile, Engine]:
        if self._file is None or self._engine is None:
            raise ValueError(f"{self._path}: this LangDB is closed")
        return self._file, self._engine


def _check_engine(engine: str) -> None:
    if engine not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return text


# Beyond any confidence a langdb can give (scores are 32-bit): "never" or "always".
_MAX_THRESHOLD = 1 << 40


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise TypeError(f"threshold must be an int (score units), not {threshold!r}")
    if not -_MAX_THRESHOLD <= threshold <= _MAX_THRESHOLD:
        raise ValueError(f"threshold must lie in ±{_MAX_THRESHOLD}, not {threshold}")
    return int(threshold)


def _check_k(k: int) -> int:
    if type(k) is int and 0 <= k <= MAX_K:  # the common case, checked first: it is per keystroke
        return k
    try:
        value = operator.index(k)
    except TypeError:
        value = None
    if value is None or isinstance(k, bool) or not 0 <= value <= MAX_K:
        raise ValueError(f"k must be an integer from 0 to {MAX_K}, not {k!r}")
    return value
